#include "sweepctl/results.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "coordinator/sweep.h"

namespace gansweep::sweepctl {
namespace {

// A prepared statement that finalizes itself; errors name the file.
class Query {
 public:
  Query(sqlite3* db, const std::string& path, const std::string& sql) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) fail();
  }
  ~Query() { sqlite3_finalize(stmt_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  Query& bind(int index, const std::string& value) {
    sqlite3_bind_text(stmt_, index, value.data(), int(value.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail();
    return false;
  }
  int64_t integer(int column) { return sqlite3_column_int64(stmt_, column); }
  bool null(int column) { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::optional<double> real(int column) {
    if (null(column)) return std::nullopt;
    return sqlite3_column_double(stmt_, column);
  }
  std::string text(int column) {
    const auto* text = sqlite3_column_text(stmt_, column);
    return text ? reinterpret_cast<const char*>(text) : "";
  }

 private:
  [[noreturn]] void fail() {
    throw std::runtime_error("database '" + path_ + "': " + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  const std::string& path_;
  sqlite3_stmt* stmt_ = nullptr;
};

// "host (model)" for the devices an attempt ran on: what Fig. 5 groups seeds by.
std::string machine_name(const std::string& host, const std::string& worker_devices_json,
                         const std::string& attempt_devices_json) {
  const auto devices = nlohmann::json::parse(worker_devices_json, nullptr, false);
  const auto used = nlohmann::json::parse(attempt_devices_json, nullptr, false);
  std::map<std::string, int> models;  // model -> devices of it used
  if (devices.is_array() && used.is_array())
    for (const auto& index : used)
      for (const auto& device : devices)
        if (device.value("index", -1) == index.get<int>()) ++models[device.value("model", std::string("?"))];
  if (models.empty()) return host;
  std::string text;
  for (const auto& [model, count] : models)
    text += (text.empty() ? "" : ", ") + (count > 1 ? std::to_string(count) + " x " : "") + model;
  return host + " (" + text + ")";
}

}  // namespace

const std::vector<std::string>& known_parameters() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all = kParameterOrder;
    all.push_back("machine");
    return all;
  }();
  return names;
}

void check_parameter(const std::string& name) {
  const auto& known = known_parameters();
  if (std::find(known.begin(), known.end(), name) != known.end()) return;
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  throw UsageError("unknown parameter '" + name + "': use one of " + list);
}

std::string parameter_text(const Job& job, const std::string& name) {
  if (name == "machine") return job.machine.empty() ? "(not run)" : job.machine;
  const nlohmann::json& value = name == "dataset" ? job.spec.at("dataset").at("name") : job.spec.at(name);
  return value.is_string() ? value.get<std::string>() : value.dump();
}

std::optional<double> parameter_number(const Job& job, const std::string& name) {
  if (name == "machine" || name == "dataset") return std::nullopt;
  const auto& value = job.spec.at(name);
  if (!value.is_number()) return std::nullopt;
  return value.get<double>();
}

std::pair<std::string, int> parse_sweep_name(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return {text, 0};
  const std::string digits = text.substr(colon + 1);
  if (colon == 0 || digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError("sweep '" + text + "': write NAME or NAME:VERSION");
  return {text.substr(0, colon), std::stoi(digits)};
}

ResultsDb ResultsDb::open(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error))
    throw std::runtime_error("database '" + path + "' does not exist (or is not a file)");
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  ResultsDb db(raw, path);  // closes on every error below
  if (rc != SQLITE_OK)
    throw std::runtime_error("cannot open database '" + path + "': " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
  // The coordinator may hold the write lock for a moment: wait rather than fail.
  sqlite3_busy_timeout(raw, 5000);
  // One read transaction for every query of this object: one consistent snapshot.
  sqlite3_exec(raw, "BEGIN", nullptr, nullptr, nullptr);

  sqlite3_stmt* probe = nullptr;
  const int prepared = sqlite3_prepare_v2(raw, "SELECT COALESCE(MAX(version), 0) FROM schema_version", -1, &probe, nullptr);
  const std::string message = prepared == SQLITE_OK ? "" : sqlite3_errmsg(raw);
  int64_t version = 0;
  if (prepared == SQLITE_OK && sqlite3_step(probe) == SQLITE_ROW) version = sqlite3_column_int64(probe, 0);
  sqlite3_finalize(probe);
  if (prepared != SQLITE_OK) {
    if (message.find("no such table") != std::string::npos)
      throw std::runtime_error("'" + path + "' is not a gansweep results database (it has no schema_version table)");
    throw std::runtime_error("'" + path + "' is not a gansweep results database: " + message);
  }
  if (version > kSchemaVersion)
    throw std::runtime_error("database '" + path + "' has schema version " + std::to_string(version) +
                             ", newer than this sweepctl understands (" + std::to_string(kSchemaVersion) + ")");
  if (version < kSchemaVersion)
    throw std::runtime_error("database '" + path + "' has schema version " + std::to_string(version) +
                             ", older than this sweepctl understands (" + std::to_string(kSchemaVersion) +
                             "); the coordinator migrates it when it next opens it (sweepctl never writes)");
  return db;
}

ResultsDb::~ResultsDb() {
  if (!db_) return;
  sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);  // ends the read transaction
  sqlite3_close_v2(db_);
}

ResultsDb::ResultsDb(ResultsDb&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

std::vector<SweepInfo> ResultsDb::sweeps() {
  std::vector<SweepInfo> sweeps;
  Query query(db_, path_, "SELECT id, name, version, content_hash, priority, status, created FROM sweeps ORDER BY name, version");
  while (query.step()) {
    SweepInfo info;
    info.id = query.integer(0);
    info.name = query.text(1);
    info.version = int(query.integer(2));
    info.content_hash = query.text(3);
    info.priority = int(query.integer(4));
    info.status = query.text(5);
    info.created = query.text(6);
    sweeps.push_back(std::move(info));
  }
  Query counts(db_, path_, "SELECT sweep_id, status, COUNT(*) FROM jobs GROUP BY sweep_id, status");
  while (counts.step())
    for (auto& info : sweeps)
      if (info.id == counts.integer(0)) {
        info.job_counts[counts.text(1)] = counts.integer(2);
        info.total_jobs += counts.integer(2);
      }
  return sweeps;
}

SweepInfo ResultsDb::sweep(const std::string& name) {
  const auto all = sweeps();
  std::string list;
  for (const auto& s : all) list += (list.empty() ? "" : ", ") + s.name + ":" + std::to_string(s.version);
  if (list.empty()) list = "none";
  if (name.empty()) {
    std::vector<std::string> names;
    for (const auto& s : all)
      if (std::find(names.begin(), names.end(), s.name) == names.end()) names.push_back(s.name);
    if (names.size() != 1)
      throw UsageError("database '" + path_ + "' holds " + std::to_string(names.size()) +
                       " sweeps: name one (" + list + ")");
    return sweep(names.front());
  }
  const auto [base, version] = parse_sweep_name(name);
  const SweepInfo* found = nullptr;
  for (const auto& s : all)
    if (s.name == base && (version == 0 ? (!found || s.version > found->version) : s.version == version)) found = &s;
  if (!found) throw std::runtime_error("no sweep '" + name + "' in '" + path_ + "' (stored: " + list + ")");
  return *found;
}

std::vector<Job> ResultsDb::jobs(int64_t sweep_id) {
  std::vector<Job> jobs;
  Query query(db_, path_,
              "SELECT id, sweep_id, key, spec, status, retries_left, priority, placement, gpus, "
              "COALESCE(host, ''), COALESCE(last_error, '') FROM jobs WHERE sweep_id = ? ORDER BY id");
  query.bind(1, sweep_id);
  std::map<int64_t, size_t> index;
  while (query.step()) {
    Job job;
    job.info.id = query.integer(0);
    job.info.sweep_id = query.integer(1);
    job.info.key = query.text(2);
    job.info.spec_json = query.text(3);
    job.info.status = query.text(4);
    job.info.retries_left = int(query.integer(5));
    job.info.priority = int(query.integer(6));
    job.info.placement = query.text(7);
    job.info.gpus = int(query.integer(8));
    job.info.host = query.text(9);
    job.info.last_error = query.text(10);
    job.spec = nlohmann::json::parse(job.info.spec_json);
    index[job.info.id] = jobs.size();
    jobs.push_back(std::move(job));
  }

  // The machine: of the attempt that finished the job, else the one running it, else the last.
  Query attempts(db_, path_,
                 "SELECT a.job_id, a.status, a.step, a.devices, w.host, w.devices "
                 "FROM attempts a JOIN workers w ON w.id = a.worker_id JOIN jobs j ON j.id = a.job_id "
                 "WHERE j.sweep_id = ? ORDER BY a.id");
  attempts.bind(1, sweep_id);
  std::map<int64_t, int> rank;  // job -> rank of the attempt its machine came from
  while (attempts.step()) {
    Job& job = jobs[index.at(attempts.integer(0))];
    const std::string status = attempts.text(1);
    const int r = status == "done" ? 2 : status == "running" ? 1 : 0;
    if (rank.count(job.info.id) && rank[job.info.id] > r) continue;
    rank[job.info.id] = r;
    job.machine = machine_name(attempts.text(4), attempts.text(5), attempts.text(3));
    const auto& train = job.spec.at("train");
    if (status == "running" && train.value("schedule", "") == "iterations" && train.value("iterations", 0) > 0)
      job.progress = std::min(1.0, double(attempts.integer(2)) / train.at("iterations").get<double>());
  }

  // Epoch schedules count updates per epoch from the dataset size: progress comes from the
  // last epoch evaluated instead.
  Query epochs(db_, path_,
               "SELECT m.job_id, MAX(m.epoch) FROM metrics m JOIN jobs j ON j.id = m.job_id "
               "WHERE j.sweep_id = ? AND j.status = 'running' GROUP BY m.job_id");
  epochs.bind(1, sweep_id);
  while (epochs.step()) {
    Job& job = jobs[index.at(epochs.integer(0))];
    const auto& train = job.spec.at("train");
    if (train.value("schedule", "") == "epochs" && train.value("epochs", 0) > 0)
      job.progress = std::min(1.0, double(epochs.integer(1)) / train.at("epochs").get<double>());
  }
  return jobs;
}

std::vector<MetricRow> ResultsDb::metrics(int64_t sweep_id, const std::vector<std::string>& names) {
  std::string sql =
      "SELECT m.job_id, m.step, m.epoch, m.name, m.value, m.backbone, m.weights_sha256, m.samples "
      "FROM metrics m JOIN jobs j ON j.id = m.job_id WHERE j.sweep_id = ?";
  if (!names.empty()) {
    sql += " AND m.name IN (";
    for (size_t i = 0; i < names.size(); ++i) sql += i ? ", ?" : "?";
    sql += ")";
  }
  sql += " ORDER BY m.job_id, m.step, m.name";
  Query query(db_, path_, sql);
  query.bind(1, sweep_id);
  for (size_t i = 0; i < names.size(); ++i) query.bind(int(i) + 2, names[i]);
  std::vector<MetricRow> rows;
  while (query.step()) {
    MetricRow row;
    row.job_id = query.integer(0);
    row.step = query.integer(1);
    row.epoch = query.integer(2);
    row.name = query.text(3);
    row.value = query.real(4);
    row.backbone = query.text(5);
    row.weights_sha256 = query.text(6);
    row.samples = query.integer(7);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<WorkerInfo> ResultsDb::workers() {
  std::vector<WorkerInfo> workers;
  Query query(db_, path_,
              "SELECT w.id, w.name, w.host, w.devices, w.cores, w.versions, COALESCE(w.last_heartbeat, ''), "
              "(SELECT COUNT(*) FROM attempts a WHERE a.worker_id = w.id AND a.status = 'running') "
              "FROM workers w ORDER BY w.name");
  while (query.step()) {
    WorkerInfo info;
    info.id = query.integer(0);
    info.registration.name = query.text(1);
    info.registration.host = query.text(2);
    info.registration.devices_json = query.text(3);
    info.registration.cores = int(query.integer(4));
    info.registration.versions_json = query.text(5);
    info.last_heartbeat = query.text(6);
    info.running_attempts = query.integer(7);
    workers.push_back(std::move(info));
  }
  return workers;
}

std::vector<AttemptRow> ResultsDb::attempts(int64_t sweep_id) {
  std::vector<AttemptRow> attempts;
  Query query(db_, path_,
              "SELECT a.id, a.job_id, w.name, a.status, CAST(strftime('%s', a.started) AS INTEGER), "
              "CAST(strftime('%s', a.ended) AS INTEGER), a.step "
              "FROM attempts a JOIN workers w ON w.id = a.worker_id JOIN jobs j ON j.id = a.job_id "
              "WHERE j.sweep_id = ? ORDER BY a.id");
  query.bind(1, sweep_id);
  while (query.step()) {
    AttemptRow a;
    a.id = query.integer(0);
    a.job_id = query.integer(1);
    a.worker = query.text(2);
    a.status = query.text(3);
    a.started = query.integer(4);
    if (!query.null(5)) a.ended = query.integer(5);
    a.step = query.integer(6);
    attempts.push_back(std::move(a));
  }
  return attempts;
}

std::vector<Artifact> ResultsDb::latest_sample_grids(const std::vector<int64_t>& job_ids) {
  std::vector<Artifact> grids;
  for (int64_t id : job_ids) {
    Query one(db_, path_,
              "SELECT path, step FROM artifacts WHERE job_id = ? AND kind = 'sample_grid' "
              "ORDER BY step DESC, id DESC LIMIT 1");
    one.bind(1, id);
    if (one.step()) grids.push_back({id, one.text(0), one.integer(1)});
  }
  return grids;
}

}  // namespace gansweep::sweepctl
