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
constexpr int kSchemaVersion = 2;

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
  std::string host;        // every-worker: the machine this copy runs on ("" until leased)
  std::string last_error;  // of the attempt that failed it last
};

// A superseded attempt (reaped, finished, or not this worker's) tried to report or finish.
class StaleAttemptError : public StoreError {
 public:
  using StoreError::StoreError;
};

struct WorkerRegistration {
  std::string name;  // unique; registering again updates the row and keeps its id
  std::string host;
  std::string devices_json = "[]";   // [{"index":0,"model":"...","memory_bytes":N}, ...]
  int cores = 0;
  std::string versions_json = "{}";  // {"gansweep":"0.1.0", "cuda":"12.1", ...}
};

struct WorkerInfo {
  int64_t id = 0;
  WorkerRegistration registration;
  std::string last_heartbeat;
  int64_t running_attempts = 0;
};

// A job handed to a worker: the attempt that runs it and the devices it runs on.
struct Lease {
  int64_t attempt_id = 0;
  int64_t job_id = 0;
  std::string job_key;
  std::string spec_json;
  std::vector<int> devices;
  int64_t lease_expires = 0;  // Unix seconds
};

struct HeartbeatResult {
  std::vector<int64_t> extended;  // leases extended to lease_expires
  std::vector<int64_t> stop;      // cancelled or superseded: the worker stops these trainers
  int64_t lease_expires = 0;
};

struct AttemptInfo {
  int64_t id = 0;
  int64_t job_id = 0;
  int64_t worker_id = 0;
  std::vector<int> devices;
  std::string status;  // running | done | failed | preempted | lost | cancelled
  std::optional<int> exit_code;
  std::string last_error;
  int64_t step = 0;  // last progress reported
  int64_t started = 0;           // Unix seconds
  std::optional<int64_t> ended;  // Unix seconds; empty while running
};

// Trainer exit codes (trainer/training.h) as the scheduler reads them.
constexpr int kExitFinished = 0;
constexpr int kExitBadInput = 1;   // no retry can fix it: the job fails at once
constexpr int kExitPreempted = 3;  // requeued without using a retry

// A host whose last kFailureStreak ended attempts all failed (bad input aside: that is the
// job's fault, not the machine's) or were lost gets no job for a cool-down: 60 s, doubled
// for each further failure, at most an hour.
constexpr int kFailureStreak = 3;
constexpr int64_t kCooldownSeconds = 60;
constexpr int64_t kMaxCooldownSeconds = 3600;

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

// One stored metric row, as reports read it back.
struct MetricRow {
  int64_t job_id = 0;
  int64_t step = 0;
  int64_t epoch = 0;
  std::string name;
  std::optional<double> value;  // empty: the trainer reported a non-finite value
  std::string backbone;
  std::string weights_sha256;
  int64_t samples = 0;
};

// A file a trainer wrote, as its events name it: the sample grid of an evaluation, or the
// checkpoint of a step. The path is on the worker that wrote it.
struct ArtifactRecord {
  std::string kind;  // sample_grid | checkpoint
  std::string path;
  int64_t step = 0;
};

class Store {
 public:
  // Opens or creates the database and applies pending migrations in one transaction.
  static Store open(const std::string& path);
  // Opens an existing database for reading only (sweepctl, or a copy anywhere): never
  // creates, migrates or writes, so the file stays byte for byte as it was. Every read sees
  // one snapshot, taken at open, while the coordinator keeps writing: open again to see
  // later changes. Throws StoreError naming the file when it is missing, not a gansweep
  // database, or of another schema version. Writing methods throw StoreError.
  static Store open_read_only(const std::string& path);
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
  std::optional<JobInfo> get_job(int64_t job_id);

  // Scheduling. Times are Unix seconds, passed in so tests control the clock.
  int64_t register_worker(const WorkerRegistration& worker, int64_t now);
  std::vector<WorkerInfo> list_workers();

  // Leases the queued job that fits the worker's free devices (less those its running
  // attempts hold), by sweep priority (higher first) then age, and records its attempt.
  // every-worker jobs run once per distinct host: the first host pins the job, any other
  // host gets its own copy (key@host). Returns nothing when no job fits or the worker's host
  // is cooling down after repeated failures.
  std::optional<Lease> acquire(int64_t worker_id, const std::vector<int>& free_devices,
                               int lease_seconds, int64_t now);

  // Extends the leases of the worker's running attempts; the others are to be stopped.
  HeartbeatResult heartbeat(int64_t worker_id, const std::vector<int64_t>& attempt_ids,
                            int lease_seconds, int64_t now);

  // Gives every running attempt a lease until now + lease_seconds. The coordinator calls it
  // on start, so workers that kept running while it was away can heartbeat again before
  // their attempts are reaped. Returns the attempts renewed.
  int64_t renew_running_leases(int lease_seconds, int64_t now);

  // Requeues the jobs of attempts whose lease expired, using one retry each; a job with no
  // retry left fails with the last error. Returns the attempts reaped.
  std::vector<int64_t> reap_expired(int64_t now);

  // Ends a running attempt by the trainer's exit code: 0 done; 1 failed at once; 3
  // preempted, requeued without using a retry; any other requeued while retries are left.
  // Returns the job's new status. Throws StaleAttemptError for an attempt not running.
  std::string finish_attempt(int64_t attempt_id, int exit_code, const std::string& last_error, int64_t now);

  // When the host's failure cool-down ends; nothing when it is not cooling down.
  std::optional<int64_t> host_cooldown_until(const std::string& host, int64_t now);

  // Records the attempt's progress, metrics (job and attempt are filled in) and artifacts
  // in one transaction; replayed records add nothing. Throws StaleAttemptError for an
  // attempt not running, so a superseded attempt never writes. Returns the metric rows added.
  int64_t report_progress(int64_t attempt_id, int64_t step, std::vector<MetricRecord> records,
                          const std::vector<ArtifactRecord>& artifacts = {});
  std::vector<ArtifactRecord> list_artifacts(int64_t job_id);

  // Queued and running jobs become cancelled (running trainers are stopped at their next
  // heartbeat). Return the jobs cancelled.
  int64_t cancel_sweep(int64_t sweep_id);
  int64_t cancel_job(int64_t job_id);

  std::vector<AttemptInfo> list_attempts(int64_t job_id);
  // The attempts of all the sweep's jobs, oldest first.
  std::vector<AttemptInfo> list_sweep_attempts(int64_t sweep_id);

  // The metric rows of the sweep's jobs, only of `names` unless it is empty, by job, step
  // and name.
  std::vector<MetricRow> list_metrics(int64_t sweep_id, const std::vector<std::string>& names = {});
  // The last epoch evaluated of each running job of the sweep that has metrics: the
  // progress of epoch schedules.
  std::map<int64_t, int64_t> running_epochs(int64_t sweep_id);

  // Each metric's value at the last step it was reported (view job_final_metrics); a value
  // stored as NULL (not finite) comes back empty.
  std::map<std::string, std::optional<double>> final_metrics(int64_t job_id);

 private:
  explicit Store(sqlite3* db);
  sqlite3* db_ = nullptr;
};

}  // namespace gansweep
