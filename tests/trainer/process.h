// The trainer binary as the worker runs it, for the process tests: a real process (or
// mpirun and its ranks), events on its stdout.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace gansweep {

struct Process {
  pid_t pid = -1;
  int out = -1;
  std::string text;

  explicit Process(const std::vector<std::string>& args) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    out = fds[0];
  }
  bool read_until(const std::string& needle) {
    char buf[4096];
    while (text.find(needle) == std::string::npos) {
      const ssize_t n = read(out, buf, sizeof buf);
      if (n <= 0) return false;
      text.append(buf, size_t(n));
    }
    return true;
  }
  int wait() {
    read_until("\x01never");
    close(out);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

inline std::string write_job(const nlohmann::json& j, const std::string& dir) {
  const std::string path = dir + "/job.json";
  std::ofstream(path) << j.dump(2);
  return path;
}

}  // namespace gansweep
