// Data-parallel training as the worker launches it: `mpirun -np 2 trainer` against one
// process on the same global batch, and the failures a job of several ranks must survive.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "process.h"
#include "trainer/contract/events.h"
#include "trainer/models/dcgan.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::vector<std::string> mpirun(int ranks, const std::string& job) {
  // As root, Open MPI asks for these; on 2 cores two ranks oversubscribe.
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  return {GANSWEEP_MPIEXEC, "-np", std::to_string(ranks), "--oversubscribe", GANSWEEP_TRAINER_BINARY, "--job", job};
}

std::vector<Event> events_of(const std::string& text) {
  std::vector<Event> events;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') events.push_back(event_from_json(json::parse(line)));
  return events;
}

int count(const std::vector<Event>& events, EventType type) {
  return int(std::count_if(events.begin(), events.end(), [&](const Event& e) { return e.type == type; }));
}

json small_job(const std::string& loss, const std::string& out, int64_t iterations) {
  return {{"job_id", "dp-" + loss},
          {"dataset", {{"format", "synthetic"}, {"image_size", 32}, {"synthetic_count", 64}}},
          {"loss", loss},
          {"seed", 5},
          {"train", {{"schedule", "iterations"}, {"iterations", iterations}, {"batch_size", 8}, {"log_every", 5},
                     {"eval_every", iterations}, {"threads", 1}, {"dtype", "float64"}}},
          {"output_dir", out}};
}

// The generator and discriminator parameters stored in a trainer checkpoint.
std::map<std::string, torch::Tensor> checkpoint_parameters(const std::string& path, const std::string& loss) {
  torch::serialize::InputArchive archive, g_archive, d_archive;
  archive.load_from(path);
  archive.read("generator", g_archive);
  archive.read("discriminator", d_archive);
  Generator g(32);
  Discriminator d(32, loss == "rmcos");
  g->to(torch::kDouble);
  d->to(torch::kDouble);
  g->load(g_archive);
  d->load(d_archive);
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : g->named_parameters()) params["G." + p.key()] = p.value().detach().clone();
  for (const auto& p : d->named_parameters()) params["D." + p.key()] = p.value().detach().clone();
  for (const auto& b : d->named_buffers()) params["D." + b.key()] = b.value().detach().clone();  // u, v
  for (const auto& b : g->named_buffers())
    if (b.value().is_floating_point()) params["G." + b.key()] = b.value().detach().clone();  // BN statistics
  return params;
}

// One process and `ranks` ranks train the same job for 20 iterations of the same global
// batch: every weight, spectral-norm vector and BN statistic agrees within 1e-4 relative.
// float64, because float32 rounding alone (say 1 against 2 threads) moves the weights by
// ~1e-3 within 20 GAN iterations. Returns the ranks' events.
std::vector<Event> expect_ranks_equal_one_process(const std::string& loss, int ranks, int64_t batch_size) {
  const std::string dir = testing::temp_dir("dp-equal-" + loss + "-" + std::to_string(ranks));
  auto job = [&](const std::string& out) {
    json j = small_job(loss, dir + "/" + out, 20);
    j["train"]["batch_size"] = batch_size;
    fs::create_directories(dir + "/" + out + "-job");
    return write_job(j, dir + "/" + out + "-job");
  };
  Process one({GANSWEEP_TRAINER_BINARY, "--job", job("one")});
  EXPECT_EQ(one.wait(), 0) << one.text;
  Process many(mpirun(ranks, job("many")));
  EXPECT_EQ(many.wait(), 0) << many.text;

  const auto a = checkpoint_parameters(dir + "/one/checkpoint.pt", loss);
  const auto b = checkpoint_parameters(dir + "/many/checkpoint.pt", loss);
  EXPECT_EQ(a.size(), b.size());
  for (const auto& [name, value] : a) {
    const double diff = (value - b.at(name)).norm().item<double>();
    EXPECT_LE(diff, 1e-4 * value.norm().item<double>()) << loss << " " << name;
  }
  return events_of(many.text);
}

class TwoRanksEqualOneProcess : public ::testing::TestWithParam<std::string> {};

TEST_P(TwoRanksEqualOneProcess, AfterTwentyIterations) {
  const auto events = expect_ranks_equal_one_process(GetParam(), 2, 8);
  // Rank 0 alone writes the event stream.
  ASSERT_EQ(count(events, EventType::started), 1);
  EXPECT_EQ(events.front().world_size, 2);
  EXPECT_EQ(count(events, EventType::finished), 1);
}

INSTANTIATE_TEST_SUITE_P(EightLosses, TwoRanksEqualOneProcess,
                         ::testing::Values("ce", "rce", "race", "ls", "rals", "hinge", "rahinge", "rmcos"));

// Three ranks (Open MPI reduces in another order than with two; the ranks must still hold
// identical weights, which every checkpoint checks) on a batch of 12, with a relativistic
// loss: global batch means and synchronized batch norm across three shares.
TEST(ThreeRanksEqualOneProcess, RaLsAfterTwentyIterations) {
  const auto events = expect_ranks_equal_one_process("rals", 3, 12);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().world_size, 3);
}

// Evaluation with two ranks: each generates and extracts its share of every batch (uneven
// here: batches of 16 and 14), the features are gathered in order, rank 0 measures. The
// numbers equal one process's. Each run trains its own classifier (own cache): the training
// is deterministic and the cached file records no per-process name, so the weights hash,
// which labels every stored metric, is the same.
TEST(ParallelEvaluation, TwoRanksMeasureWhatOneProcessMeasures) {
  const std::string dir = testing::temp_dir("dp-eval");
  auto job = [&](const std::string& out) {
    return json{{"job_id", "dp-eval"},
                {"dataset", {{"format", "idx"}, {"name", "fashion-mnist"},
                             {"path", "/usr/share/datasets/fashion-mnist"}, {"limit", 64}}},
                {"loss", "rahinge"},
                {"train", {{"schedule", "iterations"}, {"iterations", 2}, {"batch_size", 8}, {"eval_every", 1},
                           {"threads", 1}, {"dtype", "float64"}}},
                {"metrics", {{"backbone", "classifier"}, {"samples", 30}, {"batch_size", 16},
                             {"fid_sample_counts", {20}}, {"cache_dir", dir + "/cache-" + out}}},
                {"output_dir", dir + "/" + out}};
  };
  fs::create_directories(dir + "/one-job");
  fs::create_directories(dir + "/two-job");
  Process one({GANSWEEP_TRAINER_BINARY, "--job", write_job(job("one"), dir + "/one-job")});
  ASSERT_EQ(one.wait(), 0) << one.text;
  Process two(mpirun(2, write_job(job("two"), dir + "/two-job")));
  ASSERT_EQ(two.wait(), 0) << two.text;

  auto evals = [](const std::string& text) {
    std::vector<EvalMetrics> out;
    for (const auto& e : events_of(text))
      if (e.type == EventType::eval && e.metrics) out.push_back(*e.metrics);
    return out;
  };
  const auto a = evals(one.text), b = evals(two.text);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i].samples, 30);
    EXPECT_EQ(b[i].backbone, a[i].backbone);
    EXPECT_EQ(b[i].weights_sha256, a[i].weights_sha256);
    ASSERT_TRUE(a[i].fid && b[i].fid && a[i].is_mean && b[i].is_mean && a[i].kid_mean && b[i].kid_mean);
    EXPECT_NEAR(*b[i].fid, *a[i].fid, 1e-4 * std::abs(*a[i].fid));
    EXPECT_NEAR(*b[i].is_mean, *a[i].is_mean, 1e-4 * *a[i].is_mean);
    EXPECT_NEAR(*b[i].kid_mean, *a[i].kid_mean, 1e-4 * std::abs(*a[i].kid_mean) + 1e-9);
    ASSERT_EQ(b[i].fid_by_samples.size(), 1u);
    EXPECT_NEAR(b[i].fid_by_samples[0].second, a[i].fid_by_samples[0].second, 1e-4 * a[i].fid_by_samples[0].second);
  }
  // Rank 0 alone wrote the sample grids.
  EXPECT_TRUE(fs::exists(dir + "/two/samples/step_00000002.png"));
}

// Rank `rank`'s process among mpirun's children running `job`.
pid_t rank_pid(const std::string& job, int rank) {
  for (int tries = 0; tries < 200; ++tries) {
    for (const auto& entry : fs::directory_iterator("/proc")) {
      std::ifstream cmdline(entry.path() / "cmdline"), environ(entry.path() / "environ");
      std::string cmd((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
      std::string env((std::istreambuf_iterator<char>(environ)), std::istreambuf_iterator<char>());
      if (cmd.find(job) != std::string::npos &&
          env.find("OMPI_COMM_WORLD_RANK=" + std::to_string(rank) + '\0') != std::string::npos)
        return pid_t(std::stoi(entry.path().filename().string()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

json long_job(const std::string& out, double timeout_s) {
  json job = small_job("rals", out, 100000);
  job["train"]["dtype"] = "float32";
  job["train"]["log_every"] = 1;
  job["parallel"] = {{"backend", "mpi"}, {"timeout_s", timeout_s}};
  return job;
}

// How an mpirun job ended: its exit code, seconds from a signal to its end, its stdout.
struct Ended {
  int code = -1;
  double seconds = 0;
  std::string text;
};

// Starts two ranks of a long job and, once they train (a progress event came), sends `sig`
// to rank 1.
Ended signal_rank_one(const std::string& name, double timeout_s, int sig) {
  const std::string dir = testing::temp_dir(name);
  const std::string job = write_job(long_job(dir + "/out", timeout_s), dir);
  Process p(mpirun(2, job));
  EXPECT_TRUE(p.read_until("\"progress\""));
  const pid_t victim = rank_pid(job, 1);
  EXPECT_GT(victim, 0);
  if (victim <= 0) kill(p.pid, SIGKILL);
  const auto sent = Clock::now();
  if (victim > 0) kill(victim, sig);
  Ended ended;
  ended.code = p.wait();
  ended.seconds = std::chrono::duration<double>(Clock::now() - sent).count();
  ended.text = p.text;
  return ended;
}

// A rank that stops answering (SIGSTOP) ends the job after the timeout, and the failed event
// names it.
TEST(ParallelFailure, AHungRankEndsTheJobWithAFailedEventNamingIt) {
  const Ended ended = signal_rank_one("dp-hung", 3, SIGSTOP);
  EXPECT_NE(ended.code, 0);
  EXPECT_LT(ended.seconds, 3 + 10 + 15);  // the timeout, the grace to hear from live ranks, slack
  const auto events = events_of(ended.text);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, EventType::failed);
  EXPECT_NE(events.back().reason.find("rank 1 did not reach"), std::string::npos) << events.back().reason;
  EXPECT_TRUE(events.back().retryable);
}

// A rank that dies ends the whole job at once (mpirun takes the others down); the worker
// names the rank from mpirun's report (tests/worker).
TEST(ParallelFailure, ADeadRankEndsTheJobPromptly) {
  const Ended ended = signal_rank_one("dp-dead", 300, SIGKILL);
  EXPECT_NE(ended.code, 0);
  EXPECT_LT(ended.seconds, 30.0);
}

// SIGUSR1 to mpirun reaches every rank (mpirun forwards it; a SIGTERM would make it kill
// the ranks a second later); they agree on the step, rank 0 writes the checkpoint, and the
// job exits as preempted.
TEST(ParallelFailure, SigusrPreemptsEveryRankAtTheSameStep) {
  const std::string dir = testing::temp_dir("dp-preempt");
  const std::string job = write_job(long_job(dir + "/out", 60), dir);
  Process p(mpirun(2, job));
  ASSERT_TRUE(p.read_until("\"progress\""));
  kill(p.pid, SIGUSR1);
  EXPECT_EQ(p.wait(), 3);
  const auto events = events_of(p.text);
  ASSERT_GE(events.size(), 2u);
  EXPECT_TRUE(events.back().preempted) << p.text;
  const Event& checkpoint = events[events.size() - 2];
  ASSERT_EQ(checkpoint.type, EventType::checkpoint);
  EXPECT_EQ(checkpoint.step, events.back().step);
  EXPECT_TRUE(fs::exists(checkpoint.checkpoint));
}

TEST(ParallelFailure, ABatchThatDoesNotSplitEvenlyIsBadInput) {
  const std::string dir = testing::temp_dir("dp-uneven");
  json spec = small_job("ls", dir + "/out", 4);
  spec["train"]["batch_size"] = 9;
  Process p(mpirun(2, write_job(spec, dir)));
  EXPECT_EQ(p.wait(), 1);
  const auto events = events_of(p.text);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back().reason.find("not divisible by the 2 ranks"), std::string::npos) << p.text;
}

}  // namespace
}  // namespace gansweep
