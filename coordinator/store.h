// The results database (SQLite): sweeps, jobs, workers, attempts, metrics, artifacts.
// docs/database.md describes the schema and views. The coordinator is its only writer; WAL
// mode lets readers (sweepctl, sqlite3, pandas) read while it writes. Every change of more
// than one row is one transaction, so an error never leaves partial rows.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "coordinator/sweep.h"

struct sqlite3;

namespace gansweep {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The schema version this build creates and understands.
constexpr int kSchemaVersion = 1;

struct SubmitResult {
  int64_t sweep_id = 0;
  int version = 0;
  bool created = false;  // false: the same content was already stored; nothing was added
  int64_t jobs = 0;      // jobs of the sweep (added now, or already there)
};

struct SweepInfo {
  int64_t id = 0;
  std::string name;
  int version = 0;
  std::string content_hash;
  int priority = 0;
  std::string status;   // active | cancelled
  std::string created;  // UTC, "YYYY-MM-DD HH:MM:SS"
  std::map<std::string, int64_t> job_counts;  // status -> count, only statuses present
  int64_t total_jobs = 0;
};

struct JobInfo {
  int64_t id = 0;
  int64_t sweep_id = 0;
  std::string key;
  std::string spec_json;
  std::string status;  // queued | running | done | failed | cancelled
  int retries_left = 0;
  int priority = 0;
  std::string placement;  // any | every-worker
  int gpus = 1;
};

// One metric value of one evaluation, as a trainer's eval event reports it.
struct MetricRecord {
  int64_t job_id = 0;
  std::optional<int64_t> attempt_id;
  int64_t step = 0;
  int64_t epoch = 0;
  std::string name;  // fid, is_mean, is_std, kid_mean, kid_std, loss_d, loss_g
  double value = 0;  // a non-finite value is stored as NULL
  std::string backbone = "none";
  std::string weights_sha256;
  int64_t samples = 0;
};

class Store {
 public:
  // Opens or creates the database and applies pending migrations in one transaction.
  static Store open(const std::string& path);
  ~Store();
  Store(Store&& other) noexcept;
  Store& operator=(Store&& other) noexcept;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  int schema_version();

  // Expands the sweep and stores it with all its jobs in one transaction. The same content
  // (content_hash) under the same name returns the stored sweep and adds nothing. Different
  // content under a stored name is refused unless allow_new_version, which stores it as the
  // next version.
  SubmitResult submit_sweep(const Sweep& sweep, bool allow_new_version = false);

  // Inserts the records in one transaction; a record whose (job, step, name) is stored
  // already is skipped, so replaying a report adds nothing. Returns the rows added.
  int64_t record_metrics(const std::vector<MetricRecord>& records);

  std::vector<SweepInfo> list_sweeps();
  // The latest version when version is 0.
  std::optional<SweepInfo> get_sweep(const std::string& name, int version = 0);
  std::vector<JobInfo> list_jobs(int64_t sweep_id);

 private:
  explicit Store(sqlite3* db);
  sqlite3* db_ = nullptr;
};

}  // namespace gansweep
