// Read-only access to a results database (docs/database.md) for sweepctl: a Store opened
// with Store::open_read_only (never Store::open, which creates and migrates), so a copy
// elsewhere stays byte for byte as it was. The store reads one snapshot, so a report is
// consistent while the coordinator keeps writing (WAL). What ResultsDb adds is what reports
// need on top: sweep names, parsed job specs, the machine and progress of each job.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/store.h"

namespace gansweep::sweepctl {

// Bad command-line input (unknown metric, parameter, format): exit code 2. Any other
// std::exception is a runtime error: exit code 1.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A job with what reports group it by.
struct Job {
  JobInfo info;
  nlohmann::json spec;
  std::string machine;  // "host (device model)" of the attempt that finished it, or runs it now
  double progress = -1;  // running jobs: 0..1 of the training done; -1 unknown
};

// An attempt, with the times status computes throughput from (Unix seconds).
struct AttemptRow {
  int64_t id = 0;
  int64_t job_id = 0;
  std::string worker;  // name
  std::string status;
  int64_t started = 0;
  std::optional<int64_t> ended;
  int64_t step = 0;
};

struct Artifact {
  int64_t job_id = 0;
  std::string path;  // on the worker that wrote it
  int64_t step = 0;
};

// The parameters a report may group by: the sweep parameters (kParameterOrder) and
// `machine`, the host and device model a job ran on.
const std::vector<std::string>& known_parameters();
// Throws UsageError for a name that is not a known parameter.
void check_parameter(const std::string& name);
// The parameter's value as reports print it: strings as they are, numbers as JSON writes them.
std::string parameter_text(const Job& job, const std::string& name);
// The parameter as a number (margin, scale, seed); nothing for a string parameter.
std::optional<double> parameter_number(const Job& job, const std::string& name);

// "NAME" (version 0: the latest) or "NAME:VERSION"; throws UsageError when malformed.
std::pair<std::string, int> parse_sweep_name(const std::string& text);

class ResultsDb {
 public:
  // Throws StoreError naming the file when it is missing, not a gansweep database, or of a
  // schema version this build does not understand.
  static ResultsDb open(const std::string& path);

  const std::string& path() const { return path_; }

  std::vector<SweepInfo> sweeps() { return store_.list_sweeps(); }
  // "NAME" (its latest version) or "NAME:VERSION"; empty: the only sweep of the file.
  // Throws std::runtime_error listing the stored sweeps when there is no such sweep.
  SweepInfo sweep(const std::string& name);
  std::vector<Job> jobs(int64_t sweep_id);
  // The metric rows of the sweep's jobs, only of `names` unless it is empty, by job and step.
  std::vector<MetricRow> metrics(int64_t sweep_id, const std::vector<std::string>& names = {}) {
    return store_.list_metrics(sweep_id, names);
  }
  std::vector<WorkerInfo> workers() { return store_.list_workers(); }
  std::vector<AttemptRow> attempts(int64_t sweep_id);
  // The latest sample grid of each job that has one.
  std::vector<Artifact> latest_sample_grids(const std::vector<int64_t>& job_ids);

 private:
  ResultsDb(Store store, std::string path) : store_(std::move(store)), path_(std::move(path)) {}
  Store store_;  // read-only: its one connection and snapshot
  std::string path_;
};

}  // namespace gansweep::sweepctl
