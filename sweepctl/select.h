// What tables and plots share: the metric and evaluation asked for, filtering and grouping
// jobs by parameters, choosing one backbone, and mean ± sample std over seeds.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sweepctl/results.h"

namespace gansweep::sweepctl {

struct Metric {
  std::string name;   // as stored: fid, is_mean, kid_mean, fid@N
  std::string label;  // as a reader knows it: FID, IS, KID, FID (N samples)
  bool lower_is_better = true;
  int precision = 2;  // decimals shown
};
// fid, is, kid (or is_mean, kid_mean) and fid@N; throws UsageError otherwise.
Metric parse_metric(const std::string& text);

// Which evaluation of each job a value comes from.
struct At {
  enum class Kind { final, best, epoch, step };
  Kind kind = Kind::final;
  int64_t n = 0;  // epoch or step
};
// final, best, epoch=N, step=N; throws UsageError otherwise.
At parse_at(const std::string& text);
std::string describe(const At& at);  // "final evaluation", "best evaluation", "epoch 5", "step 5001"

// Keeps the jobs whose parameters match every "name=value". Throws UsageError for an
// unknown parameter or a malformed condition, std::runtime_error when a value matches no
// job (naming the values there are).
std::vector<Job> filter_jobs(std::vector<Job> jobs, const std::vector<std::string>& where);

// Jobs grouped by the values of `keys` (in the order groups first appear, which is the sweep
// file's order). Throws std::runtime_error when the jobs of one group differ in a sweep
// parameter other than the seed and the keys: averaging them would mix settings.
using Groups = std::vector<std::pair<std::vector<std::string>, std::vector<const Job*>>>;
Groups group_jobs(const std::vector<Job>& jobs, const std::vector<std::string>& keys);

// The values a parameter takes over the jobs, in order of first appearance.
std::vector<std::string> parameter_values(const std::vector<Job>& jobs, const std::string& name);

// One feature network and its weights: numbers of different ones are never averaged.
struct Backbone {
  std::string name;            // empty: no value of the metric is stored yet
  std::string weights_sha256;
  std::string describe() const;  // "inception (weights 1a2b3c4d5e6f)"
};
// The backbone of `rows`: the only one there, or the one `wanted` names ("NAME" or
// "NAME:SHA-PREFIX"). Throws UsageError when several are there and none or an absent one is
// named, listing those there.
Backbone choose_backbone(const std::vector<MetricRow>& rows, const std::string& wanted);

// A job's metric rows of one backbone, by job and metric name.
class MetricIndex {
 public:
  MetricIndex(const std::vector<MetricRow>& rows, const Backbone& backbone);
  // The rows of one job and metric, by step.
  const std::vector<const MetricRow*>& rows(int64_t job_id, const std::string& name) const;
  // The row `at` picks for the job; nothing when it has none. `best` skips non-finite values.
  const MetricRow* pick(const Job& job, const Metric& metric, const At& at) const;

 private:
  std::map<std::pair<int64_t, std::string>, std::vector<const MetricRow*>> rows_;
};

// Whether a job's value at `at` belongs in a table or plot: the final and best evaluations
// only of finished jobs; an epoch or step of any job that reached it.
bool counts(const Job& job, const At& at);

struct Stats {
  int n = 0;
  double mean = 0;
  std::optional<double> std;  // sample std (n-1); none for n < 2
};
Stats statistics(const std::vector<double>& values);

// The first 12 hex digits of a hash, as captions print it.
std::string short_hash(const std::string& sha256);

}  // namespace gansweep::sweepctl
