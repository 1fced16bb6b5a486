#include "worker/launcher.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <utility>

extern char** environ;

namespace gansweep {

std::unique_ptr<ChildProcess> ChildProcess::start(const LaunchSpec& spec) {
  if (spec.argv.empty()) throw std::runtime_error("nothing to launch");
  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (!spec.env.count(name)) env_strings.push_back(entry);
  }
  for (const auto& [name, value] : spec.env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  const int err = ::open(spec.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (err < 0) throw std::runtime_error("cannot write " + spec.stderr_path + ": " + std::strerror(errno));
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(err);
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(err), ::close(out[0]), ::close(out[1]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // A trainer never outlives its worker: a killed worker's job runs again elsewhere.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::execvpe(argv[0], argv.data(), envp.data());
    const char* message = "cannot execute the trainer\n";
    (void)!::write(STDERR_FILENO, message, std::strlen(message));
    ::_exit(127);
  }
  ::close(err);
  ::close(out[1]);
  std::unique_ptr<ChildProcess> child(new ChildProcess);
  child->pid_ = pid;
  child->reader_ = std::thread([c = child.get(), fd = out[0]] { c->read_stdout(fd); });
  return child;
}

void ChildProcess::read_stdout(int fd) {
  std::string partial;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buffer, size_t(n));
    size_t newline;
    while ((newline = partial.find('\n')) != std::string::npos) {
      std::lock_guard lock(mutex_);
      lines_.push_back(partial.substr(0, newline));
      partial.erase(0, newline + 1);
    }
  }
  if (!partial.empty()) {
    std::lock_guard lock(mutex_);
    lines_.push_back(partial);
  }
  ::close(fd);
}

std::vector<std::string> ChildProcess::take_lines() {
  std::lock_guard lock(mutex_);
  return std::exchange(lines_, {});
}

std::optional<int> ChildProcess::poll() {
  if (exit_code_) return exit_code_;
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done != pid_) return std::nullopt;
  // The pipe closes when the last process holding it ends; then every line has been read.
  if (reader_.joinable()) reader_.join();
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

void ChildProcess::signal(int sig) {
  if (!exit_code_) ::kill(pid_, sig);
}

ChildProcess::~ChildProcess() {
  if (!exit_code_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (reader_.joinable()) reader_.join();
}

std::vector<std::string> last_lines(const std::string& path, size_t count) {
  std::ifstream in(path);
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(line);
    if (tail.size() > count) tail.pop_front();
  }
  return {tail.begin(), tail.end()};
}

std::string reason_without_event(int exit_code, const std::vector<std::string>& stderr_tail) {
  // Open MPI: "mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 (Killed)."
  static const std::regex died(R"(process rank (\d+) with PID \d+ on node (\S+) exited on signal (\d+)( \(([^)]*)\))?)");
  for (const auto& line : stderr_tail) {
    std::smatch m;
    if (std::regex_search(line, m, died)) {
      std::string reason = "rank " + m[1].str() + " (on " + m[2].str() + ") exited on signal " + m[3].str();
      if (m[5].matched) reason += " (" + m[5].str() + ")";
      return reason + "; mpirun ended the other ranks";
    }
  }
  if (exit_code > 128) return "the trainer was killed by signal " + std::to_string(exit_code - 128) + " without a failed event";
  return "the trainer exited with code " + std::to_string(exit_code) + " without a failed event";
}

}  // namespace gansweep
