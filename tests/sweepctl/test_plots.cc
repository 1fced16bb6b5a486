// Every plot of sweepctl drawn by the real gnuplot from the fixture database: the file
// exists, is a PNG (magic and IHDR size) or an SVG (root element with its size) of the size
// asked for, and gnuplot said nothing on stderr (any warning is an error).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "fixture.h"
#include "sweepctl/plot.h"

namespace gansweep::sweepctl {
namespace {

namespace fs = std::filesystem;

// PNG: the 8-byte signature, then the IHDR chunk with width and height (big-endian).
std::pair<int, int> png_dimensions(const std::string& path) {
  const std::string bytes = test::read_file(path);
  EXPECT_GE(bytes.size(), 24u) << path;
  if (bytes.size() < 24) return {0, 0};
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << path;
  EXPECT_EQ(bytes.substr(12, 4), "IHDR") << path;
  auto be32 = [&](size_t at) {
    return int(uint8_t(bytes[at]) << 24 | uint8_t(bytes[at + 1]) << 16 | uint8_t(bytes[at + 2]) << 8 | uint8_t(bytes[at + 3]));
  };
  EXPECT_EQ(bytes.substr(bytes.size() - 8, 4), "IEND") << path;  // written to the end
  return {be32(16), be32(20)};
}

// SVG: an XML declaration, one <svg> root with width and height, closed at the end, and
// every <g> closed.
std::pair<int, int> svg_dimensions(const std::string& path) {
  const std::string text = test::read_file(path);
  EXPECT_EQ(text.rfind("<?xml", 0), 0u) << path;
  std::smatch match;
  const bool root = std::regex_search(text, match, std::regex(R"re(<svg[^>]*\swidth="(\d+)"\s+height="(\d+)")re"));
  EXPECT_TRUE(root) << path;
  EXPECT_NE(text.find("</svg>", text.size() > 16 ? text.size() - 16 : 0), std::string::npos) << path;
  const auto count = [&](const std::regex& re) { return std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()); };
  EXPECT_EQ(count(std::regex("<g[ >]")), count(std::regex("</g>"))) << path;
  if (!root) return {0, 0};
  return {std::stoi(match[1]), std::stoi(match[2])};
}

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::test_dir();
    const std::string db_path = test::build_fixture(dir_);
    ResultsDb db = ResultsDb::open(db_path);
    for (const std::string name : {"paper", "margins", "variance"}) {
      const SweepInfo info = db.sweep(name);
      data_[name] = {info, db.jobs(info.id), db.metrics(info.id)};
    }
  }
  void TearDown() override { test::remove_test_dir(dir_); }

  // Options that keep the script folder, so the test can see what gnuplot said.
  PlotOptions options(const std::string& file, int width = 0, int height = 0) {
    PlotOptions o;
    o.output = dir_ + "/" + file;
    o.width = width;
    o.height = height;
    o.script_dir = dir_ + "/script-" + file;
    return o;
  }
  void expect_clean(const std::string& file) {
    const std::string stderr_path = dir_ + "/script-" + file + "/gnuplot.stderr";
    ASSERT_TRUE(fs::exists(stderr_path));
    EXPECT_EQ(test::read_file(stderr_path), "") << file;
  }

  std::string dir_;
  std::map<std::string, PlotData> data_;
};

TEST_F(PlotTest, CurvesOfFidAndIsPerEpochOneLinePerLoss) {
  PlotRequest r;
  r.metrics = {parse_metric("fid"), parse_metric("is")};
  plot_curves(data_["paper"], r, options("curves.png"));  // two datasets: a row of panels each
  EXPECT_EQ(png_dimensions(dir_ + "/curves.png"), std::make_pair(800, 640));
  expect_clean("curves.png");
  r.where = {"dataset=mnist"};
  plot_curves(data_["paper"], r, options("curves.svg", 900, 500));
  EXPECT_EQ(svg_dimensions(dir_ + "/curves.svg"), std::make_pair(900, 500));
  expect_clean("curves.svg");
  const std::string script = test::read_file(dir_ + "/script-curves.svg/plot.gp");
  EXPECT_NE(script.find("title \"rmcos\""), std::string::npos) << script;
  EXPECT_NE(script.find("set xlabel \"epoch\""), std::string::npos) << script;
}

TEST_F(PlotTest, CurvesOfAnIterationScheduleArePerIteration) {
  PlotRequest r;
  r.metrics = {parse_metric("fid"), parse_metric("is")};
  r.by = "margin";
  plot_curves(data_["margins"], r, options("margins-curves.png"));
  EXPECT_EQ(png_dimensions(dir_ + "/margins-curves.png"), std::make_pair(800, 640));
  expect_clean("margins-curves.png");
  EXPECT_NE(test::read_file(dir_ + "/script-margins-curves.png/plot.gp").find("training iterations"), std::string::npos);
}

TEST_F(PlotTest, FidAgainstMarginPerDataset) {
  PlotRequest r;
  r.metrics = {parse_metric("fid")};
  plot_margin(data_["margins"], r, options("margin.png"));
  EXPECT_EQ(png_dimensions(dir_ + "/margin.png"), std::make_pair(800, 600));
  expect_clean("margin.png");
  plot_margin(data_["margins"], r, options("margin.svg", 640, 480));
  EXPECT_EQ(svg_dimensions(dir_ + "/margin.svg"), std::make_pair(640, 480));
  expect_clean("margin.svg");
  // The paper sweep has one margin per loss: grouping by dataset mixes losses.
  EXPECT_THROW(plot_margin(data_["paper"], r, options("paper-margin.png")), UsageError);
}

TEST_F(PlotTest, FidAgainstTheNumberOfSamples) {
  PlotRequest r;
  EXPECT_THROW(plot_samples(data_["margins"], r, options("samples.png")), UsageError);  // three margins per line
  r.where = {"margin=0.15"};
  plot_samples(data_["margins"], r, options("samples.png"));
  EXPECT_EQ(png_dimensions(dir_ + "/samples.png"), std::make_pair(800, 600));
  expect_clean("samples.png");
  r.where = {"dataset=mnist"};
  r.by = "margin";
  plot_samples(data_["margins"], r, options("samples.svg"));
  EXPECT_EQ(svg_dimensions(dir_ + "/samples.svg"), std::make_pair(800, 600));
  expect_clean("samples.svg");
  try {
    plot_samples(data_["paper"], {}, options("none.png"));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("fid_sample_counts"), std::string::npos) << e.what();
  }
}

TEST_F(PlotTest, FinalFidPerSeedByMachine) {
  PlotRequest r;
  r.metrics = {parse_metric("fid")};
  plot_variance(data_["variance"], r, options("variance.png"));
  EXPECT_EQ(png_dimensions(dir_ + "/variance.png"), std::make_pair(800, 600));
  expect_clean("variance.png");
  r.style = "strip";
  plot_variance(data_["variance"], r, options("variance.svg"));
  EXPECT_EQ(svg_dimensions(dir_ + "/variance.svg"), std::make_pair(800, 600));
  expect_clean("variance.svg");
  const std::string script = test::read_file(dir_ + "/script-variance.svg/plot.gp");
  EXPECT_NE(script.find("\"alpha\\n(NVIDIA A100-SXM4-80GB)\" 1"), std::string::npos) << script;
  r.style = "violin";
  EXPECT_THROW(plot_variance(data_["variance"], r, options("x.png")), UsageError);
}

TEST_F(PlotTest, SampleGridsSideBySideAndAClearErrorForOneNotHere) {
  const std::string grids = dir_ + "/grids/";
  plot_grid("Latest sample grids", {{"job 1", grids + "job1_step40.png"}, {"job 3", grids + "job3_step40.png"}},
            options("grid.png"));
  EXPECT_EQ(png_dimensions(dir_ + "/grid.png"), std::make_pair(800, 400));
  expect_clean("grid.png");
  try {
    plot_grid("grids", {{"job 2", "/nonexistent/worker/path/step40.png"}}, options("missing.png"));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "sample grid '/nonexistent/worker/path/step40.png' (job 2) is not readable here: cannot open it: No such "
              "file or directory. Sample grids stay on the worker that wrote them: run sweepctl there, or copy the "
              "file to this path");
  }
  EXPECT_FALSE(fs::exists(dir_ + "/missing.png"));
}

TEST_F(PlotTest, AnythingGnuplotSaysOnStderrIsAnError) {
  // A stand-in that draws nothing and warns, exiting 0 as gnuplot does after a warning.
  const std::string fake = dir_ + "/fake-gnuplot";
  std::ofstream(fake) << "#!/bin/sh\necho 'warning: empty y range [1:1], adjusting' >&2\nexit 0\n";
  ::chmod(fake.c_str(), 0755);
  PlotRequest r;
  r.metrics = {parse_metric("fid")};
  PlotOptions o = options("warned.svg");
  o.gnuplot = fake;
  try {
    plot_margin(data_["margins"], r, o);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("said: warning: empty y range"), std::string::npos) << e.what();
  }
  o.gnuplot = dir_ + "/no-such-gnuplot";
  EXPECT_THROW(plot_margin(data_["margins"], r, o), std::runtime_error);
  EXPECT_THROW(plot_margin(data_["margins"], r, options("plot.pdf")), UsageError);  // the extension picks the format
}

}  // namespace
}  // namespace gansweep::sweepctl
