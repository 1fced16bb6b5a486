// The job spec: the one input of a trainer run, written by the worker (or by hand) as JSON.
// This is the only definition of it; docs/job-spec.md describes every field.
// Torch-free, so the control plane can build and validate job specs too.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace gansweep {

// The eight losses of the study, named as in the job spec.
enum class Loss { ce, rce, race, ls, rals, hinge, rahinge, rmcos };

// Dataset file formats the trainer reads (trainer/data).
enum class DatasetFormat { cifar10, idx, stl10, cat, synthetic };

// Epochs (the paper's reporting unit; the default) or independent batches (the reference code).
enum class Schedule { epochs, iterations };

// Thrown for any invalid job spec; the message names the field and the problem.
class JobSpecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DatasetSpec {
  DatasetFormat format = DatasetFormat::synthetic;
  std::string name;        // label for reports; defaults to the format's name
  std::string path;        // file or folder; unused for synthetic
  int64_t limit = 0;       // use only the first `limit` images (0 = all)
  int image_size = 32;     // synthetic only; the others are fixed by the format (32/48/64)
  int64_t synthetic_count = 1024;  // synthetic only
};

struct TrainSpec {
  Schedule schedule = Schedule::epochs;
  int64_t epochs = 1;         // schedule == epochs
  int64_t iterations = 0;     // schedule == iterations: number of D+G updates
  int64_t batch_size = 32;    // global batch over all ranks
  double lr_d = 2e-4;
  double lr_g = 2e-4;
  double beta1 = 0.5;
  double beta2 = 0.999;
  int64_t eval_every = 1;       // in epochs or iterations, per the schedule
  int64_t log_every = 50;       // progress event every N iterations
  bool sample_in_eval_mode = false;  // the reference samples with G in train mode
  int threads = 0;              // intra-op threads; 0 = LibTorch's default
  // Precision of weights and activations: float32 as the paper; float64 for exactness
  // checks (float32 rounding alone moves a GAN's weights by ~1e-3 within 20 iterations).
  std::string dtype = "float32";
};

// What each evaluation measures (docs/job-spec.md, docs/metrics.md).
struct MetricsSpec {
  int64_t samples = 10000;            // generated images per evaluation (the paper: 10,000)
  std::vector<int64_t> fid_sample_counts;  // also FID of the first n of them, for each n (Fig. 4b/c)
  std::string backbone = "none";      // "none" (losses and grids only), "inception" or "classifier" (offline)
  std::string weights;                // inception: zip-format state dict with pytorch-fid's names
  std::string weights_sha256;         // optional expected SHA-256 (or a prefix) of `weights`
  std::string fid_reference;          // optional .npz with mu, sigma (e.g. TTUR's CIFAR-10 stats)
  int64_t reference_samples = 0;      // real images for the reference statistics (0 = all)
  int64_t batch_size = 100;           // generation and feature batch (the reference: 100)
  std::string preprocess = "tensorflow";  // or "pytorch-fid" (its resize and scaling)
  std::string cache_dir;              // real-data statistics cache; default ~/.cache/gansweep
};

// How the ranks of a data-parallel job share the work (docs/job-spec.md, docs/gpu.md).
struct ParallelSpec {
  std::string backend = "auto";  // auto | single | mpi | nccl
  double bucket_mb = 25;         // gradients are averaged in buckets of about this size
  double timeout_s = 300;        // a collective waiting longer ends the job (a dead or hung rank)
};

struct JobSpec {
  std::string job_id;
  DatasetSpec dataset;
  Loss loss = Loss::rmcos;
  double margin = 0.15;  // RMCosGAN m; what the paper's 1_train.sh ran (code default 0.35)
  double scale = 10.0;   // RMCosGAN s
  uint64_t seed = 1;
  TrainSpec train;
  MetricsSpec metrics;
  ParallelSpec parallel;
  std::string output_dir;
  bool resume = true;  // continue from output_dir/checkpoint.pt when it exists
};

// Parse and validate; throws JobSpecError naming the offending field.
JobSpec job_spec_from_json(const nlohmann::json& j);
JobSpec load_job_spec(const std::string& path);
nlohmann::json to_json(const JobSpec& spec);

std::string to_string(Loss loss);
std::string to_string(DatasetFormat format);
std::string to_string(Schedule schedule);
Loss parse_loss(const std::string& name);  // throws JobSpecError listing the valid names
DatasetFormat parse_dataset_format(const std::string& name);

// Relativistic losses compare real and fake critics and draw a fresh real batch for the G step.
bool is_relativistic(Loss loss);

}  // namespace gansweep
