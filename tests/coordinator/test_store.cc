#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "coordinator/store.h"
#include "coordinator/sweep.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;

const std::string kSweep =
    "name: s\n"
    "method: grid\n"
    "parameters:\n"
    "  dataset: {value: synth}\n"
    "  loss: {values: [rmcos, ls]}\n"
    "  seed: {values: [1, 2]}\n"
    "train: {schedule: iterations, iterations: 2, batch_size: 8}\n"
    "datasets:\n"
    "  synth: {format: synthetic}\n"
    "retries: 3\n"
    "priority: 5\n";

// A raw connection, as sqlite3 or sweepctl would open the file.
class Connection {
 public:
  Connection(const std::string& path, int flags) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, flags, nullptr), SQLITE_OK);
  }
  ~Connection() { sqlite3_close_v2(db_); }
  int exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
  // The first column of the first row; reports SQLite's error code in `rc`.
  std::string text(const std::string& sql, int* rc = nullptr) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    const int step = sqlite3_step(stmt);
    if (rc) *rc = step;
    std::string out;
    if (step == SQLITE_ROW && sqlite3_column_text(stmt, 0))
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return out;
  }
  int64_t count(const std::string& table) { return std::stoll(text("SELECT COUNT(*) FROM " + table)); }

 private:
  sqlite3* db_ = nullptr;
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gansweep-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "results.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  int64_t rows(const std::string& table) {
    Connection c(path_, SQLITE_OPEN_READONLY);
    return c.count(table);
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(StoreTest, FreshFileGetsEveryMigrationAndWalMode) {
  {
    Store store = Store::open(path_);
    EXPECT_EQ(store.schema_version(), kSchemaVersion);
  }
  Connection c(path_, SQLITE_OPEN_READONLY);
  EXPECT_EQ(c.text("PRAGMA journal_mode"), "wal");
  for (const char* table : {"sweeps", "jobs", "workers", "attempts", "metrics", "artifacts"})
    EXPECT_EQ(c.text(std::string("SELECT type FROM sqlite_master WHERE name = '") + table + "'"), "table") << table;
  for (const char* view : {"job_final_metrics", "job_best_metrics", "metric_curves"})
    EXPECT_EQ(c.text(std::string("SELECT type FROM sqlite_master WHERE name = '") + view + "'"), "view") << view;
  EXPECT_EQ(c.count("schema_version"), kSchemaVersion);

  // Reopening applies nothing twice.
  Store again = Store::open(path_);
  EXPECT_EQ(again.schema_version(), kSchemaVersion);
  EXPECT_EQ(rows("schema_version"), kSchemaVersion);
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  { Store::open(path_); }
  {
    Connection c(path_, SQLITE_OPEN_READWRITE);
    ASSERT_EQ(c.exec("INSERT INTO schema_version(version) VALUES (99)"), SQLITE_OK);
  }
  try {
    Store::open(path_);
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99, newer than this build understands (" + std::to_string(kSchemaVersion) + ")"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(StoreTest, SubmitStoresTheSweepAndEveryJob) {
  Store store = Store::open(path_);
  const SubmitResult result = store.submit_sweep(parse_sweep(kSweep, "s.yaml"));
  EXPECT_TRUE(result.created);
  EXPECT_EQ(result.version, 1);
  EXPECT_EQ(result.jobs, 4);

  const std::vector<JobInfo> jobs = store.list_jobs(result.sweep_id);
  ASSERT_EQ(jobs.size(), 4u);
  EXPECT_EQ(jobs[0].key, "dataset=synth,loss=rmcos,seed=1");
  EXPECT_EQ(jobs[0].status, "queued");
  EXPECT_EQ(jobs[0].retries_left, 3);
  EXPECT_EQ(jobs[0].priority, 5);
  EXPECT_EQ(jobs[0].placement, "any");
  EXPECT_EQ(jobs[0].gpus, 1);
  EXPECT_EQ(nlohmann::json::parse(jobs[0].spec_json)["loss"], "rmcos");

  const std::optional<SweepInfo> info = store.get_sweep("s");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->status, "active");
  EXPECT_EQ(info->priority, 5);
  EXPECT_EQ(info->total_jobs, 4);
  EXPECT_EQ(info->job_counts, (std::map<std::string, int64_t>{{"queued", 4}}));
  EXPECT_FALSE(store.get_sweep("other"));

  Connection c(path_, SQLITE_OPEN_READONLY);
  EXPECT_EQ(c.text("SELECT yaml FROM sweeps"), kSweep);  // the file as written
}

TEST_F(StoreTest, ResubmittingTheSameContentAddsNothing) {
  Store store = Store::open(path_);
  const SubmitResult first = store.submit_sweep(parse_sweep(kSweep, "s.yaml"));
  // Comments and layout are not content.
  const SubmitResult second = store.submit_sweep(parse_sweep("# resumed\n" + kSweep, "s.yaml"));
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.sweep_id, first.sweep_id);
  EXPECT_EQ(second.version, 1);
  EXPECT_EQ(second.jobs, 4);
  EXPECT_EQ(rows("sweeps"), 1);
  EXPECT_EQ(rows("jobs"), 4);
}

TEST_F(StoreTest, ChangedContentIsRefusedUnlessANewVersionIsAsked) {
  Store store = Store::open(path_);
  store.submit_sweep(parse_sweep(kSweep, "s.yaml"));
  const std::string changed_text = kSweep + "resources: {gpus: 2}\n";
  const Sweep changed = parse_sweep(changed_text, "s.yaml");
  try {
    store.submit_sweep(changed);
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("sweep 's' is already stored (version 1"), std::string::npos) << message;
    EXPECT_NE(message.find("as version 2"), std::string::npos) << message;
  }
  EXPECT_EQ(rows("sweeps"), 1);
  EXPECT_EQ(rows("jobs"), 4);

  const SubmitResult v2 = store.submit_sweep(changed, /*allow_new_version=*/true);
  EXPECT_TRUE(v2.created);
  EXPECT_EQ(v2.version, 2);
  EXPECT_EQ(rows("sweeps"), 2);
  EXPECT_EQ(rows("jobs"), 8);
  EXPECT_EQ(store.get_sweep("s")->version, 2);
  EXPECT_EQ(store.get_sweep("s", 1)->version, 1);
  EXPECT_EQ(store.list_jobs(v2.sweep_id)[0].gpus, 2);
  EXPECT_EQ(store.list_sweeps().size(), 2u);

  // Submitting version 1's file again resumes version 1; it is not a third version.
  const SubmitResult back = store.submit_sweep(parse_sweep(kSweep, "s.yaml"), true);
  EXPECT_FALSE(back.created);
  EXPECT_EQ(back.version, 1);
  EXPECT_EQ(rows("sweeps"), 2);
}

TEST_F(StoreTest, MalformedSweepStoresNothing) {
  Store store = Store::open(path_);
  store.submit_sweep(parse_sweep(kSweep, "s.yaml"));
  // A file that fails to parse never reaches the store.
  std::string bad_retries = kSweep;
  bad_retries.replace(bad_retries.find("retries: 3"), 10, "retries: -1");
  EXPECT_THROW(parse_sweep(bad_retries, "s.yaml"), SweepError);
  // A sweep that was altered after parsing is expanded and validated again before writing.
  Sweep broken = parse_sweep(kSweep, "t.yaml");
  broken.name = "t";
  broken.content_hash = "different";
  broken.train["batch_size"] = 1;
  EXPECT_THROW(store.submit_sweep(broken), SweepError);
  EXPECT_EQ(rows("sweeps"), 1);
  EXPECT_EQ(rows("jobs"), 4);
}

TEST_F(StoreTest, AFailureMidTransactionLeavesNoPartialRows) {
  Store store = Store::open(path_);
  {
    // Make the third job insert fail, after the sweep row and two jobs went in.
    Connection c(path_, SQLITE_OPEN_READWRITE);
    ASSERT_EQ(c.exec("CREATE TRIGGER fail_third_job BEFORE INSERT ON jobs "
                     "WHEN (SELECT COUNT(*) FROM jobs) >= 2 BEGIN SELECT RAISE(ABORT, 'injected'); END"),
              SQLITE_OK);
  }
  try {
    store.submit_sweep(parse_sweep(kSweep, "s.yaml"));
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("injected"), std::string::npos) << e.what();
  }
  EXPECT_EQ(rows("sweeps"), 0);
  EXPECT_EQ(rows("jobs"), 0);

  {
    Connection c(path_, SQLITE_OPEN_READWRITE);
    ASSERT_EQ(c.exec("DROP TRIGGER fail_third_job"), SQLITE_OK);
  }
  const SubmitResult result = store.submit_sweep(parse_sweep(kSweep, "s.yaml"));
  EXPECT_EQ(result.version, 1);  // no orphan sweep row was left to bump the version
  EXPECT_EQ(rows("jobs"), 4);

  // A metrics batch with one bad row (no such job) adds none of its rows.
  const int64_t job = store.list_jobs(result.sweep_id)[0].id;
  std::vector<MetricRecord> batch(3);
  for (int i = 0; i < 3; ++i) {
    batch[i].job_id = job;
    batch[i].step = i + 1;
    batch[i].name = "loss_d";
    batch[i].value = 1.0;
  }
  batch[1].job_id = 9999;
  EXPECT_THROW(store.record_metrics(batch), StoreError);
  EXPECT_EQ(rows("metrics"), 0);
}

MetricRecord metric(int64_t job, int64_t step, const std::string& name, double value) {
  MetricRecord r;
  r.job_id = job;
  r.step = step;
  r.epoch = step;
  r.name = name;
  r.value = value;
  r.samples = 10000;
  return r;
}

TEST_F(StoreTest, MetricsAreIdempotentPerJobStepAndName) {
  Store store = Store::open(path_);
  const SubmitResult sweep = store.submit_sweep(parse_sweep(kSweep, "s.yaml"));
  const int64_t job = store.list_jobs(sweep.sweep_id)[0].id;
  const std::vector<MetricRecord> report = {metric(job, 1, "fid", 50), metric(job, 1, "is_mean", 2),
                                            metric(job, 2, "fid", 40)};
  EXPECT_EQ(store.record_metrics(report), 3);
  EXPECT_EQ(store.record_metrics(report), 0);  // a replayed report
  EXPECT_EQ(store.record_metrics({metric(job, 2, "fid", 41), metric(job, 3, "fid", 35)}), 1);
  EXPECT_EQ(rows("metrics"), 4);
  Connection c(path_, SQLITE_OPEN_READONLY);
  EXPECT_EQ(c.text("SELECT value FROM metrics WHERE step = 2 AND name = 'fid'"), "40.0");  // first kept
}

TEST_F(StoreTest, ViewsAnswerFinalBestAndCurves) {
  Store store = Store::open(path_);
  const SubmitResult sweep = store.submit_sweep(parse_sweep(kSweep, "s.yaml"));
  const std::vector<JobInfo> jobs = store.list_jobs(sweep.sweep_id);
  const int64_t a = jobs[0].id;  // rmcos, seed 1
  const int64_t b = jobs[3].id;  // ls, seed 2
  store.record_metrics({metric(a, 1, "fid", 50), metric(a, 2, "fid", 30), metric(a, 3, "fid", 40),
                        metric(a, 1, "is_mean", 2), metric(a, 2, "is_mean", 3), metric(a, 3, "is_mean", 2.5),
                        metric(a, 4, "fid", std::numeric_limits<double>::quiet_NaN()),
                        metric(b, 1, "fid", 80)});

  Connection c(path_, SQLITE_OPEN_READONLY);
  // The last reported step wins, even when its value is not finite (stored as NULL).
  EXPECT_EQ(c.text("SELECT step || ':' || IFNULL(value, 'null') FROM job_final_metrics "
                   "WHERE job_id = " + std::to_string(a) + " AND name = 'fid'"),
            "4:null");
  EXPECT_EQ(c.text("SELECT value FROM job_final_metrics WHERE job_id = " + std::to_string(a) +
                   " AND name = 'is_mean'"),
            "2.5");
  EXPECT_EQ(c.text("SELECT COUNT(*) FROM job_final_metrics"), "3");
  // Best: lowest FID, highest IS, with the step that reached it; NULLs never win.
  EXPECT_EQ(c.text("SELECT value || '@' || step FROM job_best_metrics WHERE job_id = " + std::to_string(a) +
                   " AND name = 'fid'"),
            "30.0@2");
  EXPECT_EQ(c.text("SELECT value || '@' || step FROM job_best_metrics WHERE job_id = " + std::to_string(a) +
                   " AND name = 'is_mean'"),
            "3.0@2");
  EXPECT_EQ(c.text("SELECT value FROM job_best_metrics WHERE job_id = " + std::to_string(b)), "80.0");
  // Curves carry the job's parameters.
  EXPECT_EQ(c.text("SELECT COUNT(*) FROM metric_curves WHERE loss = 'rmcos' AND seed = 1 AND name = 'fid'"), "4");
  EXPECT_EQ(c.text("SELECT sweep || '/' || dataset || '/' || loss || '/' || seed || '/' || margin "
                   "FROM metric_curves WHERE job_id = " + std::to_string(b)),
            "s/synth/ls/2/0.15");
}

TEST_F(StoreTest, ReadersReadWhileAWriteTransactionIsOpen) {
  Store store = Store::open(path_);
  const SubmitResult sweep = store.submit_sweep(parse_sweep(kSweep, "s.yaml"));
  const int64_t job = store.list_jobs(sweep.sweep_id)[0].id;
  store.record_metrics({metric(job, 1, "fid", 50)});

  Connection writer(path_, SQLITE_OPEN_READWRITE);
  ASSERT_EQ(writer.exec("BEGIN IMMEDIATE"), SQLITE_OK);
  ASSERT_EQ(writer.exec("INSERT INTO metrics(job_id, step, name, value) VALUES (" + std::to_string(job) +
                        ", 2, 'fid', 45)"),
            SQLITE_OK);

  // In WAL mode the reader is not blocked (no SQLITE_BUSY) and sees the last commit.
  Connection reader(path_, SQLITE_OPEN_READONLY);
  int rc = 0;
  EXPECT_EQ(reader.text("SELECT COUNT(*) FROM metrics", &rc), "1");
  EXPECT_EQ(rc, SQLITE_ROW);
  EXPECT_EQ(store.list_sweeps().size(), 1u);  // the coordinator's own reads go on too

  ASSERT_EQ(writer.exec("COMMIT"), SQLITE_OK);
  EXPECT_EQ(reader.text("SELECT COUNT(*) FROM metrics"), "2");
}

TEST_F(StoreTest, ReadOnlyOpenReadsOneSnapshotAndNeverWrites) {
  int64_t job = 0;
  {
    Store writer = Store::open(path_);
    job = writer.list_jobs(writer.submit_sweep(parse_sweep(kSweep, "s.yaml")).sweep_id)[0].id;
    writer.record_metrics({metric(job, 1, "fid", 50)});
  }
  auto bytes = [&] {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  };
  const std::string before = bytes();

  Store reader = Store::open_read_only(path_);
  EXPECT_EQ(reader.schema_version(), kSchemaVersion);
  ASSERT_EQ(reader.list_sweeps().size(), 1u);
  EXPECT_EQ(reader.list_sweeps()[0].total_jobs, 4);
  const auto rows = reader.list_metrics(reader.list_sweeps()[0].id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].job_id, job);
  EXPECT_EQ(rows[0].value, 50);

  // Every write is refused with SQLite's read-only error, and the file stays as it was.
  EXPECT_THROW(reader.record_metrics({metric(job, 2, "fid", 45)}), StoreError);
  EXPECT_THROW(reader.submit_sweep(parse_sweep(kSweep, "s.yaml")), StoreError);
  try {
    reader.renew_running_leases(60, 0);
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("readonly"), std::string::npos) << e.what();
  }
  EXPECT_EQ(bytes(), before);

  // The snapshot taken at open holds while the coordinator writes; a new open sees the write.
  Store writer = Store::open(path_);
  writer.record_metrics({metric(job, 2, "fid", 45)});
  EXPECT_EQ(reader.list_metrics(reader.list_sweeps()[0].id).size(), 1u);
  Store later = Store::open_read_only(path_);
  EXPECT_EQ(later.list_metrics(later.list_sweeps()[0].id).size(), 2u);
}

TEST_F(StoreTest, ReadOnlyOpenRefusesWhatIsNotAGansweepDatabaseNamingTheFile) {
  auto message = [](const std::string& path) {
    try {
      Store::open_read_only(path);
    } catch (const StoreError& e) {
      return std::string(e.what());
    }
    return std::string("opened");
  };
  const std::string missing = (dir_ / "missing.db").string();
  EXPECT_EQ(message(missing), "database '" + missing + "' does not exist (or is not a file)");
  EXPECT_FALSE(fs::exists(missing));  // never created

  const std::string other = (dir_ / "other.db").string();
  {
    Connection c(other, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    ASSERT_EQ(c.exec("CREATE TABLE t(x)"), SQLITE_OK);
  }
  EXPECT_EQ(message(other), "'" + other + "' is not a gansweep results database (it has no schema_version table)");

  {
    Store::open(path_);
    Connection c(path_, SQLITE_OPEN_READWRITE);
    ASSERT_EQ(c.exec("INSERT INTO schema_version(version) VALUES (99)"), SQLITE_OK);
  }
  EXPECT_NE(message(path_).find("'" + path_ + "' has schema version 99, newer"), std::string::npos) << message(path_);
}

TEST_F(StoreTest, EveryReadySweepCanBeStored) {
  Store store = Store::open(path_);
  int64_t total = 0;
  for (const auto& entry : fs::directory_iterator(GANSWEEP_SWEEPS_DIR)) {
    if (entry.path().extension() != ".yaml") continue;
    total += store.submit_sweep(load_sweep(entry.path().string())).jobs;
  }
  EXPECT_EQ(total, 4 + 2 + 96 + 90 + 10);
  EXPECT_EQ(rows("jobs"), total);
  Connection c(path_, SQLITE_OPEN_READONLY);
  EXPECT_EQ(c.text("SELECT COUNT(*) FROM jobs WHERE placement = 'every-worker'"), "10");
}

}  // namespace
}  // namespace gansweep
