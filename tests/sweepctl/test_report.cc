// sweepctl's reading, tables, export and status on a fixture database built through the
// store API (fixture.h has every number): golden outputs, statistics and every refusal.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "coordinator/store.h"
#include "fixture.h"
#include "sweepctl/export.h"
#include "sweepctl/status.h"
#include "sweepctl/table.h"

namespace gansweep::sweepctl {
namespace {

namespace fs = std::filesystem;
using test::compare_golden;

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::test_dir();
    db_path_ = test::build_fixture(dir_);
  }
  void TearDown() override { test::remove_test_dir(dir_); }

  Table table(const std::string& sweep, TableOptions options) {
    ResultsDb db = ResultsDb::open(db_path_);
    const SweepInfo info = db.sweep(sweep);
    return build_table(info, db.jobs(info.id), db.metrics(info.id, {options.metric.name}), options);
  }
  static const Cell& cell(const Table& t, const std::string& row, const std::string& col) {
    const size_t r = size_t(std::find(t.rows.begin(), t.rows.end(), row) - t.rows.begin());
    const size_t c = size_t(std::find(t.cols.begin(), t.cols.end(), col) - t.cols.begin());
    EXPECT_LT(r, t.rows.size()) << row;
    EXPECT_LT(c, t.cols.size()) << col;
    return t.cells.at(r).at(c);
  }

  std::string dir_, db_path_;
};

TEST_F(ReportTest, FinalFidCellsAreMeanAndSampleStdOverFinishedSeeds) {
  const Table t = table("paper", {});
  EXPECT_EQ(t.rows, (std::vector<std::string>{"ls", "rahinge", "rmcos"}));  // the sweep file's order
  EXPECT_EQ(t.cols, (std::vector<std::string>{"cifar10", "mnist"}));
  EXPECT_EQ(t.backbone.name, "inception");

  const Cell& rmcos = cell(t, "rmcos", "cifar10");  // 29, 30, 31
  EXPECT_EQ(rmcos.stats.n, 3);
  EXPECT_DOUBLE_EQ(rmcos.stats.mean, 30);
  EXPECT_DOUBLE_EQ(*rmcos.stats.std, 1);
  EXPECT_TRUE(rmcos.best);

  const Cell& ls = cell(t, "ls", "cifar10");  // 35, NaN, 37
  EXPECT_EQ(ls.stats.n, 2);
  EXPECT_DOUBLE_EQ(ls.stats.mean, 36);
  EXPECT_NEAR(*ls.stats.std, std::sqrt(2.0), 1e-12);
  EXPECT_EQ(ls.others, (std::vector<std::pair<std::string, int>>{{"non-finite", 1}}));
  EXPECT_FALSE(ls.best);

  const Cell& rahinge = cell(t, "rahinge", "mnist");  // 12, 13, failed
  EXPECT_EQ(rahinge.stats.n, 2);
  EXPECT_DOUBLE_EQ(rahinge.stats.mean, 12.5);
  EXPECT_EQ(rahinge.others, (std::vector<std::pair<std::string, int>>{{"failed", 1}}));

  const Cell& last = cell(t, "rmcos", "mnist");  // 9, running, queued
  EXPECT_EQ(last.stats.n, 1);
  EXPECT_DOUBLE_EQ(last.stats.mean, 9);
  EXPECT_FALSE(last.stats.std);  // no std from one run
  EXPECT_EQ(last.others, (std::vector<std::pair<std::string, int>>{{"running", 1}, {"queued", 1}}));
  EXPECT_TRUE(last.best);
}

TEST_F(ReportTest, GoldenTablesInEveryFormat) {
  const Table t = table("paper", {});
  EXPECT_EQ(compare_golden("paper_fid.txt", render(t, Format::terminal)), "");
  EXPECT_EQ(compare_golden("paper_fid.md", render(t, Format::markdown)), "");
  EXPECT_EQ(compare_golden("paper_fid.csv", render(t, Format::csv)), "");
  EXPECT_EQ(compare_golden("paper_fid.tex", render(t, Format::latex)), "");
}

TEST_F(ReportTest, IsAtTheBestEvaluationMarksTheHighest) {
  TableOptions o;
  o.metric = parse_metric("is");
  o.at = parse_at("best");
  const Table t = table("paper", o);
  // IS rises every epoch: the best is the last, 2 + 0.5 * rank + 0.1 * seed + 1 (+1 on mnist).
  EXPECT_NEAR(cell(t, "rmcos", "cifar10").stats.mean, 4.2, 1e-12);
  EXPECT_TRUE(cell(t, "rmcos", "cifar10").best);
  EXPECT_FALSE(cell(t, "ls", "cifar10").best);
  EXPECT_EQ(compare_golden("paper_is_best.md", render(t, Format::markdown)), "");
}

TEST_F(ReportTest, BestFidSkipsTheNonFiniteValue) {
  TableOptions o;
  o.at = parse_at("best");
  const Table t = table("paper", o);
  const Cell& ls = cell(t, "ls", "cifar10");  // seed 2's best is epoch 3: 36 + 40/3 - 10
  EXPECT_EQ(ls.stats.n, 3);
  EXPECT_NEAR(ls.stats.mean, (35 + (36 + 40.0 / 3 - 10) + 37) / 3, 1e-9);
}

TEST_F(ReportTest, AnEpochCountsRunningJobsThatReachedIt) {
  TableOptions o;
  o.at = parse_at("epoch=2");
  const Table t = table("paper", o);
  const Cell& c = cell(t, "rmcos", "mnist");  // seed 1 done, seed 2 running at epoch 2: 19, 20
  EXPECT_EQ(c.stats.n, 2);
  EXPECT_DOUBLE_EQ(c.stats.mean, 19.5);
  EXPECT_EQ(c.others, (std::vector<std::pair<std::string, int>>{{"queued", 1}}));
  // The failed job stopped after epoch 1.
  EXPECT_EQ(cell(t, "rahinge", "mnist").others, (std::vector<std::pair<std::string, int>>{{"failed", 1}}));
}

TEST_F(ReportTest, BackbonesAreNeverAveragedTogether) {
  TableOptions o;
  o.metric = parse_metric("kid");
  try {
    table("paper", o);
    FAIL() << "two backbones were averaged";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("inception:1a2b3c4d5e6f"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("classifier:ffeeddccbbaa"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--backbone"), std::string::npos) << e.what();
  }
  o.backbone = "inception";
  const Table inception = table("paper", o);
  EXPECT_EQ(cell(inception, "ls", "cifar10").stats.n, 2);  // seed 1's KID is the classifier's
  EXPECT_EQ(cell(inception, "ls", "cifar10").others, (std::vector<std::pair<std::string, int>>{{"no metric", 1}}));
  EXPECT_EQ(compare_golden("paper_kid_inception.txt", render(inception, Format::terminal)), "");

  o.backbone = "classifier:ffee";
  const Table classifier = table("paper", o);
  EXPECT_EQ(cell(classifier, "ls", "cifar10").stats.n, 1);
  EXPECT_EQ(cell(classifier, "rmcos", "cifar10").stats.n, 0);
  EXPECT_EQ(classifier.backbone.weights_sha256, test::kClassifierSha);

  o.backbone = "clip";
  EXPECT_THROW(table("paper", o), UsageError);
}

TEST_F(ReportTest, JobsThatDifferInAnotherParameterAreNotAveraged) {
  try {
    table("margins", {});  // rows loss, cols dataset: three margins per cell
    FAIL() << "margins were averaged together";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("differ in margin (0.0, 0.15, 0.3)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--where margin=0.0"), std::string::npos) << e.what();
  }
  TableOptions o;
  o.where = {"margin=0.15"};
  const Table one = table("margins", o);
  EXPECT_DOUBLE_EQ(cell(one, "rmcos", "cifar10").stats.mean, 30);
  EXPECT_NEAR(*cell(one, "rmcos", "cifar10").stats.std, std::sqrt(0.5), 1e-12);

  o.where = {};
  o.rows = "margin";
  o.metric = parse_metric("fid@16");
  EXPECT_EQ(compare_golden("margins_fid16.txt", render(table("margins", o), Format::terminal)), "");
}

TEST_F(ReportTest, MachinesAreAParameter) {
  TableOptions o;
  o.rows = "seed";
  o.cols = "machine";
  const Table t = table("variance", o);
  EXPECT_EQ(t.cols, (std::vector<std::string>{"alpha (NVIDIA A100-SXM4-80GB)", "beta (NVIDIA GeForce RTX 3090)"}));
  EXPECT_NEAR(cell(t, "3", "beta (NVIDIA GeForce RTX 3090)").stats.mean, 12.4, 1e-12);
  EXPECT_EQ(compare_golden("variance_machine.md", render(t, Format::markdown)), "");
}

TEST_F(ReportTest, ACombinationTheSweepDoesNotHaveSaysSo) {
  ResultsDb db = ResultsDb::open(db_path_);
  const SweepInfo info = db.sweep("paper");
  std::vector<Job> jobs;
  for (auto& job : db.jobs(info.id))
    if (!(parameter_text(job, "dataset") == "mnist" && parameter_text(job, "loss") == "ls")) jobs.push_back(job);
  const Table t = build_table(info, jobs, db.metrics(info.id, {"fid"}), {});
  EXPECT_FALSE(cell(t, "ls", "mnist").in_sweep);
  EXPECT_NE(render(t, Format::terminal).find("not in sweep"), std::string::npos);
  EXPECT_NE(render(t, Format::csv).find("ls,mnist,fid,final,inception," + std::string(test::kInceptionSha) +
                                        ",0,,,0,not in sweep"),
            std::string::npos)
      << render(t, Format::csv);
}

TEST_F(ReportTest, BadOptionsAreUsageErrors) {
  EXPECT_THROW(parse_metric("precision"), UsageError);
  EXPECT_THROW(parse_metric("fid@0"), UsageError);
  EXPECT_EQ(parse_metric("fid@5000").label, "FID (5000 samples)");
  EXPECT_THROW(parse_at("last"), UsageError);
  EXPECT_THROW(parse_at("epoch=x"), UsageError);
  EXPECT_THROW(parse_format("html"), UsageError);
  TableOptions o;
  o.rows = "lr";
  EXPECT_THROW(table("paper", o), UsageError);
  o.rows = "dataset";
  EXPECT_THROW(table("paper", o), UsageError);  // rows and columns the same
  o.rows = "loss";
  o.where = {"margin"};
  EXPECT_THROW(table("paper", o), UsageError);
  o.where = {"loss=wgan"};
  try {
    table("paper", o);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "no job has loss=wgan (loss takes: ls, rahinge, rmcos)");
  }
}

TEST_F(ReportTest, SweepsAreFoundByNameAndVersion) {
  ResultsDb db = ResultsDb::open(db_path_);
  EXPECT_EQ(db.sweep("paper").version, 1);
  EXPECT_EQ(db.sweep("paper:1").name, "paper");
  try {
    db.sweep("papers");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "no sweep 'papers' in '" + db_path_ + "' (stored: margins:1, paper:1, variance:1)");
  }
  EXPECT_THROW(db.sweep("paper:2"), std::runtime_error);
  EXPECT_THROW(db.sweep("paper:x"), UsageError);
  EXPECT_THROW(db.sweep(""), UsageError);  // three sweeps: name one
}

TEST_F(ReportTest, RefusesFilesItDoesNotUnderstandNamingThem) {
  auto message = [](const std::string& path) {
    try {
      ResultsDb::open(path);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("opened");
  };
  EXPECT_EQ(message(dir_ + "/missing.db"), "database '" + dir_ + "/missing.db' does not exist (or is not a file)");
  std::ofstream(dir_ + "/notes.txt") << "not a database at all, just some text that is long enough to fill a header\n";
  EXPECT_EQ(message(dir_ + "/notes.txt"), "'" + dir_ + "/notes.txt' is not a gansweep results database: file is not a database");

  auto make = [&](const std::string& name, const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2((dir_ + "/" + name).c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close_v2(db);
    return dir_ + "/" + name;
  };
  EXPECT_EQ(message(make("other.db", "CREATE TABLE t(x)")),
            "'" + dir_ + "/other.db' is not a gansweep results database (it has no schema_version table)");
  EXPECT_NE(message(make("old.db", "CREATE TABLE schema_version(version INTEGER); INSERT INTO schema_version VALUES (1)"))
                .find("has schema version 1, older than this build understands (2)"),
            std::string::npos);
  fs::copy_file(db_path_, dir_ + "/new.db");
  EXPECT_EQ(message(make("new.db", "INSERT INTO schema_version(version) VALUES (3)")),
            "database '" + dir_ + "/new.db' has schema version 3, newer than this build understands (2)");
}

TEST_F(ReportTest, ReadingNeverChangesTheFile) {
  struct stat before {};
  ASSERT_EQ(::stat(db_path_.c_str(), &before), 0);
  const std::string bytes = test::read_file(db_path_);
  {
    ResultsDb db = ResultsDb::open(db_path_);
    const SweepInfo info = db.sweep("paper");
    render(build_table(info, db.jobs(info.id), db.metrics(info.id), {}), Format::latex);
    export_csv(db, "");
    status_from_db(db, "", test::kFixtureNow);
  }
  struct stat after {};
  ASSERT_EQ(::stat(db_path_.c_str(), &after), 0);
  EXPECT_EQ(test::read_file(db_path_), bytes);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  // SQLite may leave an empty write-ahead log beside a WAL file it read; never anything in it.
  if (fs::exists(db_path_ + "-wal")) EXPECT_EQ(fs::file_size(db_path_ + "-wal"), 0u);
}

TEST_F(ReportTest, ReadsOneSnapshotWhileTheCoordinatorWrites) {
  Store writer = Store::open(db_path_);  // as the coordinator holds it
  ResultsDb before = ResultsDb::open(db_path_);
  const SweepInfo info = before.sweep("paper");
  EXPECT_EQ(before.jobs(info.id)[16].info.status, "running");
  const size_t fid_rows = before.metrics(info.id, {"fid"}).size();

  // The running job (#17) reports its last epochs and finishes.
  const auto attempts = writer.list_attempts(17);
  ASSERT_EQ(attempts.back().status, "running");
  std::vector<MetricRecord> records;
  for (int epoch = 3; epoch <= 4; ++epoch) {
    MetricRecord r;
    r.step = epoch * 10;
    r.epoch = epoch;
    r.name = "fid";
    r.value = 10 + 40.0 / epoch - 10;
    r.backbone = "inception";
    r.weights_sha256 = test::kInceptionSha;
    records.push_back(r);
  }
  writer.report_progress(attempts.back().id, 40, records);
  writer.finish_attempt(attempts.back().id, kExitFinished, "", test::kFixtureNow);

  // The reader opened before keeps its snapshot: the table it prints is consistent.
  EXPECT_EQ(before.jobs(info.id)[16].info.status, "running");
  EXPECT_EQ(before.metrics(info.id, {"fid"}).size(), fid_rows);

  const Table now = table("paper", {});
  const Cell& c = cell(now, "rmcos", "mnist");  // 9 and 10, seed 3 still queued
  EXPECT_EQ(c.stats.n, 2);
  EXPECT_DOUBLE_EQ(c.stats.mean, 9.5);
  EXPECT_EQ(c.others, (std::vector<std::pair<std::string, int>>{{"queued", 1}}));
}

TEST_F(ReportTest, ExportHasOneLinePerJobAndStepWithEveryParameter) {
  ResultsDb db = ResultsDb::open(db_path_);
  const std::string csv = export_csv(db, "paper");
  EXPECT_EQ(compare_golden("paper_export.csv", csv), "");
  // A header, 15 finished jobs x 4 evaluations, the failed job's 1, the running job's 2, the
  // queued job's line without a step.
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 15 * 4 + 1 + 2 + 1);
  EXPECT_NE(csv.find("paper,1,2,\"dataset=cifar10,loss=ls,seed=2\",done,beta (NVIDIA GeForce RTX 3090),cifar10,ls,0.15,10.0,2,40,4,inception,"),
            std::string::npos);
  const std::string margins = export_csv(db, "margins");
  EXPECT_EQ(margins.substr(0, margins.find('\n')),
            "sweep,version,job_id,key,status,machine,dataset,loss,margin,scale,seed,step,epoch,backbone,weights_sha256,"
            "samples,fid,fid@16,fid@32,is_mean,loss_d,loss_g");
}

TEST_F(ReportTest, StatusCountsJobsRatesAndWorkers) {
  ResultsDb db = ResultsDb::open(db_path_);
  const Status status = status_from_db(db, "paper", test::kFixtureNow);
  ASSERT_EQ(status.sweeps.size(), 1u);
  const SweepStatus& s = status.sweeps[0];
  EXPECT_NEAR(*s.jobs_per_hour, 15 * 3600.0 / (40 * 600), 1e-9);  // 15 done since the first lease
  EXPECT_EQ(*s.eta_seconds, 2400);  // 1 queued + half of the running one, at 2.25 jobs/h
  const std::string text = format_status(status, test::kFixtureNow);
  for (const std::string expected :
       {"  jobs      18: 15 done, 1 running, 1 queued, 1 failed\n",
        "  progress  [####################################----] 16/18 settled (89%)\n",
        "  rate      2.25 jobs/h over 6h 40m; ETA 40m 00s\n",
        "  running   #17 dataset=mnist,loss=rmcos,seed=2  on alpha-0  [##########----------] 50%\n",
        "  failed    #15 dataset=mnist,loss=rahinge,seed=3: dataset failed to load\n",
        "  alpha-0  host alpha  2 x NVIDIA A100-SXM4-80GB  running 1  last heartbeat 30s ago\n",
        "      dataset=mnist,loss=rmcos,seed=2 (50%)\n",
        "  beta-0  host beta  1 x NVIDIA GeForce RTX 3090  running 0  last heartbeat 45s ago\n"})
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\nnot in:\n" << text;

  const std::string all = format_status(status_from_db(db, "", test::kFixtureNow), test::kFixtureNow);
  EXPECT_NE(all.find("sweep variance v1  active, priority 10"), std::string::npos) << all;
  EXPECT_NE(all.find("  jobs      8: 8 done\n"), std::string::npos) << all;
  EXPECT_NE(all.find("nothing left to run"), std::string::npos) << all;
}

}  // namespace
}  // namespace gansweep::sweepctl
