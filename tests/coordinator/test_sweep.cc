#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "coordinator/sweep.h"
#include "trainer/contract/job_spec.h"
#include "trainer/contract/sha256.h"

namespace gansweep {
namespace {

using json = nlohmann::json;

// Line numbers in the expectations below refer to this text.
const std::string kBase =
    "name: t\n"                       // 1
    "method: grid\n"                  // 2
    "parameters:\n"                   // 3
    "  dataset:\n"                    // 4
    "    value: synth\n"              // 5
    "  loss:\n"                       // 6
    "    values: [rmcos, ls]\n"       // 7
    "  seed:\n"                       // 8
    "    values: [1, 2, 3]\n"         // 9
    "train:\n"                        // 10
    "  schedule: iterations\n"        // 11
    "  iterations: 2\n"               // 12
    "  batch_size: 8\n"               // 13
    "datasets:\n"                     // 14
    "  synth:\n"                      // 15
    "    format: synthetic\n";        // 16

std::string replaced(const std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  std::string out = text;
  out.replace(at, from.size(), to);
  return out;
}

std::string error_of(const std::string& yaml) {
  try {
    parse_sweep(yaml, "t.yaml");
  } catch (const SweepError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SweepParse, ReadsEveryField) {
  const Sweep s = parse_sweep(kBase, "t.yaml");
  EXPECT_EQ(s.name, "t");
  EXPECT_EQ(s.method, SweepMethod::grid);
  ASSERT_EQ(s.parameters.size(), 3u);
  EXPECT_EQ(s.parameters[0].name, "dataset");
  EXPECT_EQ(s.parameters[1].values, (std::vector<json>{"rmcos", "ls"}));
  EXPECT_EQ(s.train["batch_size"], 8);
  EXPECT_EQ(s.datasets.at("synth")["format"], "synthetic");
  EXPECT_EQ(s.gpus, 1);
  EXPECT_EQ(s.retries, 2);
  EXPECT_EQ(s.placement, Placement::any);
  EXPECT_EQ(s.content_hash.size(), 64u);
}

TEST(SweepParse, UnknownKeysSuggestTheNearestValidOne) {
  EXPECT_EQ(error_of(replaced(kBase, "train:", "trian:")),
            "t.yaml:10: trian: unknown key 'trian' (did you mean 'train'?)");
  EXPECT_EQ(error_of(replaced(kBase, "  loss:", "  lossses:")),
            "t.yaml:6: parameters.lossses: unknown key 'lossses' (did you mean 'loss'?)");
  EXPECT_EQ(error_of(replaced(kBase, "batch_size", "batch_sise")),
            "t.yaml:13: train.batch_sise: unknown key 'batch_sise' (did you mean 'batch_size'?)");
  // Nothing close: list the valid keys instead of guessing.
  EXPECT_EQ(error_of(replaced(kBase, "  seed:", "  zzzzzzzzzz:")),
            "t.yaml:8: parameters.zzzzzzzzzz: unknown key 'zzzzzzzzzz' (valid: dataset, loss, margin, "
            "scale, seed)");
}

TEST(SweepParse, UnknownLossNamesTheListItem) {
  EXPECT_EQ(error_of(replaced(kBase, "[rmcos, ls]", "[rmcos, ls, wgan]")),
            "t.yaml:7: parameters.loss.values[2]: unknown loss 'wgan' (valid: ce, rce, race, ls, "
            "rals, hinge, rahinge, rmcos)");
}

TEST(SweepParse, UnknownDatasetSuggestsADefinedOne) {
  EXPECT_EQ(error_of(replaced(kBase, "value: synth", "value: synht")),
            "t.yaml:5: parameters.dataset.value: unknown dataset 'synht' (did you mean 'synth'?) "
            "(defined under datasets: synth)");
}

TEST(SweepParse, WrongTypesAreRejected) {
  EXPECT_EQ(error_of(replaced(kBase, "batch_size: 8", "batch_size: eight")),
            "t.yaml:13: train.batch_size: must be an integer, not 'eight'");
  // Quoted means string, even when it looks like a number.
  EXPECT_EQ(error_of(replaced(kBase, "batch_size: 8", "batch_size: \"8\"")),
            "t.yaml:13: train.batch_size: must be an integer, not '8'");
  EXPECT_EQ(error_of(replaced(kBase, "[1, 2, 3]", "[1, 2.5, 3]")),
            "t.yaml:9: parameters.seed.values[1]: must be an integer, not '2.5'");
  EXPECT_EQ(error_of(kBase + "metrics: 5\n"), "t.yaml:17: metrics: must be a mapping of keys to values");
  EXPECT_EQ(error_of(kBase + "metrics:\n  samples: 100\n  fid_sample_counts: 50\n"),
            "t.yaml:19: metrics.fid_sample_counts: must be a list of integers");
  EXPECT_EQ(error_of(kBase + "metrics:\n  samples: 100\n  fid_sample_counts: [50, x]\n"),
            "t.yaml:19: metrics.fid_sample_counts[1]: must be an integer, not 'x'");
  EXPECT_EQ(error_of(replaced(kBase, "values: [1, 2, 3]", "values: 3")),
            "t.yaml:9: parameters.seed.values: must be a non-empty list");
}

TEST(SweepParse, OutOfRangeValuesAreRejected) {
  const std::string with_margin = replaced(kBase, "  seed:\n", "  margin:\n    values: [0.1, 3]\n  seed:\n");
  EXPECT_EQ(error_of(with_margin),
            "t.yaml:9: parameters.margin.values[1]: must lie in [0, 2] (cosines differ by at most 2)");
  EXPECT_EQ(error_of(replaced(kBase, "[1, 2, 3]", "[1, -2, 3]")),
            "t.yaml:9: parameters.seed.values[1]: must lie in [0, 9223372036854775807], not -2");
  EXPECT_EQ(error_of(kBase + "resources:\n  gpus: 0\n"),
            "t.yaml:18: resources.gpus: must lie in [1, 64], not 0");
}

TEST(SweepParse, TrainerRulesAreReportedAtTheSweepLine) {
  // These come from job_spec_from_json, mapped back to where the field is in the sweep.
  EXPECT_EQ(error_of(replaced(kBase, "batch_size: 8", "batch_size: 1")),
            "t.yaml:13: train.batch_size: must lie in [2, 4096] (in job dataset=synth,loss=rmcos,seed=1)");
  EXPECT_EQ(error_of(replaced(kBase, "format: synthetic", "format: idx")),
            "t.yaml:15: datasets.synth.path: missing");
  EXPECT_EQ(error_of(replaced(kBase, "format: synthetic", "format: jpeg")),
            "t.yaml:16: datasets.synth.format: unknown dataset format 'jpeg' (valid: cifar10, idx, "
            "stl10, cat, synthetic)");
}

TEST(SweepParse, StructuralErrors) {
  EXPECT_EQ(error_of(replaced(kBase, "method: grid\n", "")), "t.yaml:1: method: missing");
  EXPECT_EQ(error_of(replaced(kBase, "method: grid", "method: gird")),
            "t.yaml:2: method: unknown method 'gird' (did you mean 'grid'?) (valid: grid, random)");
  EXPECT_EQ(error_of(replaced(kBase, "[1, 2, 3]", "[1, 2, 1]")),
            "t.yaml:9: parameters.seed.values[2]: repeats 1 (each job would run twice)");
  EXPECT_EQ(error_of(replaced(kBase, "values: [1, 2, 3]", "distribution: int_uniform\n    min: 1\n    max: 9")),
            "t.yaml:9: parameters.seed.distribution: only with method: random (a grid needs 'values')");
  EXPECT_EQ(error_of(replaced(kBase, "  iterations: 2\n", "  iterations: 2\n  iterations: 3\n")),
            "t.yaml:13: train.iterations: given twice");
  EXPECT_EQ(error_of(replaced(kBase, "[rmcos, ls]", "[rmcos, ls")).rfind("t.yaml:8: (top level): not valid YAML", 0), 0u);
  EXPECT_EQ(error_of(kBase + "placement: every_worker\n"),
            "t.yaml:17: placement: unknown placement 'every_worker' (did you mean 'every-worker'?) "
            "(valid: any, every-worker)");
}

TEST(SweepExpand, GridIsTheCartesianProductInDocumentedOrder) {
  const std::vector<ExpandedJob> jobs = expand_sweep(parse_sweep(kBase, "t.yaml"));
  ASSERT_EQ(jobs.size(), 6u);  // 1 dataset x 2 losses x 3 seeds; seed varies fastest
  EXPECT_EQ(jobs[0].key, "dataset=synth,loss=rmcos,seed=1");
  EXPECT_EQ(jobs[1].key, "dataset=synth,loss=rmcos,seed=2");
  EXPECT_EQ(jobs[3].key, "dataset=synth,loss=ls,seed=1");
  EXPECT_EQ(jobs[5].key, "dataset=synth,loss=ls,seed=3");
  for (const auto& job : jobs) {
    const JobSpec spec = job_spec_from_json(job.spec);  // the trainer accepts every job
    EXPECT_EQ(spec.output_dir, "jobs/" + job.key);
    EXPECT_EQ(spec.job_id, "t/" + job.key);
    EXPECT_EQ(spec.dataset.name, "synth");
    EXPECT_EQ(spec.train.batch_size, 8);
  }
  EXPECT_EQ(job_spec_from_json(jobs[4].spec).loss, Loss::ls);
  EXPECT_EQ(job_spec_from_json(jobs[4].spec).seed, 2u);

  const std::vector<ExpandedJob> again = expand_sweep(parse_sweep(kBase, "t.yaml"));
  ASSERT_EQ(again.size(), jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(again[i].key, jobs[i].key);
    EXPECT_EQ(again[i].spec, jobs[i].spec);
  }
}

TEST(SweepExpand, ADatasetsFidReferenceGoesToItsJobsMetrics) {
  const std::string text = kBase + "    fid_reference: /stats/synth.npz\nmetrics:\n  samples: 64\n";
  const Sweep sweep = parse_sweep(text, "t.yaml");
  const std::vector<ExpandedJob> jobs = expand_sweep(sweep);
  const JobSpec spec = job_spec_from_json(jobs[0].spec);
  EXPECT_EQ(spec.metrics.fid_reference, "/stats/synth.npz");
  EXPECT_EQ(spec.metrics.samples, 64);
  EXPECT_FALSE(jobs[0].spec["dataset"].contains("fid_reference"));
  EXPECT_EQ(sweep.canonical["datasets"]["synth"]["fid_reference"], "/stats/synth.npz");
}

TEST(SweepExpand, TheParallelSectionGoesToEveryJobAndOnlyThenIntoTheHash) {
  const Sweep plain = parse_sweep(kBase, "t.yaml");
  EXPECT_FALSE(plain.canonical.contains("parallel"));  // hashes of older sweep files stay the same
  const Sweep sweep = parse_sweep(kBase + "parallel:\n  backend: mpi\n  timeout_s: 60\n", "t.yaml");
  const JobSpec spec = job_spec_from_json(expand_sweep(sweep)[0].spec);
  EXPECT_EQ(spec.parallel.backend, "mpi");
  EXPECT_EQ(spec.parallel.timeout_s, 60);
  EXPECT_NE(sweep.content_hash, plain.content_hash);
  EXPECT_EQ(error_of(kBase + "parallel:\n  backend: gloo\n"),
            "t.yaml:18: parallel.backend: unknown backend 'gloo' (valid: auto, single, mpi, nccl) "
            "(in job dataset=synth,loss=rmcos,seed=1)");
}

const std::string kRandom =
    "name: r\n"
    "method: random\n"
    "count: 25\n"
    "seed: 7\n"
    "parameters:\n"
    "  dataset: {value: synth}\n"
    "  loss: {values: [rmcos, hinge]}\n"
    "  margin: {distribution: uniform, min: 0, max: 1}\n"
    "  scale: {distribution: log_uniform, min: 1, max: 100}\n"
    "  seed: {distribution: int_uniform, min: 1, max: 1000}\n"
    "datasets:\n"
    "  synth: {format: synthetic}\n";

TEST(SweepExpand, RandomIsSeededDistinctAndInRange) {
  const std::vector<ExpandedJob> jobs = expand_sweep(parse_sweep(kRandom, "r.yaml"));
  ASSERT_EQ(jobs.size(), 25u);
  std::set<std::string> keys;
  std::set<std::string> losses;
  for (const auto& job : jobs) {
    keys.insert(job.key);
    const JobSpec spec = job_spec_from_json(job.spec);
    losses.insert(to_string(spec.loss));
    EXPECT_GE(spec.margin, 0.0);
    EXPECT_LE(spec.margin, 1.0);
    EXPECT_GE(spec.scale, 1.0);
    EXPECT_LE(spec.scale, 100.0);
    EXPECT_GE(spec.seed, 1u);
    EXPECT_LE(spec.seed, 1000u);
  }
  EXPECT_EQ(keys.size(), 25u);
  EXPECT_EQ(losses, (std::set<std::string>{"hinge", "rmcos"}));

  // The same seed gives the same jobs; another seed gives others.
  const std::vector<ExpandedJob> again = expand_sweep(parse_sweep(kRandom, "r.yaml"));
  for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(again[i].spec, jobs[i].spec);
  const std::vector<ExpandedJob> other = expand_sweep(parse_sweep(replaced(kRandom, "seed: 7", "seed: 8"), "r.yaml"));
  EXPECT_NE(other[0].key, jobs[0].key);
}

TEST(SweepParse, DistributionsAreChecked) {
  EXPECT_EQ(error_of(replaced(kRandom, "max: 1000", "max: 0")), "t.yaml:10: parameters.seed.max: must be >= min");
  EXPECT_EQ(error_of(replaced(kRandom, "{distribution: uniform, min: 0, max: 1}", "{distribution: log_uniform, min: 0, max: 1}")),
            "t.yaml:8: parameters.margin.min: must be > 0 for log_uniform");
  EXPECT_EQ(error_of(replaced(kRandom, "int_uniform", "uniform")),
            "t.yaml:10: parameters.seed.distribution: seed needs int_uniform");
  EXPECT_EQ(error_of(replaced(kRandom, "{distribution: uniform, min: 0, max: 1}", "{distribution: unifrom, min: 0, max: 1}")),
            "t.yaml:8: parameters.margin.distribution: unknown distribution 'unifrom' (did you mean 'uniform'?) "
            "(valid: uniform, int_uniform, log_uniform)");
  EXPECT_EQ(error_of(replaced(kRandom, "min: 0, max: 1}", "min: 0, max: 3}")),
            "t.yaml:8: parameters.margin.max: must lie in [0, 2] (cosines differ by at most 2)");
  EXPECT_EQ(error_of(replaced(kRandom, "{values: [rmcos, hinge]}", "{valeus: [rmcos, hinge]}")),
            "t.yaml:7: parameters.loss.valeus: unknown key 'valeus' (did you mean 'values'?)");
  EXPECT_EQ(error_of(replaced(kRandom, "count: 25\n", "")), "t.yaml:1: count: missing");
  EXPECT_EQ(error_of(replaced(kRandom, "max: 1000}", "max: 10000000000000000}")),
            "t.yaml:10: parameters.seed.max: must be at most 9007199254740992 (2^53) for int_uniform");
}

TEST(SweepExpand, RandomRefusesMoreJobsThanTheSpaceHolds) {
  const std::string small = "name: r\nmethod: random\ncount: 5\nparameters:\n  dataset: {value: s}\n"
                            "  loss: {values: [ce, ls]}\ndatasets:\n  s: {format: synthetic}\n";
  EXPECT_EQ(error_of(small),
            "t.yaml:3: count: 5 distinct jobs requested, but only 2 found in 500 draws: the parameter "
            "space is too small");
}

TEST(SweepHash, FollowsContentNotFormatting) {
  const Sweep a = parse_sweep(kBase, "t.yaml");
  const Sweep reformatted =
      parse_sweep("# a comment\n" + replaced(kBase, "values: [rmcos, ls]", "values:\n      - rmcos\n      - ls"),
                  "t.yaml");
  EXPECT_EQ(a.content_hash, reformatted.content_hash);
  const Sweep changed = parse_sweep(replaced(kBase, "batch_size: 8", "batch_size: 16"), "t.yaml");
  EXPECT_NE(a.content_hash, changed.content_hash);
}

TEST(SweepHash, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(EditDistance, CountsInsertionsDeletionsSubstitutionsAndSwaps) {
  EXPECT_EQ(edit_distance("lossses", "losses"), 1u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("valeus", "values"), 1u);  // a swap of neighbours costs 1
  EXPECT_EQ(edit_distance("valeus", "value"), 2u);
}

TEST(ReadySweeps, EveryFileParsesAndExpandsToTheDocumentedCount) {
  const std::map<std::string, size_t> expected = {{"smoke.yaml", 4},    // 2 losses x 2 seeds
                                                  {"demo.yaml", 2},     // rmcos, ls
                                                  {"losses.yaml", 96},  // 8 x 4 datasets x 3 seeds
                                                  {"margins.yaml", 90},  // 15 margins x 2 x 3 seeds
                                                  {"variance.yaml", 10}};  // 10 seeds
  std::set<std::string> seen;
  for (const auto& entry : std::filesystem::directory_iterator(GANSWEEP_SWEEPS_DIR)) {
    const std::string file = entry.path().filename().string();
    if (entry.path().extension() != ".yaml") continue;
    seen.insert(file);
    ASSERT_TRUE(expected.count(file)) << file << " has no expected job count in this test";
    const Sweep sweep = load_sweep(entry.path().string());
    EXPECT_EQ(sweep.name + ".yaml", file);
    EXPECT_EQ(expand_sweep(sweep).size(), expected.at(file)) << file;
  }
  EXPECT_EQ(seen.size(), expected.size());
  EXPECT_EQ(load_sweep(std::string(GANSWEEP_SWEEPS_DIR) + "/variance.yaml").placement, Placement::every_worker);
}

TEST(ReadySweeps, MissingFileIsAClearError) {
  EXPECT_THROW(load_sweep("/nonexistent/sweep.yaml"), SweepError);
}

}  // namespace
}  // namespace gansweep
