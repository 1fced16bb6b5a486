// The event stream: what a trainer run reports, one JSON object per line on stdout (rank 0).
// This is the only definition of it; docs/events.md describes every field. Torch-free, so
// the worker parses exactly what the trainer writes.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace gansweep {

enum class EventType { started, progress, eval, checkpoint, finished, failed };

// Filled in by the metrics component; every value names the network that produced it.
struct EvalMetrics {
  std::optional<double> fid;
  std::optional<double> is_mean, is_std;
  std::optional<double> kid_mean, kid_std;
  std::vector<std::pair<int64_t, double>> fid_by_samples;  // FID of the first n samples (Fig. 4b/c)
  int64_t samples = 0;
  std::string backbone = "none";
  std::string weights_sha256;
};

struct Event {
  EventType type = EventType::progress;
  std::string job_id;
  int64_t step = 0;   // number of completed D+G updates
  int64_t epoch = 0;  // number of completed epochs (epoch schedule), else 0
  double time = 0;    // seconds since the Unix epoch

  // started
  int64_t total_steps = 0;
  bool resumed = false;
  std::string architecture;
  int64_t g_parameters = 0, d_parameters = 0;
  int64_t dataset_images = 0;
  int world_size = 1;

  // progress (loss_* of the last iteration) and eval (means since the previous eval)
  std::optional<double> loss_d, loss_g;
  std::optional<double> iterations_per_second;

  // eval
  std::optional<EvalMetrics> metrics;
  std::string sample_grid;
  double eval_seconds = 0;

  // checkpoint
  std::string checkpoint;

  // failed: why, and whether it is worth retrying
  std::string reason;
  bool retryable = false;
  bool preempted = false;  // stopped by SIGTERM after writing a checkpoint
};

nlohmann::json to_json(const Event& e);
Event event_from_json(const nlohmann::json& j);  // throws std::runtime_error naming the field
std::string to_string(EventType t);

// Writes one event as one line and flushes, so a reader sees it at once.
void emit(std::ostream& out, Event e);

}  // namespace gansweep
