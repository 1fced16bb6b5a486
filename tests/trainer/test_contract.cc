#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "trainer/contract/events.h"
#include "trainer/contract/job_spec.h"
#include "trainer/contract/sha256.h"

namespace gansweep {
namespace {

using json = nlohmann::json;

json minimal() {
  return {{"dataset", {{"format", "idx"}, {"path", "/data/fmnist"}}}, {"loss", "rmcos"}, {"output_dir", "/tmp/x"}};
}

std::string error_of(const json& j) {
  try {
    job_spec_from_json(j);
  } catch (const JobSpecError& e) {
    return e.what();
  }
  return "";
}

TEST(JobSpec, DefaultsFollowThePaper) {
  const JobSpec s = job_spec_from_json(minimal());
  EXPECT_EQ(s.loss, Loss::rmcos);
  EXPECT_DOUBLE_EQ(s.margin, 0.15);
  EXPECT_DOUBLE_EQ(s.scale, 10.0);
  EXPECT_EQ(s.train.batch_size, 32);
  EXPECT_DOUBLE_EQ(s.train.lr_d, 2e-4);
  EXPECT_DOUBLE_EQ(s.train.lr_g, 2e-4);
  EXPECT_DOUBLE_EQ(s.train.beta1, 0.5);
  EXPECT_DOUBLE_EQ(s.train.beta2, 0.999);
  EXPECT_EQ(s.train.schedule, Schedule::epochs);
  EXPECT_EQ(s.metrics.samples, 10000);
  EXPECT_EQ(s.dataset.name, "idx");
}

TEST(JobSpec, RoundTripsThroughJson) {
  json j = minimal();
  j["loss"] = "rahinge";
  j["seed"] = 7;
  j["train"] = {{"schedule", "iterations"}, {"iterations", 100001}, {"eval_every", 5000}, {"batch_size", 64},
                {"dtype", "float64"}};
  j["parallel"] = {{"backend", "nccl"}, {"bucket_mb", 8}, {"timeout_s", 60}};
  const JobSpec a = job_spec_from_json(j);
  const JobSpec b = job_spec_from_json(to_json(a));
  EXPECT_EQ(b.train.dtype, "float64");
  EXPECT_EQ(b.parallel.backend, "nccl");
  EXPECT_EQ(b.parallel.bucket_mb, 8);
  EXPECT_EQ(b.parallel.timeout_s, 60);
  EXPECT_EQ(to_json(a), to_json(b));
  EXPECT_EQ(b.loss, Loss::rahinge);
  EXPECT_EQ(b.train.iterations, 100001);
  EXPECT_EQ(b.train.schedule, Schedule::iterations);
  EXPECT_EQ(b.seed, 7u);
}

TEST(JobSpec, AllEightLossesParseAndOnlyTheyDo) {
  int relativistic = 0;
  for (const char* name : {"ce", "rce", "race", "ls", "rals", "hinge", "rahinge", "rmcos"}) {
    EXPECT_EQ(to_string(parse_loss(name)), name);
    relativistic += is_relativistic(parse_loss(name));
  }
  EXPECT_EQ(relativistic, 5);
  EXPECT_THROW(parse_loss("wgan"), JobSpecError);
}

TEST(JobSpec, ErrorsNameTheField) {
  json j = minimal();
  j["loss"] = "wgan-gp";
  EXPECT_NE(error_of(j).find("loss: unknown loss 'wgan-gp'"), std::string::npos) << error_of(j);

  j = minimal();
  j["margin"] = 3.0;
  EXPECT_NE(error_of(j).find("margin"), std::string::npos);

  j = minimal();
  j["train"] = {{"batch_size", "32"}};
  EXPECT_NE(error_of(j).find("train.batch_size: must be an integer"), std::string::npos) << error_of(j);

  j = minimal();
  j["parallel"] = {{"backend", "gloo"}};
  EXPECT_NE(error_of(j).find("parallel.backend: unknown backend 'gloo' (valid: auto, single, mpi, nccl)"),
            std::string::npos) << error_of(j);

  j = minimal();
  j["parallel"] = {{"timeout_s", 0}};
  EXPECT_NE(error_of(j).find("parallel.timeout_s: must lie in [1, 86400]"), std::string::npos) << error_of(j);

  j = minimal();
  j["train"] = {{"dtype", "float16"}};
  EXPECT_NE(error_of(j).find("train.dtype: must be 'float32' or 'float64'"), std::string::npos) << error_of(j);

  j = minimal();
  j["train"] = {{"batch_sise", 32}};
  EXPECT_NE(error_of(j).find("train.batch_sise: unknown key"), std::string::npos) << error_of(j);

  j = minimal();
  j["dataset"] = {{"format", "imagenet"}, {"path", "/x"}};
  EXPECT_NE(error_of(j).find("dataset.format"), std::string::npos);

  j = minimal();
  j.erase("output_dir");
  EXPECT_NE(error_of(j).find("output_dir: missing"), std::string::npos) << error_of(j);

  j = minimal();
  j.erase("dataset");
  EXPECT_NE(error_of(j).find("dataset: missing"), std::string::npos) << error_of(j);

  j = minimal();
  j["train"] = {{"schedule", "iterations"}};
  EXPECT_NE(error_of(j).find("train.iterations"), std::string::npos) << error_of(j);

  j = minimal();
  j["seed"] = -1;
  EXPECT_NE(error_of(j).find("seed: must not be negative"), std::string::npos) << error_of(j);

  j = minimal();
  j["train"] = {{"threads", 4294967297LL}};  // would wrap to 1 in an int
  EXPECT_NE(error_of(j).find("train.threads: out of range"), std::string::npos) << error_of(j);

  j = minimal();
  j["metrics"] = {{"backbone", "inception"}};
  EXPECT_NE(error_of(j).find("metrics.weights"), std::string::npos) << error_of(j);

  j = minimal();
  j["metrics"] = {{"samples", 100}, {"fid_sample_counts", {50, 200}}};
  EXPECT_NE(error_of(j).find("metrics.fid_sample_counts"), std::string::npos) << error_of(j);

  j = minimal();
  j["metrics"] = {{"backbone", "vgg"}};
  EXPECT_NE(error_of(j).find("metrics.backbone: unknown backbone 'vgg'"), std::string::npos) << error_of(j);

  j = minimal();
  j["dataset"]["image_size"] = 32;
  EXPECT_NE(error_of(j).find("dataset.image_size"), std::string::npos) << error_of(j);

  j = {{"dataset", {{"format", "synthetic"}, {"image_size", 40}}}, {"loss", "ce"}, {"output_dir", "/tmp/x"}};
  EXPECT_NE(error_of(j).find("dataset.image_size: must be 32, 48 or 64"), std::string::npos) << error_of(j);
}

TEST(Events, EveryTypeRoundTrips) {
  for (EventType type : {EventType::started, EventType::progress, EventType::eval, EventType::checkpoint,
                         EventType::finished, EventType::failed}) {
    Event e;
    e.type = type;
    e.job_id = "job-1";
    e.step = 12;
    e.epoch = 3;
    e.time = 1.5;
    e.total_steps = 100;
    e.architecture = "cnn32";
    e.loss_d = 0.25;
    e.loss_g = -0.5;
    e.iterations_per_second = 2.0;
    EvalMetrics m;
    m.fid = 31.34;
    m.samples = 10000;
    m.backbone = "inception-2015-12-05";
    m.fid_by_samples = {{5000, 12.5}, {10000, 10.25}};
    e.metrics = m;
    e.sample_grid = "/out/samples/step_00000012.png";
    e.checkpoint = "/out/checkpoint.pt";
    e.reason = "dataset missing";
    e.preempted = true;
    const Event back = event_from_json(to_json(e));
    EXPECT_EQ(to_json(back), to_json(e)) << to_string(type);
    EXPECT_EQ(back.type, type);
    EXPECT_EQ(back.step, 12);
  }
}

TEST(Events, EvalWritesAbsentMetricsAsNull) {
  Event e;
  e.type = EventType::eval;
  e.metrics = EvalMetrics{};
  const json j = to_json(e);
  EXPECT_TRUE(j["metrics"]["fid"].is_null());
  EXPECT_TRUE(j["metrics"]["is_mean"].is_null());
  EXPECT_EQ(j["metrics"]["backbone"], "none");
}

TEST(Events, EmitWritesOneFlushedLineWithATime) {
  std::ostringstream out;
  Event e;
  e.type = EventType::finished;
  emit(out, e);
  const std::string line = out.str();
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_GT(json::parse(line)["time"].get<double>(), 1.6e9);
}

TEST(Events, MalformedLinesAreRejected) {
  EXPECT_THROW(event_from_json(json{{"event", "exploded"}, {"step", 1}, {"epoch", 0}}), std::runtime_error);
  EXPECT_THROW(event_from_json(json{{"event", "progress"}}), std::runtime_error);
}

// FIPS 180-2's examples, and messages whose padding takes one or two blocks (lengths around
// 55/56 and 119/120 bytes); expected values from Python's hashlib.
TEST(Sha256, MatchesTheStandardsExamples) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PadsAtEveryBlockBoundary) {
  const std::pair<size_t, const char*> expected[] = {
      {55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"},
      {56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"},
      {63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"},
      {64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"},
      {119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6"},
      {120, "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c"}};
  for (const auto& [length, hash] : expected) {
    std::string message;
    for (size_t i = 0; i < length; ++i) message += char(i);  // bytes 0, 1, 2, ...
    EXPECT_EQ(sha256_hex(message), hash) << length << " bytes";
  }
}

}  // namespace
}  // namespace gansweep
