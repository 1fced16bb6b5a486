// Real processes on loopback: a coordinator, workers and the trainer run sweeps to the end.
// Every job must be done exactly once and every metric row stored exactly once, also when a
// worker is killed with SIGKILL in the middle of a job.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "worker/launcher.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Rows of a read-only query, each row's columns as text.
std::vector<std::vector<std::string>> query(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::vector<std::string>> rows;
  EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const auto* text = sqlite3_column_text(stmt, c);
        row.push_back(text ? reinterpret_cast<const char*>(text) : "");
      }
      rows.push_back(std::move(row));
    }
  } else {
    ADD_FAILURE() << sqlite3_errmsg(db) << " in " << sql;
  }
  sqlite3_finalize(stmt);
  sqlite3_close_v2(db);
  return rows;
}

// The steps an iterations-schedule job evaluates at (docs/job-spec.md): after update i when
// i % eval_every == 0 (step i + 1), and after the last update.
std::set<int64_t> eval_steps(const nlohmann::json& spec) {
  const int64_t iterations = spec["train"]["iterations"], every = spec["train"]["eval_every"];
  std::set<int64_t> steps{iterations};
  for (int64_t i = 0; i < iterations; i += every) steps.insert(i + 1);
  return steps;
}

class SweepLoopbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gansweep-loopback-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = (dir_ / "results.db").string();
  }
  void TearDown() override {
    for (auto& [name, worker] : workers_) worker->signal(SIGKILL);
    workers_.clear();
    coordinator_.reset();
    fs::remove_all(dir_);
  }

  // Starts the coordinator on a free port; returns HOST:PORT.
  std::string start_coordinator(const std::string& sweep, int lease_seconds,
                                const std::string& listen = "127.0.0.1:0") {
    LaunchSpec spec;
    spec.argv = {GANSWEEP_COORDINATOR_BINARY, "--sweep", sweep, "--db", db_, "--listen", listen,
                 "--lease-seconds", std::to_string(lease_seconds), "--exit-when-done"};
    spec.stderr_path = (dir_ / "coordinator.stderr").string();
    coordinator_ = ChildProcess::start(spec);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline) {
      for (const auto& line : coordinator_->take_lines()) {
        coordinator_log_.push_back(line);
        const std::string prefix = "listening on ";
        if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
      }
      if (coordinator_->poll()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "the coordinator did not start listening";
    return "";
  }

  ChildProcess& start_worker(const std::string& name, const std::string& address) {
    LaunchSpec spec;
    spec.argv = {GANSWEEP_WORKER_BINARY, "--coordinator", address, "--cpu-ranks", "1", "--name", name,
                 "--work-dir", (dir_ / name).string(), "--trainer", GANSWEEP_TRAINER_BINARY, "--poll-ms", "100"};
    spec.stderr_path = (dir_ / (name + ".stderr")).string();
    workers_[name] = ChildProcess::start(spec);
    return *workers_[name];
  }

  // Waits for the coordinator to exit once every job settled.
  void wait_for_coordinator(int seconds) {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (Clock::now() < deadline) {
      if (auto code = coordinator_->poll()) {
        EXPECT_EQ(*code, 0);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "the sweep did not finish in " << seconds << " s; jobs: "
                  << nlohmann::json(query(db_, "SELECT key, status FROM jobs")).dump();
  }

  // Eight short jobs: four losses x two seeds on synthetic data.
  std::string write_eight_job_sweep() {
    const fs::path sweep = dir_ / "eight.yaml";
    std::ofstream(sweep) << "name: eight\nmethod: grid\nparameters:\n  dataset: {value: synthetic32}\n"
                            "  loss: {values: [rmcos, ls, hinge, rahinge]}\n  seed: {values: [1, 2]}\n"
                            "train: {schedule: iterations, iterations: 4, batch_size: 8, eval_every: 2, log_every: 1}\n"
                            "metrics: {samples: 64, backbone: none}\n"
                            "datasets:\n  synthetic32: {format: synthetic, image_size: 32, synthetic_count: 64}\n"
                            "retries: 0\n";
    return sweep.string();
  }

  // A one-job sweep long enough to be stopped in the middle (the trainer runs ~0.1-0.3 s
  // per update on a loaded 2-core machine).
  std::string write_long_sweep(int retries) {
    const fs::path sweep = dir_ / "long.yaml";
    std::ofstream(sweep) << "name: long\nmethod: grid\nparameters:\n  dataset: {value: synthetic32}\n"
                            "  loss: {value: ls}\n  seed: {value: 1}\n"
                            "train: {schedule: iterations, iterations: 30, batch_size: 8, eval_every: 10, log_every: 1}\n"
                            "metrics: {samples: 64, backbone: none}\n"
                            "datasets:\n  synthetic32: {format: synthetic, image_size: 32, synthetic_count: 64}\n"
                            "retries: " << retries << "\n";
    return sweep.string();
  }

  // Waits until the running attempt has reported `step` (its first evaluation included).
  void wait_for_step(int64_t step) {
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < deadline) {
      const auto reached = query(db_, "SELECT COALESCE(MAX(step), 0) FROM attempts");
      if (!reached.empty() && std::stoll(reached[0][0]) >= step) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(query(db_, "SELECT status FROM jobs")[0][0], "running") << "the job ended too early";
  }

  std::optional<int> wait_for_exit(ChildProcess& child, int seconds) {
    std::optional<int> code;
    for (int i = 0; i < seconds * 100 && !code; ++i) {
      code = child.poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return code;
  }

  // Every job is done, and each has each metric of each evaluation step exactly once.
  void expect_every_metric_once() {
    for (const auto& job : query(db_, "SELECT id, spec, status FROM jobs")) {
      EXPECT_EQ(job[2], "done") << job[1];
      std::map<std::string, std::multiset<int64_t>> steps;
      for (const auto& row : query(db_, "SELECT name, step FROM metrics WHERE job_id = " + job[0]))
        steps[row[0]].insert(std::stoll(row[1]));
      const std::set<int64_t> expected = eval_steps(nlohmann::json::parse(job[1]));
      const std::multiset<int64_t> once(expected.begin(), expected.end());
      for (const char* name : {"loss_d", "loss_g"}) EXPECT_EQ(steps[name], once) << "job " << job[0] << " " << name;
    }
  }

  fs::path dir_;
  std::string db_;
  std::unique_ptr<ChildProcess> coordinator_;
  std::vector<std::string> coordinator_log_;
  std::map<std::string, std::unique_ptr<ChildProcess>> workers_;
};

TEST_F(SweepLoopbackTest, TwoWorkersFinishAnEightJobSweepEachJobOnce) {
  const std::string address = start_coordinator(write_eight_job_sweep(), 10);
  ASSERT_FALSE(address.empty());
  start_worker("w1", address);
  start_worker("w2", address);
  wait_for_coordinator(300);

  const auto jobs = query(db_, "SELECT COUNT(*) FROM jobs");
  EXPECT_EQ(jobs[0][0], "8");
  // Exactly one attempt per job, and it is the one that finished it.
  for (const auto& row : query(db_, "SELECT job_id, COUNT(*), MIN(status), MIN(exit_code) FROM attempts GROUP BY job_id"))
    EXPECT_EQ(row, (std::vector<std::string>{row[0], "1", "done", "0"}));
  EXPECT_EQ(query(db_, "SELECT COUNT(DISTINCT job_id) FROM attempts")[0][0], "8");
  // Both workers took part.
  EXPECT_EQ(query(db_, "SELECT COUNT(DISTINCT worker_id) FROM attempts")[0][0], "2");
  expect_every_metric_once();
  // Both workers registered with their device and versions.
  const auto workers = query(db_, "SELECT name, json_extract(devices, '$[0].model'), "
                                  "json_extract(versions, '$.protocol') FROM workers ORDER BY name");
  EXPECT_EQ(workers, (std::vector<std::vector<std::string>>{{"w1", "cpu", "1"}, {"w2", "cpu", "1"}}));
}

#ifdef GANSWEEP_MPIEXEC
// A job of 2 devices on a worker with 2 CPU ranks: the worker runs it as mpirun -np 2, the
// two ranks train it together, rank 0's events reach the database once, with the sample
// grids it wrote as artifacts.
TEST_F(SweepLoopbackTest, ATwoRankJobRunsUnderMpirunAndReportsOnce) {
  const fs::path sweep = dir_ / "two-ranks.yaml";
  std::ofstream(sweep) << "name: two-ranks\nmethod: grid\nparameters:\n  dataset: {value: synthetic32}\n"
                          "  loss: {value: rals}\n  seed: {value: 1}\n"
                          "train: {schedule: iterations, iterations: 4, batch_size: 8, eval_every: 2, log_every: 1}\n"
                          "metrics: {samples: 64, backbone: none}\n"
                          "parallel: {backend: mpi, timeout_s: 60}\n"
                          "datasets:\n  synthetic32: {format: synthetic, image_size: 32, synthetic_count: 64}\n"
                          "resources: {gpus: 2}\nretries: 0\n";
  const std::string address = start_coordinator(sweep.string(), 10);
  ASSERT_FALSE(address.empty());
  LaunchSpec spec;
  spec.argv = {GANSWEEP_WORKER_BINARY, "--coordinator", address, "--cpu-ranks", "2", "--name", "pair",
               "--work-dir", (dir_ / "pair").string(), "--trainer", GANSWEEP_TRAINER_BINARY,
               "--mpirun", GANSWEEP_MPIEXEC, "--poll-ms", "100"};
  spec.stderr_path = (dir_ / "pair.stderr").string();
  workers_["pair"] = ChildProcess::start(spec);
  wait_for_coordinator(300);
  EXPECT_EQ(query(db_, "SELECT devices, status, exit_code FROM attempts"),
            (std::vector<std::vector<std::string>>{{"[0,1]", "done", "0"}}));
  expect_every_metric_once();
  const auto grids = query(db_, "SELECT path, step FROM artifacts WHERE kind = 'sample_grid' ORDER BY step");
  ASSERT_EQ(grids.size(), 3u);  // after updates 1, 3 and 4 (the reference's schedule)
  for (const auto& grid : grids) EXPECT_TRUE(fs::exists(grid[0])) << grid[0];
}
#endif

TEST_F(SweepLoopbackTest, AJobOfAKilledWorkerIsRequeuedAndFinishesOnTheOtherWorker) {
  const std::string address = start_coordinator(write_long_sweep(/*retries=*/1), 2);
  ASSERT_FALSE(address.empty());
  ChildProcess& victim = start_worker("victim", address);
  wait_for_step(2);
  victim.signal(SIGKILL);
  EXPECT_EQ(wait_for_exit(victim, 5), 128 + SIGKILL);
  ASSERT_GE(std::stoll(query(db_, "SELECT COUNT(*) FROM metrics")[0][0]), 2);

  start_worker("survivor", address);
  wait_for_coordinator(300);

  const auto attempts = query(db_, "SELECT w.name, a.status, COALESCE(a.exit_code, '') FROM attempts a "
                                   "JOIN workers w ON w.id = a.worker_id ORDER BY a.id");
  EXPECT_EQ(attempts, (std::vector<std::vector<std::string>>{{"victim", "lost", ""}, {"survivor", "done", "0"}}));
  EXPECT_EQ(query(db_, "SELECT retries_left FROM jobs")[0][0], "0");
  expect_every_metric_once();
  // The rows the victim stored before it died are kept, not written again by the survivor.
  EXPECT_NE(query(db_, "SELECT COUNT(*) FROM metrics m JOIN attempts a ON a.id = m.attempt_id "
                       "JOIN workers w ON w.id = a.worker_id WHERE w.name = 'victim'")[0][0], "0");
}

TEST_F(SweepLoopbackTest, SigtermDrainsTheWorkerAndTheJobResumesWithoutUsingARetry) {
  // No retry at all: a preemption that counted as a failure would fail the job.
  const std::string address = start_coordinator(write_long_sweep(/*retries=*/0), 10);
  ASSERT_FALSE(address.empty());
  ChildProcess& first = start_worker("machine", address);
  wait_for_step(2);
  first.signal(SIGTERM);
  EXPECT_EQ(wait_for_exit(first, 60), 0);  // drained: the trainer checkpointed and exited 3

  EXPECT_EQ(query(db_, "SELECT status, exit_code FROM attempts"),
            (std::vector<std::vector<std::string>>{{"preempted", "3"}}));
  EXPECT_EQ(query(db_, "SELECT status, retries_left FROM jobs"), (std::vector<std::vector<std::string>>{{"queued", "0"}}));
  const std::string key = query(db_, "SELECT key FROM jobs")[0][0];
  EXPECT_TRUE(fs::exists(dir_ / "machine" / "jobs" / key / "checkpoint.pt"));

  // The same machine again (same work dir): the job resumes from its checkpoint and finishes.
  start_worker("machine", address);
  wait_for_coordinator(300);
  EXPECT_EQ(query(db_, "SELECT status, exit_code FROM attempts ORDER BY id"),
            (std::vector<std::vector<std::string>>{{"preempted", "3"}, {"done", "0"}}));
  expect_every_metric_once();
}

TEST_F(SweepLoopbackTest, TheSweepCompletesWhenTheCoordinatorIsKilledAndRestarted) {
  const std::string sweep = write_long_sweep(/*retries=*/0);
  const std::string address = start_coordinator(sweep, 4);
  ASSERT_FALSE(address.empty());
  start_worker("w1", address);
  wait_for_step(2);
  coordinator_->signal(SIGKILL);
  EXPECT_EQ(wait_for_exit(*coordinator_, 5), 128 + SIGKILL);
  // Away for longer than a lease; the worker buffers its reports meanwhile.
  std::this_thread::sleep_for(std::chrono::seconds(5));
  ASSERT_EQ(start_coordinator(sweep, 4, address), address);
  wait_for_coordinator(300);

  // The attempt outlived the restart: no retry was needed (there was none to use).
  EXPECT_EQ(query(db_, "SELECT status, exit_code FROM attempts"), (std::vector<std::vector<std::string>>{{"done", "0"}}));
  expect_every_metric_once();
}

TEST_F(SweepLoopbackTest, LocalWorkersRunTheWholeSweepAndPrintTheResultTable) {
  LaunchSpec spec;
  spec.argv = {GANSWEEP_COORDINATOR_BINARY, "--sweep", GANSWEEP_SWEEPS_DIR "/smoke.yaml", "--db", db_,
               "--local-workers", "2", "--trainer", GANSWEEP_TRAINER_BINARY, "--worker", GANSWEEP_WORKER_BINARY,
               "--work-dir", (dir_ / "work").string()};
  spec.stderr_path = (dir_ / "coordinator.stderr").string();
  coordinator_ = ChildProcess::start(spec);
  std::vector<std::string> lines;
  std::optional<int> code;
  for (int i = 0; i < 3000 && !code; ++i) {
    for (auto& line : coordinator_->take_lines()) lines.push_back(line);
    code = coordinator_->poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto& line : coordinator_->take_lines()) lines.push_back(line);
  ASSERT_EQ(code, 0) << fs::path(spec.stderr_path);
  int done_rows = 0;
  for (const auto& job : query(db_, "SELECT key FROM jobs"))
    for (const auto& line : lines)
      done_rows += line.rfind(job[0], 0) == 0 && line.find(" done ") != std::string::npos;
  EXPECT_EQ(done_rows, 4);
  expect_every_metric_once();
  EXPECT_EQ(query(db_, "SELECT COUNT(*) FROM attempts")[0][0], "4");
  EXPECT_EQ(query(db_, "SELECT COUNT(*) FROM workers")[0][0], "2");
}

}  // namespace
}  // namespace gansweep
