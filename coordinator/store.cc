#include "coordinator/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <utility>

namespace gansweep {
namespace {

// Migration N takes the schema from version N-1 to N. Append only: a released migration is
// never edited, because databases already at that version would not see the change.
const std::vector<std::pair<int, const char*>> kMigrations = {
    {1, R"sql(
CREATE TABLE sweeps (
  id           INTEGER PRIMARY KEY,
  name         TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  content_hash TEXT    NOT NULL,
  yaml         TEXT    NOT NULL,
  created      TEXT    NOT NULL DEFAULT (datetime('now')),
  priority     INTEGER NOT NULL DEFAULT 0,
  status       TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
  UNIQUE (name, version)
);

CREATE TABLE jobs (
  id           INTEGER PRIMARY KEY,
  sweep_id     INTEGER NOT NULL REFERENCES sweeps(id),
  key          TEXT    NOT NULL,
  spec         TEXT    NOT NULL CHECK (json_valid(spec)),
  status       TEXT    NOT NULL DEFAULT 'queued'
               CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
  retries_left INTEGER NOT NULL CHECK (retries_left >= 0),
  priority     INTEGER NOT NULL DEFAULT 0,
  placement    TEXT    NOT NULL DEFAULT 'any' CHECK (placement IN ('any', 'every-worker')),
  gpus         INTEGER NOT NULL DEFAULT 1 CHECK (gpus >= 1),
  created      TEXT    NOT NULL DEFAULT (datetime('now')),
  UNIQUE (sweep_id, key)
);
CREATE INDEX jobs_by_status ON jobs(status, priority);

CREATE TABLE workers (
  id             INTEGER PRIMARY KEY,
  name           TEXT NOT NULL UNIQUE,
  host           TEXT NOT NULL,
  devices        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(devices)),
  cores          INTEGER NOT NULL DEFAULT 0,
  versions       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(versions)),
  last_heartbeat TEXT
);

CREATE TABLE attempts (
  id            INTEGER PRIMARY KEY,
  job_id        INTEGER NOT NULL REFERENCES jobs(id),
  worker_id     INTEGER NOT NULL REFERENCES workers(id),
  devices       TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(devices)),
  lease_expires TEXT,
  started       TEXT    NOT NULL DEFAULT (datetime('now')),
  ended         TEXT,
  status        TEXT    NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'done', 'failed', 'preempted', 'lost', 'cancelled')),
  exit_code     INTEGER,
  last_error    TEXT
);
CREATE INDEX attempts_by_job ON attempts(job_id);

CREATE TABLE metrics (
  id             INTEGER PRIMARY KEY,
  job_id         INTEGER NOT NULL REFERENCES jobs(id),
  attempt_id     INTEGER REFERENCES attempts(id),
  step           INTEGER NOT NULL,
  epoch          INTEGER NOT NULL DEFAULT 0,
  name           TEXT    NOT NULL,
  value          REAL,
  backbone       TEXT    NOT NULL DEFAULT 'none',
  weights_sha256 TEXT    NOT NULL DEFAULT '',
  samples        INTEGER NOT NULL DEFAULT 0,
  UNIQUE (job_id, step, name)
);

CREATE TABLE artifacts (
  id         INTEGER PRIMARY KEY,
  job_id     INTEGER NOT NULL REFERENCES jobs(id),
  attempt_id INTEGER REFERENCES attempts(id),
  kind       TEXT    NOT NULL CHECK (kind IN ('checkpoint', 'sample_grid')),
  path       TEXT    NOT NULL,
  step       INTEGER NOT NULL
);

-- The value of each metric at the last step it was reported for each job.
CREATE VIEW job_final_metrics AS
SELECT m.job_id, m.name, m.step, m.epoch, m.value, m.backbone, m.samples
FROM metrics m
WHERE m.step = (SELECT MAX(step) FROM metrics l WHERE l.job_id = m.job_id AND l.name = m.name);

-- The best FID and KID (lowest) and IS (highest) of each job, with the step that reached it.
-- SQLite takes the bare columns (step, epoch) from the row holding the MIN or MAX.
CREATE VIEW job_best_metrics AS
SELECT job_id, name, MIN(value) AS value, step, epoch FROM metrics
WHERE name IN ('fid', 'kid_mean') AND value IS NOT NULL GROUP BY job_id, name
UNION ALL
SELECT job_id, name, MAX(value) AS value, step, epoch FROM metrics
WHERE name = 'is_mean' AND value IS NOT NULL GROUP BY job_id, name;

-- Every metric row with the parameters of its job: one table for curves and pivots.
CREATE VIEW metric_curves AS
SELECT s.name AS sweep, s.version AS sweep_version, j.id AS job_id, j.key,
       json_extract(j.spec, '$.dataset.name') AS dataset,
       json_extract(j.spec, '$.loss') AS loss,
       json_extract(j.spec, '$.margin') AS margin,
       json_extract(j.spec, '$.scale') AS scale,
       json_extract(j.spec, '$.seed') AS seed,
       m.step, m.epoch, m.name, m.value, m.backbone, m.samples
FROM metrics m JOIN jobs j ON j.id = m.job_id JOIN sweeps s ON s.id = j.sweep_id;
)sql"},
    {2, R"sql(
-- Scheduling: every-worker copies, the retry limit a copy starts with, the last error.
ALTER TABLE jobs ADD COLUMN host TEXT;
ALTER TABLE jobs ADD COLUMN replica_of INTEGER REFERENCES jobs(id);
ALTER TABLE jobs ADD COLUMN retry_limit INTEGER;
ALTER TABLE jobs ADD COLUMN last_error TEXT;
ALTER TABLE attempts ADD COLUMN step INTEGER NOT NULL DEFAULT 0;
-- At most one running attempt per job, whatever a caller does.
CREATE UNIQUE INDEX attempts_one_running ON attempts(job_id) WHERE status = 'running';
CREATE INDEX attempts_by_status ON attempts(status, lease_expires);
UPDATE jobs SET retry_limit = retries_left;
)sql"},
};

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw StoreError(std::string("prepare: ") + sqlite3_errmsg(db) + " in: " + sql);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, int64_t value) {
    check(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  Statement& bind(int index, const std::string& value) {
    check(sqlite3_bind_text(stmt_, index, value.data(), int(value.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& bind(int index, double value) {
    // SQLite would store NaN as NULL anyway; infinities too, so no reader sees them.
    check(std::isfinite(value) ? sqlite3_bind_double(stmt_, index, value) : sqlite3_bind_null(stmt_, index));
    return *this;
  }
  Statement& bind(int index, const std::optional<int64_t>& value) {
    check(value ? sqlite3_bind_int64(stmt_, index, *value) : sqlite3_bind_null(stmt_, index));
    return *this;
  }

  // True while there is a row to read.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw StoreError(sqlite3_errmsg(db_));
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  int64_t int_at(int column) { return sqlite3_column_int64(stmt_, column); }
  std::optional<double> double_at(int column) {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_double(stmt_, column);
  }
  std::string text_at(int column) {
    const auto* text = sqlite3_column_text(stmt_, column);
    return text ? reinterpret_cast<const char*>(text) : "";
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) throw StoreError(std::string("bind: ") + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errmsg(db);
    sqlite3_free(error);
    throw StoreError(message);
  }
}

// BEGIN IMMEDIATE takes the write lock up front, so a transaction never fails half-way for
// lack of it; the destructor rolls back unless commit() ran.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {
    // A read-only store holds its snapshot open: say why it cannot write, not that a
    // transaction is already open.
    if (sqlite3_db_readonly(db_, "main") == 1) throw StoreError(sqlite3_errstr(SQLITE_READONLY));
    exec(db_, "BEGIN IMMEDIATE");
  }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec(db_, "COMMIT");
    done_ = true;
  }

 private:
  sqlite3* db_;
  bool done_ = false;
};

SweepInfo read_sweep_row(Statement& row) {
  SweepInfo info;
  info.id = row.int_at(0);
  info.name = row.text_at(1);
  info.version = int(row.int_at(2));
  info.content_hash = row.text_at(3);
  info.priority = int(row.int_at(4));
  info.status = row.text_at(5);
  info.created = row.text_at(6);
  return info;
}

// The caller holds the transaction.
int64_t insert_metrics(sqlite3* db_, const std::vector<MetricRecord>& records) {
  // ON CONFLICT names the one constraint a replay hits; unlike INSERT OR IGNORE it does not
  // also swallow NOT NULL, CHECK or foreign-key failures.
  Statement insert(db_,
                   "INSERT INTO metrics(job_id, attempt_id, step, epoch, name, value, backbone, "
                   "weights_sha256, samples) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT(job_id, step, name) DO NOTHING");
  int64_t added = 0;
  for (const auto& r : records) {
    insert.reset();
    insert.bind(1, r.job_id)
        .bind(2, r.attempt_id)
        .bind(3, r.step)
        .bind(4, r.epoch)
        .bind(5, r.name)
        .bind(6, r.value)
        .bind(7, r.backbone)
        .bind(8, r.weights_sha256)
        .bind(9, r.samples)
        .step();
    added += sqlite3_changes(db_);
  }
  return added;
}

constexpr const char* kJobColumns =
    "id, sweep_id, key, spec, status, retries_left, priority, placement, gpus, host, last_error";

JobInfo read_job_row(Statement& query) {
  JobInfo job;
  job.id = query.int_at(0);
  job.sweep_id = query.int_at(1);
  job.key = query.text_at(2);
  job.spec_json = query.text_at(3);
  job.status = query.text_at(4);
  job.retries_left = int(query.int_at(5));
  job.priority = int(query.int_at(6));
  job.placement = query.text_at(7);
  job.gpus = int(query.int_at(8));
  job.host = query.text_at(9);
  job.last_error = query.text_at(10);
  return job;
}

constexpr const char* kSweepColumns = "id, name, version, content_hash, priority, status, created";

}  // namespace

Store::Store(sqlite3* db) : db_(db) {}
Store::~Store() {
  if (db_) sqlite3_close_v2(db_);
}
Store::Store(Store&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
Store& Store::operator=(Store&& other) noexcept {
  if (this != &other) {
    if (db_) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Store Store::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  Store store(db);  // closes db on every error path below
  if (rc != SQLITE_OK)
    throw StoreError("cannot open database '" + path + "': " + (db ? sqlite3_errmsg(db) : "out of memory"));
  // Readers never block the writer, and a briefly busy file is waited for, not an error.
  exec(db, "PRAGMA journal_mode = WAL");
  exec(db, "PRAGMA busy_timeout = 5000");
  exec(db, "PRAGMA foreign_keys = ON");

  Transaction transaction(db);
  exec(db, "CREATE TABLE IF NOT EXISTS schema_version ("
           " version INTEGER PRIMARY KEY, applied TEXT NOT NULL DEFAULT (datetime('now')))");
  Statement current(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  current.step();
  const int64_t version = current.int_at(0);
  if (version > kSchemaVersion)
    throw StoreError("database '" + path + "' has schema version " + std::to_string(version) +
                     ", newer than this build understands (" + std::to_string(kSchemaVersion) + ")");
  for (const auto& [number, sql] : kMigrations) {
    if (number <= version) continue;
    exec(db, sql);
    Statement record(db, "INSERT INTO schema_version(version) VALUES (?)");
    record.bind(1, int64_t(number)).step();
  }
  transaction.commit();
  return store;
}

Store Store::open_read_only(const std::string& path) {
  // SQLITE_OPEN_READONLY fails on a missing file with no name in the message: check first.
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error))
    throw StoreError("database '" + path + "' does not exist (or is not a file)");
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  Store store(db);  // closes db on every error path below
  if (rc != SQLITE_OK)
    throw StoreError("cannot open database '" + path + "': " + (db ? sqlite3_errmsg(db) : "out of memory"));
  // The coordinator may hold the write lock for a moment: wait rather than fail.
  sqlite3_busy_timeout(db, 5000);
  // One read transaction for the store's life: every read sees the snapshot of the first,
  // the version check below. Closing the connection ends it.
  exec(db, "BEGIN");

  // Not Statement: its errors would not name the file.
  sqlite3_stmt* probe = nullptr;
  const int prepared = sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", -1, &probe, nullptr);
  const std::string message = prepared == SQLITE_OK ? "" : sqlite3_errmsg(db);
  int64_t version = 0;
  if (prepared == SQLITE_OK && sqlite3_step(probe) == SQLITE_ROW) version = sqlite3_column_int64(probe, 0);
  sqlite3_finalize(probe);
  if (prepared != SQLITE_OK) {
    if (message.find("no such table") != std::string::npos)
      throw StoreError("'" + path + "' is not a gansweep results database (it has no schema_version table)");
    throw StoreError("'" + path + "' is not a gansweep results database: " + message);
  }
  if (version > kSchemaVersion)
    throw StoreError("database '" + path + "' has schema version " + std::to_string(version) +
                     ", newer than this build understands (" + std::to_string(kSchemaVersion) + ")");
  if (version < kSchemaVersion)
    throw StoreError("database '" + path + "' has schema version " + std::to_string(version) +
                     ", older than this build understands (" + std::to_string(kSchemaVersion) +
                     "); the coordinator migrates it when it next opens it (a read-only open never writes)");
  return store;
}

int Store::schema_version() {
  Statement query(db_, "SELECT MAX(version) FROM schema_version");
  query.step();
  return int(query.int_at(0));
}

SubmitResult Store::submit_sweep(const Sweep& sweep, bool allow_new_version) {
  // Expand before the transaction: a bad sweep throws before anything is written.
  const std::vector<ExpandedJob> jobs = expand_sweep(sweep);

  Transaction transaction(db_);
  Statement same(db_, "SELECT id, version FROM sweeps WHERE name = ? AND content_hash = ? "
                      "ORDER BY version DESC LIMIT 1");
  same.bind(1, sweep.name).bind(2, sweep.content_hash);
  if (same.step()) {
    SubmitResult result;
    result.sweep_id = same.int_at(0);
    result.version = int(same.int_at(1));
    Statement count(db_, "SELECT COUNT(*) FROM jobs WHERE sweep_id = ?");
    count.bind(1, result.sweep_id).step();
    result.jobs = count.int_at(0);
    return result;  // nothing written; the transaction rolls back empty
  }

  Statement latest(db_, "SELECT version, content_hash FROM sweeps WHERE name = ? "
                        "ORDER BY version DESC LIMIT 1");
  latest.bind(1, sweep.name);
  int next_version = 1;
  if (latest.step()) {
    const int stored_version = int(latest.int_at(0));
    if (!allow_new_version)
      throw StoreError("sweep '" + sweep.name + "' is already stored (version " +
                       std::to_string(stored_version) + ", content " + latest.text_at(1).substr(0, 12) +
                       ") with different content (" + sweep.content_hash.substr(0, 12) +
                       "); rename the sweep, restore the file, or ask for a new version to store it as version " +
                       std::to_string(stored_version + 1));
    next_version = stored_version + 1;
  }

  Statement insert_sweep(db_, "INSERT INTO sweeps(name, version, content_hash, yaml, priority) "
                              "VALUES (?, ?, ?, ?, ?)");
  insert_sweep.bind(1, sweep.name)
      .bind(2, int64_t(next_version))
      .bind(3, sweep.content_hash)
      .bind(4, sweep.yaml_text)
      .bind(5, int64_t(sweep.priority))
      .step();
  const int64_t sweep_id = sqlite3_last_insert_rowid(db_);

  Statement insert_job(db_, "INSERT INTO jobs(sweep_id, key, spec, retries_left, priority, placement, gpus, "
                            "retry_limit) VALUES (?, ?, ?, ?, ?, ?, ?, ?4)");
  for (const auto& job : jobs) {
    insert_job.reset();
    insert_job.bind(1, sweep_id)
        .bind(2, job.key)
        .bind(3, job.spec.dump())
        .bind(4, int64_t(sweep.retries))
        .bind(5, int64_t(sweep.priority))
        .bind(6, to_string(sweep.placement))
        .bind(7, int64_t(sweep.gpus))
        .step();
  }
  transaction.commit();

  SubmitResult result;
  result.sweep_id = sweep_id;
  result.version = next_version;
  result.created = true;
  result.jobs = int64_t(jobs.size());
  return result;
}

int64_t Store::record_metrics(const std::vector<MetricRecord>& records) {
  Transaction transaction(db_);
  const int64_t added = insert_metrics(db_, records);
  transaction.commit();
  return added;
}

std::vector<SweepInfo> Store::list_sweeps() {
  std::vector<SweepInfo> sweeps;
  Statement query(db_, (std::string("SELECT ") + kSweepColumns + " FROM sweeps ORDER BY name, version").c_str());
  while (query.step()) sweeps.push_back(read_sweep_row(query));
  Statement counts(db_, "SELECT status, COUNT(*) FROM jobs WHERE sweep_id = ? GROUP BY status");
  for (auto& info : sweeps) {
    counts.reset();
    counts.bind(1, info.id);
    while (counts.step()) {
      info.job_counts[counts.text_at(0)] = counts.int_at(1);
      info.total_jobs += counts.int_at(1);
    }
  }
  return sweeps;
}

std::optional<SweepInfo> Store::get_sweep(const std::string& name, int version) {
  std::optional<SweepInfo> found;
  // list_sweeps orders versions ascending, so the last match is the latest.
  for (auto& info : list_sweeps())
    if (info.name == name && (version == 0 || info.version == version)) found = info;
  return found;
}

std::vector<JobInfo> Store::list_jobs(int64_t sweep_id) {
  std::vector<JobInfo> jobs;
  Statement query(db_, (std::string("SELECT ") + kJobColumns + " FROM jobs WHERE sweep_id = ? ORDER BY id").c_str());
  query.bind(1, sweep_id);
  while (query.step()) jobs.push_back(read_job_row(query));
  return jobs;
}


// ---- Scheduling -------------------------------------------------------------------------

namespace {

std::vector<int> devices_from_json(const std::string& text) {
  std::vector<int> devices;
  for (const auto& d : nlohmann::json::parse(text.empty() ? "[]" : text)) devices.push_back(d.get<int>());
  return devices;
}

// SQLite's datetime text for a Unix time: the format of every time column.
std::string sql_time(int64_t unix_seconds) {
  return "datetime(" + std::to_string(unix_seconds) + ", 'unixepoch')";
}

// Ends a running attempt and moves its job on; `requeue` uses one retry unless `free_retry`.
// Returns the job's new status. The caller holds the transaction.
std::string end_attempt(sqlite3* db, int64_t attempt_id, const std::string& attempt_status,
                        std::optional<int> exit_code, const std::string& last_error, bool requeue,
                        bool free_retry, bool fail_now, int64_t now) {
  Statement job(db, "SELECT j.id, j.status, j.retries_left FROM attempts a JOIN jobs j ON j.id = a.job_id "
                    "WHERE a.id = ?");
  job.bind(1, attempt_id).step();
  const int64_t job_id = job.int_at(0);
  const std::string job_status = job.text_at(1);
  const int64_t retries_left = job.int_at(2);

  std::string attempt_end = attempt_status;
  std::string new_status;
  int64_t new_retries = retries_left;
  if (job_status == "cancelled") {
    attempt_end = "cancelled";
    new_status = "cancelled";
  } else if (attempt_status == "done") {
    new_status = "done";
  } else if (fail_now) {
    new_status = "failed";
  } else if (requeue && free_retry) {
    new_status = "queued";
  } else if (requeue && retries_left > 0) {
    new_status = "queued";
    new_retries = retries_left - 1;
  } else {
    new_status = "failed";
  }

  Statement end(db, ("UPDATE attempts SET status = ?, exit_code = ?, last_error = ?, ended = " + sql_time(now) +
                     ", lease_expires = NULL WHERE id = ?").c_str());
  end.bind(1, attempt_end).bind(2, exit_code ? std::optional<int64_t>(*exit_code) : std::nullopt);
  end.bind(3, last_error).bind(4, attempt_id).step();
  Statement update(db, "UPDATE jobs SET status = ?, retries_left = ?, "
                       "last_error = CASE WHEN ? = '' THEN last_error ELSE ? END WHERE id = ?");
  const std::string error = attempt_end == "done" || attempt_end == "cancelled" ? "" : last_error;
  update.bind(1, new_status).bind(2, new_retries).bind(3, error).bind(4, error).bind(5, job_id).step();
  return new_status;
}

// The job of a running attempt; throws StaleAttemptError otherwise.
int64_t running_attempt_job(sqlite3* db, int64_t attempt_id) {
  Statement query(db, "SELECT job_id, status FROM attempts WHERE id = ?");
  query.bind(1, attempt_id);
  if (!query.step()) throw StaleAttemptError("attempt " + std::to_string(attempt_id) + " does not exist");
  if (query.text_at(1) != "running")
    throw StaleAttemptError("attempt " + std::to_string(attempt_id) + " is " + query.text_at(1) +
                            ", no longer running: its report is refused");
  return query.int_at(0);
}

}  // namespace

std::optional<JobInfo> Store::get_job(int64_t job_id) {
  Statement query(db_, (std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?").c_str());
  query.bind(1, job_id);
  if (!query.step()) return std::nullopt;
  return read_job_row(query);
}

int64_t Store::register_worker(const WorkerRegistration& worker, int64_t now) {
  if (worker.name.empty()) throw StoreError("a worker needs a name");
  if (worker.host.empty()) throw StoreError("worker '" + worker.name + "' needs a host");
  Transaction transaction(db_);
  Statement upsert(db_, ("INSERT INTO workers(name, host, devices, cores, versions, last_heartbeat) "
                         "VALUES (?, ?, ?, ?, ?, " + sql_time(now) + ") ON CONFLICT(name) DO UPDATE SET "
                         "host = excluded.host, devices = excluded.devices, cores = excluded.cores, "
                         "versions = excluded.versions, last_heartbeat = excluded.last_heartbeat").c_str());
  upsert.bind(1, worker.name).bind(2, worker.host).bind(3, worker.devices_json);
  upsert.bind(4, int64_t(worker.cores)).bind(5, worker.versions_json).step();
  Statement id(db_, "SELECT id FROM workers WHERE name = ?");
  id.bind(1, worker.name).step();
  const int64_t worker_id = id.int_at(0);
  transaction.commit();
  return worker_id;
}

std::vector<WorkerInfo> Store::list_workers() {
  std::vector<WorkerInfo> workers;
  Statement query(db_, "SELECT w.id, w.name, w.host, w.devices, w.cores, w.versions, "
                       "COALESCE(w.last_heartbeat, ''), "
                       "(SELECT COUNT(*) FROM attempts a WHERE a.worker_id = w.id AND a.status = 'running') "
                       "FROM workers w ORDER BY w.name");
  while (query.step()) {
    WorkerInfo info;
    info.id = query.int_at(0);
    info.registration.name = query.text_at(1);
    info.registration.host = query.text_at(2);
    info.registration.devices_json = query.text_at(3);
    info.registration.cores = int(query.int_at(4));
    info.registration.versions_json = query.text_at(5);
    info.last_heartbeat = query.text_at(6);
    info.running_attempts = query.int_at(7);
    workers.push_back(std::move(info));
  }
  return workers;
}

std::optional<int64_t> Store::host_cooldown_until(const std::string& host, int64_t now) {
  Statement recent(db_, "SELECT a.status, COALESCE(a.exit_code, -1), CAST(strftime('%s', a.ended) AS INTEGER) "
                        "FROM attempts a JOIN workers w ON w.id = a.worker_id "
                        "WHERE w.host = ? AND a.ended IS NOT NULL ORDER BY a.ended DESC, a.id DESC LIMIT 64");
  recent.bind(1, host);
  int64_t streak = 0, last_failure = 0;
  while (recent.step()) {
    const std::string status = recent.text_at(0);
    if (status == "failed" && recent.int_at(1) == kExitBadInput) continue;
    if (status != "failed" && status != "lost") break;
    if (streak++ == 0) last_failure = recent.int_at(2);
  }
  if (streak < kFailureStreak) return std::nullopt;
  const int64_t doublings = std::min<int64_t>(streak - kFailureStreak, 20);
  const int64_t until = last_failure + std::min(kMaxCooldownSeconds, kCooldownSeconds << doublings);
  if (until <= now) return std::nullopt;
  return until;
}

std::optional<Lease> Store::acquire(int64_t worker_id, const std::vector<int>& free_devices,
                                    int lease_seconds, int64_t now) {
  Transaction transaction(db_);
  Statement worker(db_, "SELECT host FROM workers WHERE id = ?");
  worker.bind(1, worker_id);
  if (!worker.step()) throw StoreError("unknown worker " + std::to_string(worker_id) + ": register first");
  const std::string host = worker.text_at(0);
  if (host_cooldown_until(host, now)) return std::nullopt;

  // A device that one of this worker's running attempts holds is never handed out twice,
  // whatever the worker believes is free.
  std::vector<int> held;
  Statement running(db_, "SELECT devices FROM attempts WHERE worker_id = ? AND status = 'running'");
  running.bind(1, worker_id);
  while (running.step())
    for (int d : devices_from_json(running.text_at(0))) held.push_back(d);
  std::vector<int> free;
  for (int d : free_devices)
    if (std::find(held.begin(), held.end(), d) == held.end() &&
        std::find(free.begin(), free.end(), d) == free.end())
      free.push_back(d);
  if (free.empty()) return std::nullopt;

  // every-worker jobs already pinned to another host get a copy for this one.
  Statement replicate(db_,
      "INSERT INTO jobs(sweep_id, key, spec, retries_left, retry_limit, priority, placement, gpus, host, replica_of, created) "
      "SELECT o.sweep_id, o.key || '@' || ?1, json_set(o.spec, '$.job_id', o.key || '@' || ?1), "
      "COALESCE(o.retry_limit, o.retries_left), COALESCE(o.retry_limit, o.retries_left), o.priority, "
      "'every-worker', o.gpus, ?1, o.id, o.created "
      "FROM jobs o JOIN sweeps s ON s.id = o.sweep_id "
      "WHERE s.status = 'active' AND o.placement = 'every-worker' AND o.replica_of IS NULL "
      "AND o.status != 'cancelled' AND o.host IS NOT NULL AND o.host != ?1 "
      "AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.replica_of = o.id AND r.host = ?1)");
  replicate.bind(1, host).step();

  Statement pick(db_,
      "SELECT j.id, j.key, j.spec, j.gpus FROM jobs j JOIN sweeps s ON s.id = j.sweep_id "
      "WHERE j.status = 'queued' AND s.status = 'active' AND j.gpus <= ? AND (j.host IS NULL OR j.host = ?) "
      "ORDER BY s.priority DESC, s.created, s.id, j.created, j.id LIMIT 1");
  pick.bind(1, int64_t(free.size())).bind(2, host);
  if (!pick.step()) {
    transaction.commit();  // keeps the copies made above
    return std::nullopt;
  }
  Lease lease;
  lease.job_id = pick.int_at(0);
  lease.job_key = pick.text_at(1);
  lease.spec_json = pick.text_at(2);
  lease.devices.assign(free.begin(), free.begin() + pick.int_at(3));
  lease.lease_expires = now + lease_seconds;

  nlohmann::json devices = lease.devices;
  Statement insert(db_, ("INSERT INTO attempts(job_id, worker_id, devices, lease_expires, started) "
                         "VALUES (?, ?, ?, " + sql_time(lease.lease_expires) + ", " + sql_time(now) + ")").c_str());
  insert.bind(1, lease.job_id).bind(2, worker_id).bind(3, devices.dump()).step();
  lease.attempt_id = sqlite3_last_insert_rowid(db_);
  Statement mark(db_, "UPDATE jobs SET status = 'running', "
                      "host = CASE WHEN placement = 'every-worker' THEN ? ELSE host END WHERE id = ?");
  mark.bind(1, host).bind(2, lease.job_id).step();
  transaction.commit();
  return lease;
}

HeartbeatResult Store::heartbeat(int64_t worker_id, const std::vector<int64_t>& attempt_ids,
                                 int lease_seconds, int64_t now) {
  HeartbeatResult result;
  result.lease_expires = now + lease_seconds;
  Transaction transaction(db_);
  Statement seen(db_, ("UPDATE workers SET last_heartbeat = " + sql_time(now) + " WHERE id = ?").c_str());
  seen.bind(1, worker_id).step();
  if (sqlite3_changes(db_) == 0) throw StoreError("unknown worker " + std::to_string(worker_id) + ": register first");
  Statement state(db_, "SELECT a.worker_id, a.status, j.status FROM attempts a JOIN jobs j ON j.id = a.job_id "
                       "WHERE a.id = ?");
  Statement extend(db_, ("UPDATE attempts SET lease_expires = " + sql_time(result.lease_expires) +
                         " WHERE id = ?").c_str());
  for (int64_t id : attempt_ids) {
    state.reset();
    state.bind(1, id);
    const bool current = state.step() && state.int_at(0) == worker_id && state.text_at(1) == "running" &&
                         state.text_at(2) == "running";
    if (!current) {
      result.stop.push_back(id);
      continue;
    }
    extend.reset();
    extend.bind(1, id).step();
    result.extended.push_back(id);
  }
  transaction.commit();
  return result;
}

int64_t Store::renew_running_leases(int lease_seconds, int64_t now) {
  Statement renew(db_, ("UPDATE attempts SET lease_expires = " + sql_time(now + lease_seconds) +
                        " WHERE status = 'running'").c_str());
  renew.step();  // one statement: atomic on its own
  return sqlite3_changes(db_);
}

std::vector<int64_t> Store::reap_expired(int64_t now) {
  Transaction transaction(db_);
  std::vector<std::pair<int64_t, std::string>> expired;
  Statement query(db_, ("SELECT a.id, w.name FROM attempts a JOIN workers w ON w.id = a.worker_id "
                        "WHERE a.status = 'running' AND a.lease_expires < " + sql_time(now) + " ORDER BY a.id").c_str());
  while (query.step()) expired.emplace_back(query.int_at(0), query.text_at(1));
  std::vector<int64_t> reaped;
  for (const auto& [attempt_id, worker] : expired) {
    end_attempt(db_, attempt_id, "lost", std::nullopt,
                "lease expired: worker '" + worker + "' stopped heartbeating", /*requeue=*/true,
                /*free_retry=*/false, /*fail_now=*/false, now);
    reaped.push_back(attempt_id);
  }
  transaction.commit();
  return reaped;
}

std::string Store::finish_attempt(int64_t attempt_id, int exit_code, const std::string& last_error, int64_t now) {
  Transaction transaction(db_);
  running_attempt_job(db_, attempt_id);
  std::string status;
  if (exit_code == kExitFinished)
    status = end_attempt(db_, attempt_id, "done", exit_code, "", false, false, false, now);
  else if (exit_code == kExitPreempted)
    status = end_attempt(db_, attempt_id, "preempted", exit_code, last_error, true, true, false, now);
  else
    status = end_attempt(db_, attempt_id, "failed", exit_code, last_error, true, false,
                         /*fail_now=*/exit_code == kExitBadInput, now);
  transaction.commit();
  return status;
}

int64_t Store::report_progress(int64_t attempt_id, int64_t step, std::vector<MetricRecord> records,
                               const std::vector<ArtifactRecord>& artifacts) {
  Transaction transaction(db_);
  const int64_t job_id = running_attempt_job(db_, attempt_id);
  Statement progress(db_, "UPDATE attempts SET step = MAX(step, ?) WHERE id = ?");
  progress.bind(1, step).bind(2, attempt_id).step();
  for (auto& r : records) {
    r.job_id = job_id;
    r.attempt_id = attempt_id;
  }
  const int64_t added = insert_metrics(db_, records);
  for (const auto& a : artifacts) {
    // A replayed report names the same file at the same step again: stored once.
    Statement insert(db_, "INSERT INTO artifacts (job_id, attempt_id, kind, path, step) SELECT ?, ?, ?, ?, ? "
                          "WHERE NOT EXISTS (SELECT 1 FROM artifacts WHERE job_id = ? AND kind = ? AND path = ? AND step = ?)");
    insert.bind(1, job_id).bind(2, attempt_id).bind(3, a.kind).bind(4, a.path).bind(5, a.step);
    insert.bind(6, job_id).bind(7, a.kind).bind(8, a.path).bind(9, a.step).step();
  }
  transaction.commit();
  return added;
}

std::vector<ArtifactRecord> Store::list_artifacts(int64_t job_id) {
  std::vector<ArtifactRecord> artifacts;
  Statement query(db_, "SELECT kind, path, step FROM artifacts WHERE job_id = ? ORDER BY step, id");
  query.bind(1, job_id);
  while (query.step()) artifacts.push_back({query.text_at(0), query.text_at(1), query.int_at(2)});
  return artifacts;
}

int64_t Store::cancel_sweep(int64_t sweep_id) {
  Transaction transaction(db_);
  Statement sweep(db_, "UPDATE sweeps SET status = 'cancelled' WHERE id = ?");
  sweep.bind(1, sweep_id).step();
  if (sqlite3_changes(db_) == 0) throw StoreError("no sweep with id " + std::to_string(sweep_id));
  Statement jobs(db_, "UPDATE jobs SET status = 'cancelled' WHERE sweep_id = ? AND status IN ('queued', 'running')");
  jobs.bind(1, sweep_id).step();
  const int64_t cancelled = sqlite3_changes(db_);
  transaction.commit();
  return cancelled;
}

int64_t Store::cancel_job(int64_t job_id) {
  Transaction transaction(db_);
  if (!get_job(job_id)) throw StoreError("no job with id " + std::to_string(job_id));
  Statement job(db_, "UPDATE jobs SET status = 'cancelled' WHERE id = ? AND status IN ('queued', 'running')");
  job.bind(1, job_id).step();
  const int64_t cancelled = sqlite3_changes(db_);
  transaction.commit();
  return cancelled;
}

namespace {

constexpr const char* kAttemptColumns =
    "a.id, a.job_id, a.worker_id, a.devices, a.status, a.exit_code, COALESCE(a.last_error, ''), a.step, "
    "CAST(strftime('%s', a.started) AS INTEGER), CAST(strftime('%s', a.ended) AS INTEGER)";

AttemptInfo read_attempt_row(Statement& query) {
  AttemptInfo a;
  a.id = query.int_at(0);
  a.job_id = query.int_at(1);
  a.worker_id = query.int_at(2);
  a.devices = devices_from_json(query.text_at(3));
  a.status = query.text_at(4);
  if (!query.text_at(5).empty()) a.exit_code = int(query.int_at(5));
  a.last_error = query.text_at(6);
  a.step = query.int_at(7);
  a.started = query.int_at(8);
  if (!query.text_at(9).empty()) a.ended = query.int_at(9);
  return a;
}

}  // namespace

std::vector<AttemptInfo> Store::list_attempts(int64_t job_id) {
  std::vector<AttemptInfo> attempts;
  Statement query(db_, (std::string("SELECT ") + kAttemptColumns + " FROM attempts a WHERE a.job_id = ? ORDER BY a.id").c_str());
  query.bind(1, job_id);
  while (query.step()) attempts.push_back(read_attempt_row(query));
  return attempts;
}

std::vector<AttemptInfo> Store::list_sweep_attempts(int64_t sweep_id) {
  std::vector<AttemptInfo> attempts;
  Statement query(db_, (std::string("SELECT ") + kAttemptColumns +
                        " FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.sweep_id = ? ORDER BY a.id").c_str());
  query.bind(1, sweep_id);
  while (query.step()) attempts.push_back(read_attempt_row(query));
  return attempts;
}

std::vector<MetricRow> Store::list_metrics(int64_t sweep_id, const std::vector<std::string>& names) {
  std::string sql =
      "SELECT m.job_id, m.step, m.epoch, m.name, m.value, m.backbone, m.weights_sha256, m.samples "
      "FROM metrics m JOIN jobs j ON j.id = m.job_id WHERE j.sweep_id = ?";
  if (!names.empty()) {
    sql += " AND m.name IN (";
    for (size_t i = 0; i < names.size(); ++i) sql += i ? ", ?" : "?";
    sql += ")";
  }
  sql += " ORDER BY m.job_id, m.step, m.name";
  Statement query(db_, sql.c_str());
  query.bind(1, sweep_id);
  for (size_t i = 0; i < names.size(); ++i) query.bind(int(i) + 2, names[i]);
  std::vector<MetricRow> rows;
  while (query.step()) {
    MetricRow row;
    row.job_id = query.int_at(0);
    row.step = query.int_at(1);
    row.epoch = query.int_at(2);
    row.name = query.text_at(3);
    row.value = query.double_at(4);
    row.backbone = query.text_at(5);
    row.weights_sha256 = query.text_at(6);
    row.samples = query.int_at(7);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::map<int64_t, int64_t> Store::running_epochs(int64_t sweep_id) {
  std::map<int64_t, int64_t> epochs;
  Statement query(db_, "SELECT m.job_id, MAX(m.epoch) FROM metrics m JOIN jobs j ON j.id = m.job_id "
                       "WHERE j.sweep_id = ? AND j.status = 'running' GROUP BY m.job_id");
  query.bind(1, sweep_id);
  while (query.step()) epochs[query.int_at(0)] = query.int_at(1);
  return epochs;
}

std::map<std::string, std::optional<double>> Store::final_metrics(int64_t job_id) {
  std::map<std::string, std::optional<double>> values;
  Statement query(db_, "SELECT name, value FROM job_final_metrics WHERE job_id = ?");
  query.bind(1, job_id);
  while (query.step()) values[query.text_at(0)] = query.double_at(1);
  return values;
}

}  // namespace gansweep
