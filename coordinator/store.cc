#include "coordinator/store.h"

#include <sqlite3.h>

#include <cmath>
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
  explicit Transaction(sqlite3* db) : db_(db) { exec(db_, "BEGIN IMMEDIATE"); }
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

  Statement insert_job(db_, "INSERT INTO jobs(sweep_id, key, spec, retries_left, priority, placement, gpus) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)");
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
  Statement query(db_, "SELECT id, sweep_id, key, spec, status, retries_left, priority, placement, gpus "
                       "FROM jobs WHERE sweep_id = ? ORDER BY id");
  query.bind(1, sweep_id);
  while (query.step()) {
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
    jobs.push_back(std::move(job));
  }
  return jobs;
}

}  // namespace gansweep
