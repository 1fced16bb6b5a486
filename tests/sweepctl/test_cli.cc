// The sweepctl binary as a user runs it: its tables match the goldens, it never changes the
// database it reads, bad input gets one line and exit code 1 or 2, and status and cancel work
// against a live coordinator process on loopback.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "fixture.h"
#include "worker/launcher.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out, err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::test_dir();
    db_ = test::build_fixture(dir_);
  }
  void TearDown() override { test::remove_test_dir(dir_); }

  Result run(std::vector<std::string> args) {
    LaunchSpec spec;
    spec.argv = {GANSWEEP_SWEEPCTL_BINARY};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.stderr_path = dir_ + "/sweepctl.stderr";
    auto child = ChildProcess::start(spec);
    Result result;
    std::optional<int> code;
    for (int i = 0; i < 6000 && !(code = child->poll()); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (const auto& line : child->take_lines()) result.out += line + "\n";
    result.code = code.value_or(-1);
    result.err = test::read_file(spec.stderr_path);
    return result;
  }

  std::string dir_, db_;
};

TEST_F(CliTest, ReportPrintsTheGoldenTables) {
  Result r = run({"report", "paper", "--db", db_});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(test::compare_golden("paper_fid.txt", r.out), "");
  r = run({"--db", db_, "report", "paper", "--format", "latex", "-o", dir_ + "/t.tex"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(test::compare_golden("paper_fid.tex", test::read_file(dir_ + "/t.tex")), "");
  r = run({"report", "margins", "--db", db_, "--where", "dataset=mnist", "--rows", "margin", "--cols", "seed",
           "--format", "csv"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(test::compare_golden("margins_mnist_seed.csv", r.out), "");
}

TEST_F(CliTest, AReadOnlyCopyElsewhereIsReadAndNeverChanged) {
  // Tests run as root, whom chmod does not stop: the check is that nothing was written.
  const std::string copy_dir = dir_ + "/copy";
  fs::create_directories(copy_dir);
  const std::string copy = copy_dir + "/results.db";
  fs::copy_file(db_, copy);
  ::chmod(copy.c_str(), 0444);
  struct stat before {};
  ASSERT_EQ(::stat(copy.c_str(), &before), 0);
  const std::string bytes = test::read_file(copy);

  EXPECT_EQ(run({"report", "paper", "--db", copy, "--metric", "is", "--at", "best", "--format", "markdown"}).code, 0);
  EXPECT_EQ(run({"export", "--csv", "--db", copy, "-o", dir_ + "/all.csv"}).code, 0);
  EXPECT_EQ(run({"status", "--db", copy}).code, 0);
  const Result plot = run({"plot", "variance", "variance", "--db", copy, "-o", dir_ + "/v.png"});
  EXPECT_EQ(plot.code, 0) << plot.err;
  EXPECT_EQ(plot.out, "wrote " + dir_ + "/v.png\n");

  struct stat after {};
  ASSERT_EQ(::stat(copy.c_str(), &after), 0);
  EXPECT_EQ(test::read_file(copy), bytes);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  if (fs::exists(copy + "-wal")) EXPECT_EQ(fs::file_size(copy + "-wal"), 0u);
}

TEST_F(CliTest, BadInputGetsOneLineAndAnExitCode) {
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string err;
  };
  const std::string missing = dir_ + "/nope.db";
  std::ofstream(dir_ + "/text.db") << "this is not a database, only text long enough for a header........\n";
  const std::vector<Case> cases = {
      {{"report", "papers", "--db", db_}, 1,
       "sweepctl: no sweep 'papers' in '" + db_ + "' (stored: margins:1, paper:1, variance:1)\n"},
      {{"report", "paper", "--db", db_, "--metric", "precision"}, 2,
       "sweepctl: unknown metric 'precision': use fid, is, kid or fid@N (N generated samples)\n"},
      {{"report", "paper", "--db", db_, "--rows", "lr"}, 2,
       "sweepctl: unknown parameter 'lr': use one of dataset, loss, margin, scale, seed, machine\n"},
      {{"report", "paper", "--db", db_, "--at", "last"}, 2, "sweepctl: --at 'last': use final, best, epoch=N or step=N\n"},
      {{"report", "--db", db_}, 2,
       "sweepctl: database '" + db_ + "' holds 3 sweeps: name one (margins:1, paper:1, variance:1)\n"},
      {{"report", "paper", "--db", missing}, 1, "sweepctl: database '" + missing + "' does not exist (or is not a file)\n"},
      {{"report", "paper", "--db", dir_ + "/text.db"}, 1,
       "sweepctl: '" + dir_ + "/text.db' is not a gansweep results database: file is not a database\n"},
      {{"cancel", "paper", "--db", db_}, 2,
       "sweepctl: cancel needs --coordinator HOST:PORT: only the coordinator writes the database, so sweepctl never "
       "changes it directly\n"},
      {{"plot", "curves", "paper", "--db", db_, "-o", dir_ + "/x.pdf"}, 2,
       "sweepctl: -o " + dir_ + "/x.pdf: the extension chooses the format, .png or .svg\n"},
      {{"plot", "grid", "paper", "--db", db_, "--job", "2", "-o", dir_ + "/g.png"}, 1,
       "sweepctl: sample grid '/nonexistent/worker/path/step40.png' (dataset cifar10, loss ls, margin 0.15, scale 10.0, seed 2, "
       "job #2, step 40) is not readable here: cannot open it: No such file or directory. Sample grids stay on the "
       "worker that wrote them: run sweepctl there, or copy the file to this path\n"},
  };
  for (const auto& c : cases) {
    const Result r = run(c.args);
    EXPECT_EQ(r.code, c.code) << c.args[0] << " " << c.args[1] << ": " << r.err;
    EXPECT_EQ(r.err, c.err);
  }
  // Parse errors of the command line itself: one line, exit code 2.
  for (const std::vector<std::string> args : {std::vector<std::string>{"frobnicate"}, {"report", "--bogus"}, {}}) {
    const Result r = run(args);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST_F(CliTest, PlotsAndGridsThroughTheBinary) {
  Result r = run({"plot", "grid", "paper", "--db", db_, "--job", "1", "--job", "dataset=cifar10,loss=ls,seed=3", "-o",
                  dir_ + "/grid.svg"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::file_size(dir_ + "/grid.svg") > 0);
  r = run({"plot", "curves", "paper", "--db", db_, "--where", "dataset=cifar10", "--size", "700x500", "-o", dir_ + "/c.png"});
  EXPECT_EQ(r.code, 0) << r.err;
  const std::string png = test::read_file(dir_ + "/c.png");
  ASSERT_GT(png.size(), 24u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  EXPECT_EQ(uint8_t(png[18]) << 8 | uint8_t(png[19]), 700);
  EXPECT_EQ(uint8_t(png[22]) << 8 | uint8_t(png[23]), 500);
  r = run({"plot", "curves", "paper", "--db", db_, "--size", "big", "-o", dir_ + "/c.png"});
  EXPECT_EQ(r.code, 2);
}

TEST_F(CliTest, StatusAndCancelAgainstALiveCoordinator) {
  const std::string sweep = dir_ + "/live.yaml", live_db = dir_ + "/live.db";
  std::ofstream(sweep) << "name: live\nmethod: grid\nparameters:\n  dataset: {value: synth}\n"
                          "  loss: {values: [rmcos, ls, hinge]}\n  seed: {value: 1}\n"
                          "train: {schedule: iterations, iterations: 1, batch_size: 8}\n"
                          "datasets:\n  synth: {format: synthetic}\n";
  LaunchSpec spec;
  spec.argv = {GANSWEEP_COORDINATOR_BINARY, "--sweep", sweep, "--db", live_db, "--listen", "127.0.0.1:0"};
  spec.stderr_path = dir_ + "/coordinator.stderr";
  auto coordinator = ChildProcess::start(spec);
  std::string address;
  for (int i = 0; i < 500 && address.empty(); ++i) {
    for (const auto& line : coordinator->take_lines())
      if (line.rfind("listening on ", 0) == 0) address = line.substr(13);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(address.empty()) << test::read_file(spec.stderr_path);

  Result r = run({"status", "--coordinator", address});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("from coordinator at " + address), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sweep live v1  active"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  jobs      3: 3 queued\n"), std::string::npos) << r.out;

  r = run({"cancel", "2", "--coordinator", address});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "job 2 cancelled; a running trainer stops at its next heartbeat\n");
  r = run({"cancel", "2", "--coordinator", address});
  EXPECT_EQ(r.out, "job 2 was not queued or running: nothing to cancel\n");
  r = run({"cancel", "live", "--coordinator", address});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "sweep live cancelled: 2 queued or running jobs; running trainers stop at their next heartbeat\n");
  r = run({"cancel", "nosuch", "--coordinator", address});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "sweepctl: coordinator at " + address + ": no sweep named 'nosuch'\n");

  // The database, read while the coordinator holds it, already says so; --watch stops once
  // every job has settled.
  r = run({"status", "live", "--db", live_db, "--watch", "--interval", "1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("sweep live v1  cancelled"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  jobs      3: 3 cancelled\n"), std::string::npos) << r.out;

  coordinator->signal(SIGTERM);
  for (int i = 0; i < 200 && !coordinator->poll(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(coordinator->poll(), 0);

  r = run({"cancel", "live", "--coordinator", address});  // nobody listens there now
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("sweepctl: coordinator at " + address + ": ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("(is it running there?)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gansweep
