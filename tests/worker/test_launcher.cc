// The launcher with /bin/sh standing in for a trainer: stdout lines, exit codes, signals,
// the environment each job gets, and the stderr lines a failure is reported with.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "worker/launcher.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;

class LauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gansweep-launcher-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  LaunchSpec shell(const std::string& script) {
    LaunchSpec spec;
    spec.argv = {"sh", "-c", script};
    spec.stderr_path = (dir_ / "stderr.log").string();
    return spec;
  }
  // Polls until the child ends; fails the test after 10 s.
  int wait(ChildProcess& child, std::vector<std::string>* lines = nullptr) {
    for (int i = 0; i < 1000; ++i) {
      if (lines)
        for (auto& line : child.take_lines()) lines->push_back(line);
      if (auto code = child.poll()) {
        if (lines)
          for (auto& line : child.take_lines()) lines->push_back(line);
        return *code;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "child did not end";
    return -1;
  }

  fs::path dir_;
};

TEST_F(LauncherTest, EveryStdoutLineArrivesInOrderWithTheExitCode) {
  auto child = ChildProcess::start(shell("for i in 1 2 3; do echo line$i; done; printf tail; exit 4"));
  std::vector<std::string> lines;
  EXPECT_EQ(wait(*child, &lines), 4);
  EXPECT_EQ(lines, (std::vector<std::string>{"line1", "line2", "line3", "tail"}));
}

TEST_F(LauncherTest, TheJobSeesOnlyItsDevices) {
  LaunchSpec spec = shell("echo \"[$CUDA_VISIBLE_DEVICES]\"; echo \"$HOME\"");
  spec.env["CUDA_VISIBLE_DEVICES"] = "2,3";
  auto child = ChildProcess::start(spec);
  std::vector<std::string> lines;
  EXPECT_EQ(wait(*child, &lines), 0);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "[2,3]");
  EXPECT_EQ(lines[1], std::getenv("HOME") ? std::getenv("HOME") : "");  // the rest is inherited
}

TEST_F(LauncherTest, SigtermReachesTheChildWhichMayExitThree) {
  // As the trainer does: checkpoint on SIGTERM, then exit 3.
  auto child = ChildProcess::start(shell("trap 'echo checkpoint; exit 3' TERM; echo ready; "
                                         "while :; do sleep 0.05; done"));
  std::vector<std::string> lines;
  for (int i = 0; i < 500 && lines.empty(); ++i) {
    lines = child->take_lines();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(lines, std::vector<std::string>{"ready"});
  EXPECT_FALSE(child->poll());
  child->signal(SIGTERM);
  lines.clear();
  EXPECT_EQ(wait(*child, &lines), 3);
  EXPECT_EQ(lines, std::vector<std::string>{"checkpoint"});
}

TEST_F(LauncherTest, AKilledChildReportsOneHundredTwentyEightPlusTheSignal) {
  auto child = ChildProcess::start(shell("while :; do sleep 0.05; done"));
  child->signal(SIGKILL);
  EXPECT_EQ(wait(*child), 128 + SIGKILL);
}

TEST_F(LauncherTest, StderrKeepsTheLastLinesForTheReport) {
  auto child = ChildProcess::start(shell("for i in $(seq 1 30); do echo err$i >&2; done; exit 1"));
  EXPECT_EQ(wait(*child), 1);
  const auto tail = last_lines((dir_ / "stderr.log").string(), 3);
  EXPECT_EQ(tail, (std::vector<std::string>{"err28", "err29", "err30"}));
  EXPECT_TRUE(last_lines((dir_ / "missing.log").string(), 3).empty());
}

TEST_F(LauncherTest, AMissingProgramExitsOneHundredTwentySeven) {
  LaunchSpec spec;
  spec.argv = {(dir_ / "no-such-trainer").string()};
  spec.stderr_path = (dir_ / "stderr.log").string();
  auto child = ChildProcess::start(spec);
  EXPECT_EQ(wait(*child), 127);
  EXPECT_EQ(last_lines(spec.stderr_path, 1), std::vector<std::string>{"cannot execute the trainer"});
}

}  // namespace
}  // namespace gansweep
