// The worker binary against a real coordinator, with a scripted trainer (sh) standing in for
// the LibTorch one, so these run in a control-plane-only build: device assignment of
// concurrent jobs, and the exit code and error lines of a failing trainer.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "worker/launcher.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string query_text(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW &&
      sqlite3_column_text(stmt, 0))
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close_v2(db);
  return out;
}

// Reads output_dir from the job spec, records its devices and run time there, and reports
// like a trainer: a started event, then finished (exit 0) or failed (exit 1).
constexpr const char* kScriptedTrainer = R"(#!/bin/sh
out=$(grep -o '"output_dir": "[^"]*"' "$2" | cut -d'"' -f4)
echo "$CUDA_VISIBLE_DEVICES" > "$out/devices"
date +%s.%N > "$out/start"
echo '{"event":"started","job_id":"j","step":0,"epoch":0,"time":0}'
if grep -q '"loss": "hinge"' "$2"; then
  echo 'dataset file /data/missing.bin not found' >&2
  echo '{"event":"failed","job_id":"j","step":0,"epoch":0,"time":0,"reason":"dataset missing","retryable":false}'
  exit 1
fi
sleep 2
date +%s.%N > "$out/end"
echo '{"event":"eval","job_id":"j","step":1,"epoch":0,"time":0,"loss_d":0.5,"loss_g":0.7}'
echo '{"event":"finished","job_id":"j","step":1,"epoch":0,"time":0}'
)";

// Stands in for mpirun: records its arguments and environment, then plays what mpirun
// does when a rank dies (loss ls: Open MPI's report on stderr, exit 137), or a job
// preempted by SIGUSR1 (rmcos, first attempt: a preempted event, then exit 1 as mpirun
// does when signalled; the next attempt finishes).
constexpr const char* kScriptedMpirun = R"(#!/bin/sh
job="$7"
[ "$6" = "--job" ] || job="$6"
out=$(grep -o '"output_dir": "[^"]*"' "$job" | cut -d'"' -f4)
echo "$@" > "$out/mpirun-args"
echo "$CUDA_VISIBLE_DEVICES" > "$out/devices"
echo '{"event":"started","job_id":"j","step":0,"epoch":0,"time":0,"world_size":2}'
if grep -q '"loss": "ls"' "$job"; then
  echo 'mpirun noticed that process rank 1 with PID 0 on node gpu7 exited on signal 9 (Killed).' >&2
  exit 137
fi
if [ ! -e "$out/preempted-once" ]; then
  touch "$out/preempted-once"
  echo '{"event":"failed","job_id":"j","step":5,"epoch":0,"time":0,"reason":"preempted","retryable":true,"preempted":true}'
  exit 1
fi
echo '{"event":"finished","job_id":"j","step":9,"epoch":0,"time":0}'
)";

class WorkerDevicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gansweep-worker-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = (dir_ / "results.db").string();
    trainer_ = (dir_ / "trainer.sh").string();
    std::ofstream(trainer_) << kScriptedTrainer;
    ::chmod(trainer_.c_str(), 0755);
    mpirun_ = (dir_ / "mpirun.sh").string();
    std::ofstream(mpirun_) << kScriptedMpirun;
    ::chmod(mpirun_.c_str(), 0755);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs a coordinator (until every job settles) and one worker with GPUs 0 and 1.
  void run_sweep(const std::string& losses, int gpus_per_job = 1) {
    const fs::path sweep = dir_ / "sweep.yaml";
    std::ofstream(sweep) << "name: devices\nmethod: grid\nparameters:\n  dataset: {value: synth}\n"
                            "  loss: {values: [" << losses << "]}\n  seed: {value: 1}\n"
                            "train: {schedule: iterations, iterations: 1, batch_size: 8}\n"
                            "datasets:\n  synth: {format: synthetic}\nretries: 2\n"
                         << "resources: {gpus: " << gpus_per_job << "}\n";
    LaunchSpec coordinator_spec;
    coordinator_spec.argv = {GANSWEEP_COORDINATOR_BINARY, "--sweep", sweep.string(), "--db", db_,
                             "--listen", "127.0.0.1:0", "--exit-when-done"};
    coordinator_spec.stderr_path = (dir_ / "coordinator.stderr").string();
    auto coordinator = ChildProcess::start(coordinator_spec);
    std::string address;
    for (int i = 0; i < 500 && address.empty(); ++i) {
      for (const auto& line : coordinator->take_lines())
        if (line.rfind("listening on ", 0) == 0) address = line.substr(13);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_FALSE(address.empty()) << read_file(coordinator_spec.stderr_path);

    LaunchSpec worker_spec;
    worker_spec.argv = {GANSWEEP_WORKER_BINARY, "--coordinator", address, "--gpus", "0,1", "--name", "w",
                        "--work-dir", (dir_ / "work").string(), "--trainer", trainer_, "--mpirun", mpirun_,
                        "--poll-ms", "50"};
    worker_spec.stderr_path = (dir_ / "worker.stderr").string();
    auto worker = ChildProcess::start(worker_spec);
    std::optional<int> code;
    for (int i = 0; i < 600 && !code; ++i) {
      code = coordinator->poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(code, 0) << "the sweep did not settle";
    worker->signal(SIGTERM);
    for (int i = 0; i < 100 && !worker->poll(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(worker->poll(), 0) << read_file(worker_spec.stderr_path);
  }

  fs::path job_dir(const std::string& loss) {
    return dir_ / "work" / "jobs" / ("dataset=synth,loss=" + loss + ",seed=1");
  }

  fs::path dir_;
  std::string db_, trainer_, mpirun_;
};

TEST_F(WorkerDevicesTest, TwoConcurrentJobsNeverShareADevice) {
  run_sweep("rmcos, ls");
  const std::string a = read_file(job_dir("rmcos") / "devices"), b = read_file(job_dir("ls") / "devices");
  EXPECT_EQ(std::set<std::string>({a, b}), std::set<std::string>({"0\n", "1\n"}));
  // They ran at the same time: each started before the other ended.
  const double a_start = std::stod(read_file(job_dir("rmcos") / "start")), a_end = std::stod(read_file(job_dir("rmcos") / "end"));
  const double b_start = std::stod(read_file(job_dir("ls") / "start")), b_end = std::stod(read_file(job_dir("ls") / "end"));
  EXPECT_LT(a_start, b_end);
  EXPECT_LT(b_start, a_end);
  EXPECT_EQ(query_text(db_, "SELECT COUNT(*) FROM jobs WHERE status = 'done'"), "2");
  EXPECT_EQ(query_text(db_, "SELECT COUNT(*) FROM metrics"), "4");  // loss_d, loss_g of each job
  // The spec the trainer got: this worker's output dir, resume on.
  const std::string spec = read_file(job_dir("ls") / "job.json");
  EXPECT_NE(spec.find("\"output_dir\": \"" + job_dir("ls").string() + "\""), std::string::npos) << spec;
  EXPECT_NE(spec.find("\"resume\": true"), std::string::npos);
}

TEST_F(WorkerDevicesTest, ABadInputExitFailsAtOnceWithTheReasonAndStderrLines) {
  run_sweep("hinge");
  EXPECT_EQ(query_text(db_, "SELECT status FROM jobs"), "failed");
  EXPECT_EQ(query_text(db_, "SELECT COUNT(*) FROM attempts"), "1");  // retries left, none used
  EXPECT_EQ(query_text(db_, "SELECT exit_code FROM attempts"), "1");
  EXPECT_EQ(query_text(db_, "SELECT last_error FROM jobs"), "dataset missing\ndataset file /data/missing.bin not found");
}

// A job of 2 GPUs runs as mpirun -np 2 over both; a rank that dies fails the attempt with
// a failed event naming the rank (from mpirun's report), and the job is retried.
TEST_F(WorkerDevicesTest, ADeadRankIsNamedInTheFailedEventAndTheJobRetried) {
  run_sweep("ls", 2);
  const std::string args = read_file(job_dir("ls") / "mpirun-args");
  EXPECT_EQ(args.rfind("-np 2 --oversubscribe ", 0), 0u) << args;
  EXPECT_NE(args.find(trainer_ + " --job "), std::string::npos) << args;
  EXPECT_EQ(read_file(job_dir("ls") / "devices"), "0,1\n");
  EXPECT_EQ(query_text(db_, "SELECT status FROM jobs"), "failed");
  EXPECT_EQ(query_text(db_, "SELECT COUNT(*) FROM attempts"), "3");  // the first try and 2 retries
  const std::string error = query_text(db_, "SELECT last_error FROM jobs");
  EXPECT_EQ(error.rfind("rank 1 (on gpu7) exited on signal 9 (Killed); mpirun ended the other ranks", 0), 0u) << error;
}

// mpirun exits 1 when signalled, whatever its ranks return; the worker goes by the
// preempted event, so the job is requeued without using a retry.
TEST_F(WorkerDevicesTest, APreemptedMultiRankJobIsRequeuedWithoutUsingARetry) {
  run_sweep("rmcos", 2);
  EXPECT_EQ(query_text(db_, "SELECT status FROM jobs"), "done");
  EXPECT_EQ(query_text(db_, "SELECT group_concat(status) FROM (SELECT status FROM attempts ORDER BY id)"),
            "preempted,done");
  EXPECT_EQ(query_text(db_, "SELECT retries_left FROM jobs"), "2");
}

}  // namespace
}  // namespace gansweep
