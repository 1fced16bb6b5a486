#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <stb/stb_image.h>

#include "fixtures.h"
#include "process.h"
#include "metrics/evaluator.h"
#include "metrics/weights.h"
#include "trainer/contract/events.h"
#include "trainer/training.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

JobSpec synthetic_job(const std::string& name, Loss loss = Loss::rmcos) {
  JobSpec s;
  s.job_id = name;
  s.dataset.format = DatasetFormat::synthetic;
  s.dataset.name = "synthetic";
  s.dataset.synthetic_count = 32;
  s.loss = loss;
  s.seed = 11;
  s.train.batch_size = 8;
  s.train.log_every = 1;
  s.train.schedule = Schedule::iterations;
  s.train.iterations = 4;
  s.train.eval_every = 1000;
  s.output_dir = testing::temp_dir("train-" + name);
  return s;
}

struct TrainingRun {
  int code = -1;
  std::vector<Event> events;
  std::vector<std::pair<int64_t, std::pair<double, double>>> losses;  // step -> (D, G)

  const Event* last(EventType t) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it)
      if (it->type == t) return &*it;
    return nullptr;
  }
  int count(EventType t) const {
    return int(std::count_if(events.begin(), events.end(), [&](const Event& e) { return e.type == t; }));
  }
};

TrainingRun parse(const std::string& text) {
  TrainingRun r;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    r.events.push_back(event_from_json(json::parse(line)));
    const Event& e = r.events.back();
    if (e.type == EventType::progress) r.losses.push_back({e.step, {*e.loss_d, *e.loss_g}});
  }
  return r;
}

TrainingRun run(const JobSpec& spec, const RunHooks& hooks = {}) {
  std::ostringstream out;
  const int code = run_job(spec, out, hooks);
  TrainingRun r = parse(out.str());
  r.code = code;
  return r;
}

TEST(Training, SameSpecAndSeedGiveIdenticalLosses) {
  const JobSpec spec = synthetic_job("determinism");
  const TrainingRun a = run(spec);
  fs::remove_all(spec.output_dir);
  const TrainingRun b = run(spec);
  ASSERT_EQ(a.code, kExitFinished);
  ASSERT_EQ(a.losses.size(), 4u);
  EXPECT_EQ(a.losses, b.losses);
  JobSpec other = spec;
  other.seed = 12;
  other.output_dir = testing::temp_dir("determinism-other-seed");
  EXPECT_NE(run(other).losses, a.losses);
}

TEST(Training, EventsComeInOrderWithEvalsOnTheReferenceSchedule) {
  JobSpec spec = synthetic_job("schedule");
  spec.train.iterations = 7;
  spec.train.eval_every = 3;  // after updates i = 0, 3, 6 (steps 1, 4, 7), as i % 3 == 0
  const TrainingRun r = run(spec);
  ASSERT_EQ(r.code, kExitFinished);
  EXPECT_EQ(r.events.front().type, EventType::started);
  EXPECT_EQ(r.events.front().g_parameters, 3812355);
  EXPECT_EQ(r.events.front().total_steps, 7);
  EXPECT_EQ(r.events.back().type, EventType::finished);
  std::vector<int64_t> eval_steps;
  for (const auto& e : r.events)
    if (e.type == EventType::eval) eval_steps.push_back(e.step);
  EXPECT_EQ(eval_steps, (std::vector<int64_t>{1, 4, 7}));
  const Event* eval = r.last(EventType::eval);
  ASSERT_TRUE(eval && eval->metrics);
  EXPECT_EQ(eval->metrics->backbone, "none");
  // Eval losses are the means since the previous evaluation (steps 5..7).
  double mean_d = 0;
  for (int i = 4; i < 7; ++i) mean_d += r.losses[size_t(i)].second.first / 3;
  EXPECT_NEAR(*eval->loss_d, mean_d, 1e-9);
  // An 8x8 grid of 32 px images with 2 px padding.
  int w = 0, h = 0, c = 0;
  unsigned char* png = stbi_load(eval->sample_grid.c_str(), &w, &h, &c, 3);
  ASSERT_NE(png, nullptr) << eval->sample_grid;
  stbi_image_free(png);
  EXPECT_EQ(w, 8 * 34 + 2);
  EXPECT_EQ(h, 8 * 34 + 2);
  EXPECT_EQ(r.count(EventType::checkpoint), 3);
}

TEST(Training, EpochScheduleShufflesEveryEpochAndSeesEveryImage) {
  JobSpec spec = synthetic_job("epochs");
  spec.train.schedule = Schedule::epochs;
  spec.train.epochs = 2;
  spec.train.eval_every = 1;
  std::vector<std::vector<int64_t>> d_batches;
  RunHooks hooks;
  hooks.on_real_batch = [&](bool g_step, const std::vector<int64_t>& idx) {
    if (!g_step) d_batches.push_back(idx);
  };
  const TrainingRun r = run(spec, hooks);
  ASSERT_EQ(r.code, kExitFinished);
  ASSERT_EQ(d_batches.size(), 8u);  // 32 images / batch 8 = 4 iterations per epoch
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> seen;
    for (int b = 0; b < 4; ++b) seen.insert(seen.end(), d_batches[size_t(epoch * 4 + b)].begin(), d_batches[size_t(epoch * 4 + b)].end());
    std::sort(seen.begin(), seen.end());
    std::vector<int64_t> all(32);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(seen, all) << "epoch " << epoch;
  }
  EXPECT_NE(d_batches[0], d_batches[4]);  // a new permutation
  EXPECT_EQ(r.count(EventType::eval), 2);
  EXPECT_EQ(r.last(EventType::finished)->epoch, 2);
}

TEST(Training, RelativisticLossesDrawAFreshRealBatchForTheGStep) {
  for (Loss loss : {Loss::ce, Loss::rce, Loss::race, Loss::ls, Loss::rals, Loss::hinge, Loss::rahinge, Loss::rmcos}) {
    JobSpec spec = synthetic_job("fresh-" + to_string(loss), loss);
    spec.train.iterations = 2;
    std::vector<std::pair<bool, std::vector<int64_t>>> batches;
    RunHooks hooks;
    hooks.on_real_batch = [&](bool g_step, const std::vector<int64_t>& idx) { batches.push_back({g_step, idx}); };
    ASSERT_EQ(run(spec, hooks).code, kExitFinished) << to_string(loss);
    if (!is_relativistic(loss)) {
      ASSERT_EQ(batches.size(), 2u) << to_string(loss);
      EXPECT_FALSE(batches[0].first || batches[1].first);
      continue;
    }
    ASSERT_EQ(batches.size(), 4u) << to_string(loss);
    for (int i = 0; i < 2; ++i) {
      EXPECT_FALSE(batches[size_t(2 * i)].first);
      EXPECT_TRUE(batches[size_t(2 * i + 1)].first);
      EXPECT_NE(batches[size_t(2 * i)].second, batches[size_t(2 * i + 1)].second) << to_string(loss);
      auto g = batches[size_t(2 * i + 1)].second;
      std::sort(g.begin(), g.end());
      EXPECT_EQ(std::unique(g.begin(), g.end()), g.end()) << "a batch is drawn without replacement";
    }
  }
}

TEST(Training, ResumeMidEpochContinuesExactlyAsTheUninterruptedRun) {
  JobSpec spec = synthetic_job("resume-straight", Loss::rahinge);
  spec.train.schedule = Schedule::epochs;
  spec.train.epochs = 2;
  const TrainingRun straight = run(spec);
  ASSERT_EQ(straight.code, kExitFinished);
  ASSERT_EQ(straight.losses.size(), 8u);

  // Stop after step 3 (mid-epoch: 4 steps per epoch), then resume in the same folder.
  spec.output_dir = testing::temp_dir("resume-interrupted");
  int d_batches = 0;
  RunHooks hooks;
  hooks.on_real_batch = [&](bool g_step, const std::vector<int64_t>&) {
    if (!g_step && ++d_batches == 3) request_stop();
  };
  const TrainingRun first = run(spec, hooks);
  ASSERT_EQ(first.code, kExitPreempted);
  ASSERT_TRUE(first.last(EventType::failed));
  EXPECT_TRUE(first.last(EventType::failed)->preempted);
  EXPECT_EQ(first.last(EventType::checkpoint)->step, 3);
  const TrainingRun second = run(spec);
  ASSERT_EQ(second.code, kExitFinished);
  EXPECT_TRUE(second.events.front().resumed);
  auto joined = first.losses;
  joined.insert(joined.end(), second.losses.begin(), second.losses.end());
  EXPECT_EQ(joined, straight.losses);
}

TEST(Training, BadInputFailsBeforeTrainingWithAReason) {
  JobSpec spec = synthetic_job("bad-data");
  spec.dataset.format = DatasetFormat::idx;
  spec.dataset.path = "/nonexistent/fashion";
  TrainingRun r = run(spec);
  EXPECT_EQ(r.code, kExitBadInput);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].type, EventType::failed);
  EXPECT_FALSE(r.events[0].retryable);
  EXPECT_NE(r.events[0].reason.find("/nonexistent/fashion"), std::string::npos) << r.events[0].reason;

  spec = synthetic_job("tiny-data");
  spec.dataset.synthetic_count = 5;  // fewer than one batch
  r = run(spec);
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_NE(r.events.at(0).reason.find("fewer than one batch"), std::string::npos);
}

TEST(Training, CorruptOrForeignCheckpointsAreRefusedAndKept) {
  JobSpec spec = synthetic_job("bad-checkpoint");
  const std::string path = spec.output_dir + "/checkpoint.pt";
  testing::write_bytes(path, {'P', 'K', 3, 4, 'x'});
  TrainingRun r = run(spec);
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_NE(r.events.at(0).reason.find("unreadable"), std::string::npos) << r.events.at(0).reason;
  EXPECT_EQ(fs::file_size(path), 5u);

  spec = synthetic_job("foreign-checkpoint");
  spec.train.iterations = 1;
  ASSERT_EQ(run(spec).code, kExitFinished);
  spec.loss = Loss::hinge;
  spec.train.iterations = 2;
  r = run(spec);
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_NE(r.events.at(0).reason.find("belongs to another job"), std::string::npos) << r.events.at(0).reason;
  spec.loss = Loss::rmcos;
  spec.resume = false;  // a fresh start must not overwrite what the folder holds
  r = run(spec);
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_NE(r.events.at(0).reason.find("already holds a checkpoint"), std::string::npos) << r.events.at(0).reason;
}

TEST(Training, EvaluationsMeasureFidIsAndKidWithTheInceptionBackbone) {
  const std::string dir = testing::temp_dir("metrics-backbone");
  FidInception net;
  randomize_inception(*net, 5);
  const std::string weights = dir + "/inception-random.pth";
  save_inception_weights(*net, weights);

  JobSpec spec = synthetic_job("metrics");
  spec.train.iterations = 2;
  spec.metrics.backbone = "inception";
  spec.metrics.weights = weights;
  spec.metrics.weights_sha256 = sha256_file(weights).substr(0, 8);
  spec.metrics.samples = 20;
  spec.metrics.batch_size = 10;
  spec.metrics.reference_samples = 24;
  spec.metrics.cache_dir = dir + "/cache";
  spec.metrics.fid_sample_counts = {10, 20};
  const TrainingRun r = run(spec);
  ASSERT_EQ(r.code, kExitFinished);
  const Event* eval = r.last(EventType::eval);
  ASSERT_TRUE(eval && eval->metrics);
  const EvalMetrics& m = *eval->metrics;
  EXPECT_EQ(m.backbone, kInceptionBackbone);
  EXPECT_EQ(m.weights_sha256, sha256_file(weights));
  EXPECT_EQ(m.samples, 20);
  ASSERT_TRUE(m.fid && m.is_mean && m.is_std && m.kid_mean && m.kid_std);
  EXPECT_TRUE(std::isfinite(*m.fid));
  EXPECT_GT(*m.fid, 0.0);
  EXPECT_GE(*m.is_mean, 1.0 - 1e-9);
  EXPECT_LE(*m.is_mean, 1008.0);
  // FID of the first 10 and of all 20 samples, from the same features (Fig. 4b/c).
  ASSERT_EQ(m.fid_by_samples.size(), 2u);
  EXPECT_EQ(m.fid_by_samples[1].first, 20);
  EXPECT_DOUBLE_EQ(m.fid_by_samples[1].second, *m.fid);
  EXPECT_NE(m.fid_by_samples[0].second, *m.fid);
  // The real-data reference is cached for the next job on the same data and weights.
  ASSERT_EQ(std::distance(fs::directory_iterator(dir + "/cache"), fs::directory_iterator()), 1);

  spec.metrics.weights = dir + "/nowhere.pth";
  spec.output_dir = testing::temp_dir("metrics-bad-weights");
  const TrainingRun bad = run(spec);
  EXPECT_EQ(bad.code, kExitBadInput);
  ASSERT_EQ(bad.events.size(), 1u);
  EXPECT_NE(bad.events[0].reason.find("metrics.weights"), std::string::npos) << bad.events[0].reason;
}

TEST(TrainerProcess, TrainsOnRealFashionMnistFiles) {
  const std::string dir = testing::temp_dir("process-fmnist");
  const json job = {{"job_id", "fmnist"},
                    {"dataset", {{"format", "idx"}, {"name", "fashion-mnist"},
                                 {"path", "/usr/share/datasets/fashion-mnist"}, {"limit", 48}}},
                    {"loss", "ls"},
                    {"train", {{"epochs", 1}, {"batch_size", 16}, {"log_every", 1}}},
                    {"metrics", {{"backbone", "classifier"}, {"samples", 40}, {"cache_dir", dir + "/cache"}}},
                    {"output_dir", dir + "/out"}};
  Process p({GANSWEEP_TRAINER_BINARY, "--job", write_job(job, dir)});
  EXPECT_EQ(p.wait(), 0);
  const TrainingRun r = parse(p.text);
  ASSERT_FALSE(r.events.empty());
  EXPECT_EQ(r.events.front().dataset_images, 48);
  // The offline backbone, trained on the Fashion-MNIST labels, measures the evaluation.
  const Event* eval = r.last(EventType::eval);
  ASSERT_TRUE(eval && eval->metrics && eval->metrics->fid && eval->metrics->is_mean && eval->metrics->kid_mean);
  EXPECT_EQ(eval->metrics->backbone, "classifier/fashion-mnist");
  EXPECT_EQ(eval->metrics->samples, 40);
  EXPECT_GT(*eval->metrics->fid, 0.0);
  EXPECT_GE(*eval->metrics->is_mean, 1.0 - 1e-9);
  EXPECT_LE(*eval->metrics->is_mean, 10.0);
  EXPECT_EQ(r.losses.size(), 3u);
  EXPECT_EQ(r.events.back().type, EventType::finished);
  EXPECT_EQ(r.events.back().epoch, 1);
  EXPECT_TRUE(fs::exists(dir + "/out/checkpoint.pt"));
}

TEST(TrainerProcess, InvalidJobExitsNonZeroWithAFailedEvent) {
  const std::string dir = testing::temp_dir("process-invalid");
  const json job = {{"dataset", {{"format", "synthetic"}}}, {"loss", "wgan"}, {"output_dir", dir + "/out"}};
  Process p({GANSWEEP_TRAINER_BINARY, "--job", write_job(job, dir)});
  EXPECT_EQ(p.wait(), kExitBadInput);
  const TrainingRun r = parse(p.text);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_NE(r.events[0].reason.find("unknown loss 'wgan'"), std::string::npos) << r.events[0].reason;
  EXPECT_FALSE(fs::exists(dir + "/out"));
}

TEST(TrainerProcess, SigtermCheckpointsAndExitsAsPreempted) {
  const std::string dir = testing::temp_dir("process-sigterm");
  const json job = {{"job_id", "long"},
                    {"dataset", {{"format", "synthetic"}, {"synthetic_count", 64}}},
                    {"loss", "rmcos"},
                    {"train", {{"schedule", "iterations"}, {"iterations", 100000}, {"batch_size", 8},
                               {"log_every", 1}, {"eval_every", 100000}}},
                    {"output_dir", dir + "/out"}};
  Process p({GANSWEEP_TRAINER_BINARY, "--job", write_job(job, dir)});
  ASSERT_TRUE(p.read_until("\"progress\""));
  kill(p.pid, SIGTERM);
  EXPECT_EQ(p.wait(), kExitPreempted);
  const TrainingRun r = parse(p.text);
  ASSERT_EQ(r.events.back().type, EventType::failed);
  EXPECT_TRUE(r.events.back().preempted);
  EXPECT_TRUE(r.events.back().retryable);
  ASSERT_TRUE(r.last(EventType::checkpoint));
  EXPECT_TRUE(fs::exists(r.last(EventType::checkpoint)->checkpoint));
}

}  // namespace
}  // namespace gansweep
