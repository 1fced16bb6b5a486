// Runs one trainer as a child process: its stdout (the event stream) is read line by line
// on a thread, its stderr goes to a file whose last lines explain a failure.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gansweep {

struct LaunchSpec {
  std::vector<std::string> argv;              // argv[0] is looked up in PATH
  std::map<std::string, std::string> env;     // set on top of this process's environment
  std::string stderr_path;                    // truncated, then written by the child
};

class ChildProcess {
 public:
  // Throws std::runtime_error when the process cannot be started.
  static std::unique_ptr<ChildProcess> start(const LaunchSpec& spec);
  ~ChildProcess();  // kills and reaps a child still running

  pid_t pid() const { return pid_; }
  // The complete stdout lines read since the last call.
  std::vector<std::string> take_lines();
  // The exit code once the child has ended (128 + signal when killed), after every line
  // of its stdout has been read; nothing while it runs.
  std::optional<int> poll();
  void signal(int sig);

 private:
  ChildProcess() = default;
  void read_stdout(int fd);

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::thread reader_;
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

// The last `count` lines of a text file (fewer when it is shorter; none when it is missing).
std::vector<std::string> last_lines(const std::string& path, size_t count);

// Why a trainer ended with `exit_code` without a failed event, from the end of its stderr:
// mpirun's report of a rank that died ("process rank 1 ... exited on signal 9") names
// the rank; otherwise the exit code or signal.
std::string reason_without_event(int exit_code, const std::vector<std::string>& stderr_tail);

}  // namespace gansweep
