// The scheduling rules of the store: leases, device fit, priority, every-worker copies,
// heartbeats, the reaper, exit codes, superseded attempts and cancellation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "coordinator/store.h"
#include "coordinator/sweep.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;

constexpr int kLease = 30;
constexpr int64_t kT0 = 1'800'000'000;

// name, loss values, gpus, retries, priority, placement
std::string sweep_yaml(const std::string& name, const std::string& losses, int gpus, int retries,
                       int priority, const std::string& placement = "any") {
  return "name: " + name + "\nmethod: grid\nparameters:\n  dataset: {value: synth}\n"
         "  loss: {values: [" + losses + "]}\n  seed: {value: 1}\n"
         "train: {schedule: iterations, iterations: 2, batch_size: 8}\n"
         "datasets:\n  synth: {format: synthetic}\n"
         "resources: {gpus: " + std::to_string(gpus) + "}\n"
         "retries: " + std::to_string(retries) + "\npriority: " + std::to_string(priority) +
         "\nplacement: " + placement + "\n";
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gansweep-sched-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::make_unique<Store>(Store::open((dir_ / "results.db").string()));
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  int64_t submit(const std::string& yaml) {
    return store_->submit_sweep(parse_sweep(yaml, "test.yaml")).sweep_id;
  }
  int64_t worker(const std::string& name, const std::string& host) {
    WorkerRegistration w;
    w.name = name;
    w.host = host;
    return store_->register_worker(w, kT0);
  }
  std::string job_status(int64_t job_id) { return store_->get_job(job_id)->status; }

  fs::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SchedulerTest, RegisteringAgainKeepsTheIdAndUpdatesTheRow) {
  const int64_t id = worker("w1", "hostA");
  WorkerRegistration again;
  again.name = "w1";
  again.host = "hostB";
  again.cores = 16;
  again.devices_json = R"([{"index":0,"model":"RTX 3090","memory_bytes":25769803776}])";
  EXPECT_EQ(store_->register_worker(again, kT0 + 5), id);
  const auto workers = store_->list_workers();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].registration.host, "hostB");
  EXPECT_EQ(workers[0].registration.cores, 16);
  EXPECT_EQ(nlohmann::json::parse(workers[0].registration.devices_json)[0]["model"], "RTX 3090");
}

TEST_F(SchedulerTest, EachJobIsLeasedOnceAndNothingWhenTheQueueIsEmpty) {
  const int64_t sweep = submit(sweep_yaml("s", "rmcos, ls", 1, 0, 0));
  const int64_t w = worker("w1", "hostA");
  const auto a = store_->acquire(w, {0}, kLease, kT0);
  const auto b = store_->acquire(w, {1}, kLease, kT0);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->job_id, b->job_id);
  EXPECT_EQ(a->lease_expires, kT0 + kLease);
  EXPECT_EQ(a->devices, std::vector<int>{0});
  EXPECT_EQ(b->devices, std::vector<int>{1});
  EXPECT_FALSE(store_->acquire(w, {2}, kLease, kT0));
  for (const auto& job : store_->list_jobs(sweep)) EXPECT_EQ(job.status, "running");
  EXPECT_EQ(nlohmann::json::parse(a->spec_json)["loss"].is_string(), true);
}

TEST_F(SchedulerTest, ADeviceHeldByARunningAttemptIsNeverHandedOutAgain) {
  submit(sweep_yaml("s", "rmcos, ls", 1, 0, 0));
  const int64_t w = worker("w1", "hostA");
  ASSERT_TRUE(store_->acquire(w, {0}, kLease, kT0));
  // The worker wrongly believes device 0 is free: the store knows better.
  EXPECT_FALSE(store_->acquire(w, {0}, kLease, kT0));
  const auto second = store_->acquire(w, {0, 1}, kLease, kT0);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->devices, std::vector<int>{1});
}

TEST_F(SchedulerTest, ATwoGpuJobNeverLandsOnOneFreeDevice) {
  submit(sweep_yaml("big", "rmcos", 2, 0, 0));
  const int64_t w = worker("w1", "hostA");
  EXPECT_FALSE(store_->acquire(w, {0}, kLease, kT0));
  const auto lease = store_->acquire(w, {0, 1}, kLease, kT0);
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->devices, (std::vector<int>{0, 1}));
}

TEST_F(SchedulerTest, HigherPriorityFirstThenOlderSweep) {
  const int64_t low = submit(sweep_yaml("low", "rmcos", 1, 0, 1));
  const int64_t high = submit(sweep_yaml("high", "rmcos", 1, 0, 9));
  const int64_t high_later = submit(sweep_yaml("high2", "rmcos", 1, 0, 9));
  const int64_t w = worker("w1", "hostA");
  EXPECT_EQ(store_->get_job(store_->acquire(w, {0}, kLease, kT0)->job_id)->sweep_id, high);
  EXPECT_EQ(store_->get_job(store_->acquire(w, {1}, kLease, kT0)->job_id)->sweep_id, high_later);
  EXPECT_EQ(store_->get_job(store_->acquire(w, {2}, kLease, kT0)->job_id)->sweep_id, low);
}

TEST_F(SchedulerTest, EveryWorkerRunsOncePerDistinctHost) {
  const int64_t sweep = submit(sweep_yaml("var", "rmcos", 1, 0, 0, "every-worker"));
  const int64_t a1 = worker("a1", "hostA");
  const int64_t a2 = worker("a2", "hostA");  // same machine: no second copy
  const int64_t b1 = worker("b1", "hostB");
  const auto on_a = store_->acquire(a1, {0}, kLease, kT0);
  ASSERT_TRUE(on_a);
  EXPECT_FALSE(store_->acquire(a2, {0}, kLease, kT0));
  const auto on_b = store_->acquire(b1, {0}, kLease, kT0);
  ASSERT_TRUE(on_b);
  EXPECT_NE(on_a->job_id, on_b->job_id);
  EXPECT_EQ(on_b->job_key, on_a->job_key + "@hostB");
  EXPECT_EQ(nlohmann::json::parse(on_b->spec_json)["job_id"], on_b->job_key);
  EXPECT_FALSE(store_->acquire(b1, {1}, kLease, kT0));  // no third copy either

  const auto jobs = store_->list_jobs(sweep);
  ASSERT_EQ(jobs.size(), 2u);
  std::set<std::string> hosts{jobs[0].host, jobs[1].host};
  EXPECT_EQ(hosts, (std::set<std::string>{"hostA", "hostB"}));
}

TEST_F(SchedulerTest, HeartbeatsExtendLeasesAndTheReaperSparesThem) {
  submit(sweep_yaml("s", "rmcos", 1, 1, 0));
  const int64_t w = worker("w1", "hostA");
  const auto lease = store_->acquire(w, {0}, kLease, kT0);
  const auto beat = store_->heartbeat(w, {lease->attempt_id}, kLease, kT0 + 20);
  EXPECT_EQ(beat.extended, std::vector<int64_t>{lease->attempt_id});
  EXPECT_TRUE(beat.stop.empty());
  EXPECT_EQ(beat.lease_expires, kT0 + 20 + kLease);
  EXPECT_TRUE(store_->reap_expired(kT0 + 40).empty());  // past the first lease, within the second
  EXPECT_EQ(job_status(lease->job_id), "running");
}

TEST_F(SchedulerTest, AnExpiredLeaseIsRequeuedUsingARetryThenFailsWithTheLastError) {
  submit(sweep_yaml("s", "rmcos", 1, 1, 0));
  const int64_t w = worker("w1", "hostA");
  const auto first = store_->acquire(w, {0}, kLease, kT0);
  EXPECT_EQ(store_->reap_expired(kT0 + kLease + 1), std::vector<int64_t>{first->attempt_id});
  auto job = store_->get_job(first->job_id);
  EXPECT_EQ(job->status, "queued");
  EXPECT_EQ(job->retries_left, 0);
  EXPECT_EQ(store_->list_attempts(first->job_id)[0].status, "lost");

  const auto second = store_->acquire(w, {0}, kLease, kT0 + 100);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->job_id, first->job_id);
  store_->reap_expired(kT0 + 100 + kLease + 1);
  job = store_->get_job(first->job_id);
  EXPECT_EQ(job->status, "failed");
  EXPECT_NE(job->last_error.find("lease expired: worker 'w1'"), std::string::npos) << job->last_error;
}

TEST_F(SchedulerTest, ExitCodesDecideDoneFailedAndRequeued) {
  submit(sweep_yaml("s", "rmcos, ls, hinge, ce", 1, 1, 0));
  const int64_t w = worker("w1", "hostA");
  const auto done = store_->acquire(w, {0}, kLease, kT0);
  const auto bad = store_->acquire(w, {1}, kLease, kT0);
  const auto preempted = store_->acquire(w, {2}, kLease, kT0);
  const auto crashed = store_->acquire(w, {3}, kLease, kT0);
  ASSERT_TRUE(done && bad && preempted && crashed);

  EXPECT_EQ(store_->finish_attempt(done->attempt_id, 0, "", kT0), "done");
  // Bad input fails at once although a retry is left.
  EXPECT_EQ(store_->finish_attempt(bad->attempt_id, 1, "dataset not found: /x", kT0), "failed");
  EXPECT_EQ(store_->get_job(bad->job_id)->retries_left, 1);
  EXPECT_EQ(store_->get_job(bad->job_id)->last_error, "dataset not found: /x");
  // Preemption requeues without using a retry.
  EXPECT_EQ(store_->finish_attempt(preempted->attempt_id, 3, "", kT0), "queued");
  EXPECT_EQ(store_->get_job(preempted->job_id)->retries_left, 1);
  EXPECT_EQ(store_->list_attempts(preempted->job_id)[0].status, "preempted");
  // A crash uses a retry; the second crash fails the job with its error.
  EXPECT_EQ(store_->finish_attempt(crashed->attempt_id, 4, "nan loss", kT0), "queued");
  EXPECT_EQ(store_->get_job(crashed->job_id)->retries_left, 0);

  auto again = store_->acquire(w, {3}, kLease, kT0);
  auto again2 = store_->acquire(w, {4}, kLease, kT0);
  ASSERT_TRUE(again && again2);
  const int64_t crashed_attempt = again->job_id == crashed->job_id ? again->attempt_id : again2->attempt_id;
  EXPECT_EQ(store_->finish_attempt(crashed_attempt, 137, "killed by signal 9", kT0), "failed");
  EXPECT_EQ(store_->get_job(crashed->job_id)->last_error, "killed by signal 9");
  const auto attempts = store_->list_attempts(crashed->job_id);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[1].exit_code, 137);
}

TEST_F(SchedulerTest, ASupersededAttemptIsRefused) {
  submit(sweep_yaml("s", "rmcos", 1, 2, 0));
  const int64_t w1 = worker("w1", "hostA");
  const int64_t w2 = worker("w2", "hostB");
  const auto old = store_->acquire(w1, {0}, kLease, kT0);
  store_->reap_expired(kT0 + kLease + 1);
  const auto current = store_->acquire(w2, {0}, kLease, kT0 + 50);
  ASSERT_TRUE(current);
  EXPECT_EQ(current->job_id, old->job_id);

  MetricRecord fid;
  fid.step = 2;
  fid.name = "fid";
  fid.value = 50;
  EXPECT_THROW(store_->report_progress(old->attempt_id, 2, {fid}), StaleAttemptError);
  EXPECT_THROW(store_->finish_attempt(old->attempt_id, 0, "", kT0), StaleAttemptError);
  const auto beat = store_->heartbeat(w1, {old->attempt_id}, kLease, kT0 + 60);
  EXPECT_EQ(beat.stop, std::vector<int64_t>{old->attempt_id});
  // Another worker's attempt is not this worker's to extend.
  EXPECT_EQ(store_->heartbeat(w1, {current->attempt_id}, kLease, kT0 + 60).stop,
            std::vector<int64_t>{current->attempt_id});

  EXPECT_EQ(store_->report_progress(current->attempt_id, 2, {fid}), 1);
  MetricRecord later = fid;
  later.step = 4;
  later.value = 40;
  MetricRecord nan = fid;
  nan.name = "is_mean";
  nan.value = std::nan("");
  EXPECT_EQ(store_->report_progress(current->attempt_id, 4, {later, nan}), 2);
  const auto final_values = store_->final_metrics(current->job_id);
  EXPECT_EQ(final_values.at("fid"), 40.0);
  EXPECT_FALSE(final_values.at("is_mean"));
  EXPECT_EQ(store_->report_progress(current->attempt_id, 2, {fid}), 0);  // replay adds nothing
  // The files the events name: stored once however often the report is replayed.
  const ArtifactRecord grid{"sample_grid", "/w/jobs/j/samples/step_00000004.png", 4};
  const ArtifactRecord checkpoint{"checkpoint", "/w/jobs/j/checkpoint.pt", 4};
  store_->report_progress(current->attempt_id, 4, {}, {grid, checkpoint});
  store_->report_progress(current->attempt_id, 4, {}, {grid, checkpoint});
  const auto artifacts = store_->list_artifacts(current->job_id);
  ASSERT_EQ(artifacts.size(), 2u);
  EXPECT_EQ(artifacts[0].kind, "sample_grid");
  EXPECT_EQ(artifacts[0].path, grid.path);
  EXPECT_EQ(artifacts[1].kind, "checkpoint");
  EXPECT_EQ(artifacts[1].step, 4);
  EXPECT_EQ(store_->list_attempts(current->job_id)[1].step, 4);
  EXPECT_EQ(store_->finish_attempt(current->attempt_id, 0, "", kT0), "done");
  EXPECT_THROW(store_->finish_attempt(current->attempt_id, 0, "", kT0), StaleAttemptError);
}

TEST_F(SchedulerTest, CancellingStopsRunningTrainersAndLeasesNothingMore) {
  const int64_t sweep = submit(sweep_yaml("s", "rmcos, ls, hinge", 1, 2, 0));
  const int64_t other = submit(sweep_yaml("other", "rmcos, ls", 1, 2, 0));
  const int64_t w = worker("w1", "hostA");
  const auto running = store_->acquire(w, {0}, kLease, kT0);
  ASSERT_EQ(store_->get_job(running->job_id)->sweep_id, sweep);
  EXPECT_EQ(store_->cancel_sweep(sweep), 3);

  const auto beat = store_->heartbeat(w, {running->attempt_id}, kLease, kT0 + 10);
  EXPECT_EQ(beat.stop, std::vector<int64_t>{running->attempt_id});
  // The stopped trainer exits 3; the job stays cancelled, not requeued.
  EXPECT_EQ(store_->finish_attempt(running->attempt_id, 3, "", kT0), "cancelled");
  EXPECT_EQ(store_->list_attempts(running->job_id)[0].status, "cancelled");

  const auto next = store_->acquire(w, {0}, kLease, kT0 + 20);
  ASSERT_TRUE(next);
  EXPECT_EQ(store_->get_job(next->job_id)->sweep_id, other);
  EXPECT_EQ(store_->cancel_job(next->job_id), 1);
  EXPECT_EQ(store_->cancel_job(next->job_id), 0);  // already cancelled
  EXPECT_THROW(store_->cancel_job(999), StoreError);
  for (const auto& job : store_->list_jobs(sweep)) EXPECT_EQ(job.status, "cancelled");
}

TEST_F(SchedulerTest, ARestartRenewsRunningLeasesSoWorkersCanHeartbeatAgain) {
  submit(sweep_yaml("s", "rmcos, ls", 1, 0, 0));
  const int64_t w = worker("w1", "hostA");
  const auto running = store_->acquire(w, {0}, kLease, kT0);
  const auto finished = store_->acquire(w, {1}, kLease, kT0);
  store_->finish_attempt(finished->attempt_id, 0, "", kT0);
  // The coordinator was away for longer than a lease.
  EXPECT_EQ(store_->renew_running_leases(kLease, kT0 + 100), 1);
  EXPECT_TRUE(store_->reap_expired(kT0 + 101).empty());
  EXPECT_EQ(store_->heartbeat(w, {running->attempt_id}, kLease, kT0 + 110).extended,
            std::vector<int64_t>{running->attempt_id});
  EXPECT_EQ(store_->list_attempts(finished->job_id)[0].status, "done");
}

TEST_F(SchedulerTest, AHostWhoseAttemptsKeepFailingCoolsDown) {
  const int64_t sweep = submit(sweep_yaml("s", "rmcos, ls, hinge, ce, rce", 1, 5, 0));
  const int64_t bad = worker("bad", "hostA");
  const int64_t good = worker("good", "hostB");
  // A bad-input failure is the job's fault: it does not count against the machine.
  store_->finish_attempt(store_->acquire(bad, {0}, kLease, kT0)->attempt_id, 1, "no dataset", kT0);
  for (int i = 0; i < kFailureStreak; ++i) {
    EXPECT_FALSE(store_->host_cooldown_until("hostA", kT0 + 10));
    store_->finish_attempt(store_->acquire(bad, {0}, kLease, kT0 + 10)->attempt_id, 4, "CUDA error: ECC", kT0 + 10);
  }
  EXPECT_EQ(store_->host_cooldown_until("hostA", kT0 + 20), kT0 + 10 + kCooldownSeconds);
  EXPECT_FALSE(store_->acquire(bad, {0}, kLease, kT0 + 20));
  EXPECT_TRUE(store_->acquire(good, {0}, kLease, kT0 + 20));  // other machines carry on

  // After the cool-down the host gets work again; one more failure doubles the next one.
  const auto retry = store_->acquire(bad, {0}, kLease, kT0 + 10 + kCooldownSeconds);
  ASSERT_TRUE(retry);
  store_->finish_attempt(retry->attempt_id, 4, "CUDA error: ECC", kT0 + 100);
  EXPECT_EQ(store_->host_cooldown_until("hostA", kT0 + 100), kT0 + 100 + 2 * kCooldownSeconds);

  // A success ends the streak.
  const auto ok = store_->acquire(bad, {0}, kLease, kT0 + 100 + 2 * kCooldownSeconds);
  ASSERT_TRUE(ok);
  store_->finish_attempt(ok->attempt_id, 0, "", kT0 + 300);
  EXPECT_FALSE(store_->host_cooldown_until("hostA", kT0 + 300));
  EXPECT_EQ(store_->list_jobs(sweep).size(), 5u);
}

TEST_F(SchedulerTest, UnknownWorkersAreRefused) {
  submit(sweep_yaml("s", "rmcos", 1, 0, 0));
  EXPECT_THROW(store_->acquire(42, {0}, kLease, kT0), StoreError);
  EXPECT_THROW(store_->heartbeat(42, {}, kLease, kT0), StoreError);
  WorkerRegistration nameless;
  nameless.host = "h";
  EXPECT_THROW(store_->register_worker(nameless, kT0), StoreError);
}

}  // namespace
}  // namespace gansweep
