#include "sweepctl/plot.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "worker/launcher.h"

namespace gansweep::sweepctl {
namespace {

namespace fs = std::filesystem;

// Distinct on white and for common colour blindness (matplotlib's tab10, reordered).
const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                               "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
std::string color(size_t i) { return kColors[i % (sizeof(kColors) / sizeof(kColors[0]))]; }

// A gnuplot double-quoted string, where "\n" breaks a title into lines.
std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A file name in a gnuplot single-quoted string: nothing is special but the quote itself.
std::string path_literal(const std::string& path) {
  std::string out = "'";
  for (char c : path) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string num(double value) {
  std::ostringstream out;
  out << std::setprecision(10) << value;
  return out.str();
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// Gnuplot with no output that says anything: the terminal it names exists.
bool terminal_available(const std::string& gnuplot, const std::string& terminal, const fs::path& dir) {
  LaunchSpec spec;
  spec.argv = {gnuplot, "-e", "set terminal " + terminal};
  spec.stderr_path = (dir / "terminal.stderr").string();
  auto child = ChildProcess::start(spec);
  std::optional<int> code;
  for (int i = 0; i < 3000 && !(code = child->poll()); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return code == 0 && trim(read_text(spec.stderr_path)).empty();
}

// One plot: its folder of data files and script, and the gnuplot run that draws it.
class Gnuplot {
 public:
  Gnuplot(const PlotOptions& options, int default_width, int default_height) : options_(options) {
    if (options.output.empty()) throw UsageError("name the plot file with -o FILE.png or -o FILE.svg");
    std::string extension = fs::path(options.output).extension().string();
    std::transform(extension.begin(), extension.end(), extension.begin(), ::tolower);
    if (extension != ".png" && extension != ".svg")
      throw UsageError("-o " + options.output + ": the extension chooses the format, .png or .svg");
    width_ = options.width ? options.width : default_width;
    height_ = options.height ? options.height : default_height;
    if (width_ < 100 || height_ < 100 || width_ > 20000 || height_ > 20000)
      throw UsageError("--size " + std::to_string(width_) + "x" + std::to_string(height_) + ": each side from 100 to 20000 pixels");
    output_ = fs::absolute(options.output);
    if (!options.script_dir.empty()) {
      dir_ = fs::absolute(options.script_dir);
      fs::create_directories(dir_);
    } else {
      std::string pattern = (fs::temp_directory_path() / "sweepctl-XXXXXX").string();
      if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary folder in " + fs::temp_directory_path().string());
      dir_ = pattern;
      temporary_ = true;
    }
    if (extension == ".svg")
      terminal_ = "svg";
    else  // pngcairo draws antialiased lines and transparency; plain png is the fallback
      terminal_ = terminal_available(options.gnuplot, "pngcairo", dir_) ? "pngcairo" : "png";
  }
  ~Gnuplot() {
    std::error_code ignored;
    if (temporary_) fs::remove_all(dir_, ignored);
  }
  Gnuplot(const Gnuplot&) = delete;
  Gnuplot& operator=(const Gnuplot&) = delete;

  int width() const { return width_; }
  int height() const { return height_; }

  // Writes a data file; returns its name as the script refers to it.
  std::string data(const std::string& content) {
    const fs::path path = dir_ / ("data" + std::to_string(++files_) + ".dat");
    std::ofstream(path) << content;
    return path_literal(path.string());
  }

  void run(const std::string& body) {
    std::ostringstream script;
    const std::string size = " size " + std::to_string(width_) + "," + std::to_string(height_);
    if (terminal_ == "png")
      script << "set terminal png noenhanced" << size << " background rgb 'white'\n";
    else
      script << "set terminal " << terminal_ << " noenhanced" << size << " font 'Sans,10' background rgb 'white'\n";
    script << "set encoding utf8\nset output " << path_literal(output_.string()) << "\n"
           << "set grid lc rgb '#e0e0e0'\nset border lc rgb '#404040'\n"
           << body << "unset output\n";
    const fs::path script_path = dir_ / "plot.gp";
    std::ofstream(script_path) << script.str();

    LaunchSpec spec;
    spec.argv = {options_.gnuplot, script_path.string()};
    spec.stderr_path = (dir_ / "gnuplot.stderr").string();
    std::unique_ptr<ChildProcess> child;
    try {
      child = ChildProcess::start(spec);
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot run gnuplot ('" + options_.gnuplot + "'): " + e.what());
    }
    std::optional<int> code;
    for (int i = 0; i < 24000 && !(code = child->poll()); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!code) child->signal(SIGKILL);
    const std::string said = trim(read_text(spec.stderr_path));
    if (code == 0 && said.empty() && fs::exists(output_) && fs::file_size(output_) > 0) return;
    std::error_code ignored;
    fs::remove(output_, ignored);  // never leave a half-drawn file behind
    std::string why = !code ? "took more than 2 minutes" : code == 127 ? "could not be run: is it installed?" : "";
    if (why.empty()) why = said.empty() ? "exited with " + std::to_string(*code) + " and wrote no file" : said;
    throw std::runtime_error("gnuplot ('" + options_.gnuplot + "') " + (said.empty() ? "" : "said: ") + why +
                             (temporary_ ? "" : "\n(script: " + script_path.string() + ")"));
  }

 private:
  PlotOptions options_;
  int width_ = 0, height_ = 0;
  fs::path output_, dir_;
  bool temporary_ = false;
  int files_ = 0;
  std::string terminal_;
};

// Autoscale, except around a single value, where gnuplot would warn of an empty range.
std::string range(const std::string& axis, double lo, double hi, bool log_scale = false) {
  if (lo < hi) return "set autoscale " + axis + "\n";
  const double low = log_scale ? lo / 2 : lo - (lo == 0 ? 1 : std::abs(lo) * 0.1);
  const double high = log_scale ? hi * 2 : hi + (hi == 0 ? 1 : std::abs(hi) * 0.1);
  return "set " + axis + "range [" + num(low) + ":" + num(high) + "]\n";
}

// A fixed range with a margin: for boxplots, whose autoscaling gnuplot gets wrong.
std::string padded_range(const std::string& axis, double lo, double hi) {
  const double pad = lo < hi ? (hi - lo) * 0.08 : (lo == 0 ? 1 : std::abs(lo) * 0.1);
  return "set " + axis + "range [" + num(lo - pad) + ":" + num(hi + pad) + "]\n";
}

// Mean and spread of the values at one x.
struct Point {
  double x = 0;
  Stats stats;
  std::vector<double> values;
};

std::vector<Point> points(const std::map<double, std::vector<double>>& by_x) {
  std::vector<Point> out;
  for (const auto& [x, values] : by_x) out.push_back({x, statistics(values), values});
  return out;
}

// Columns: x, mean, mean - std, mean + std, n (std 0 for a single run).
std::string series(const std::vector<Point>& pts) {
  std::ostringstream out;
  for (const auto& p : pts) {
    const double s = p.stats.std.value_or(0);
    out << num(p.x) << " " << num(p.stats.mean) << " " << num(p.stats.mean - s) << " " << num(p.stats.mean + s) << " "
        << p.stats.n << "\n";
  }
  return out.str();
}

std::string metric_axis(const Metric& metric) {
  return metric.label + (metric.lower_is_better ? " (lower is better)" : " (higher is better)");
}

std::string sweep_name(const PlotData& data) { return "sweep " + data.sweep.name + " v" + std::to_string(data.sweep.version); }

// The parameters every plotted job shares, e.g. "rmcos on mnist, margin 0.15": a title says
// what the plot is of without the command line.
std::string shared_setting(const std::vector<Job>& jobs, const std::vector<std::string>& shown) {
  std::vector<std::string> parts;
  for (const std::string name : {"loss", "dataset", "margin", "scale"}) {
    if (std::find(shown.begin(), shown.end(), name) != shown.end()) continue;
    const auto values = parameter_values(jobs, name);
    if (values.size() != 1) continue;
    if (name == std::string("loss")) parts.push_back(values[0]);
    else if (name == std::string("dataset")) parts.push_back("on " + values[0]);
    else parts.push_back(std::string(name) + " " + values[0]);
  }
  std::string text;
  for (const auto& part : parts) text += (text.empty() || part.rfind("on ", 0) == 0 ? " " : ", ") + part;
  return text.empty() ? "" : text.substr(1);
}

// Jobs whose values a plot counts at `at`, with a reason when there is none at all.
std::string nothing_to_plot(const PlotData& data, const std::vector<Job>& jobs, const std::string& what) {
  std::map<std::string, int> states;
  for (const auto& job : jobs) ++states[job.info.status];
  std::string text;
  for (const auto& [state, count] : states) text += (text.empty() ? "" : ", ") + std::to_string(count) + " " + state;
  return "nothing to plot: no " + what + " in " + sweep_name(data) + " (jobs: " + (text.empty() ? "none" : text) + ")";
}

std::vector<MetricRow> rows_of(const PlotData& data, const std::vector<Job>& jobs,
                               const std::function<bool(const std::string&)>& wanted) {
  std::set<int64_t> ids;
  for (const auto& job : jobs) ids.insert(job.info.id);
  std::vector<MetricRow> rows;
  for (const auto& row : data.metrics)
    if (ids.count(row.job_id) && wanted(row.name)) rows.push_back(row);
  return rows;
}

// One line of a figure: mean over runs with a spread, per x.
struct Line {
  std::string title;
  std::vector<Point> points;
};

// Lines with error bars, the runs as faint points behind them.
std::string error_lines(Gnuplot& plot, const std::vector<Line>& lines) {
  std::string body = "plot ";
  for (size_t i = 0; i < lines.size(); ++i) {
    std::ostringstream runs;
    for (const auto& p : lines[i].points)
      for (double v : p.values) runs << num(p.x) << " " << num(v) << "\n";
    const std::string file = plot.data(series(lines[i].points)), run_file = plot.data(runs.str());
    body += std::string(i ? ", \\\n     " : "") + run_file + " using 1:2 with points pt 6 ps 0.6 lc rgb '" + color(i) +
            "' notitle, \\\n     " + file + " using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 0.8 lc rgb '" + color(i) +
            "' title " + quote(lines[i].title);
  }
  return body + "\n";
}

std::string xy_ranges(const std::vector<Line>& lines, bool log_x) {
  double x_lo = HUGE_VAL, x_hi = -HUGE_VAL, y_lo = HUGE_VAL, y_hi = -HUGE_VAL;
  for (const auto& line : lines)
    for (const auto& p : line.points) {
      x_lo = std::min(x_lo, p.x), x_hi = std::max(x_hi, p.x);
      for (double v : p.values) y_lo = std::min(y_lo, v), y_hi = std::max(y_hi, v);
    }
  return range("x", x_lo, x_hi, log_x) + range("y", y_lo, y_hi);
}

}  // namespace

std::optional<ImageSize> png_size(const std::string& path, std::string* why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (why) *why = std::string("cannot open it: ") + std::strerror(errno);
    return std::nullopt;
  }
  unsigned char header[24] = {};
  in.read(reinterpret_cast<char*>(header), sizeof(header));
  const unsigned char magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (in.gcount() != 24 || !std::equal(magic, magic + 8, header) || std::string(header + 12, header + 16) != "IHDR") {
    if (why) *why = "it is not a PNG file";
    return std::nullopt;
  }
  auto be32 = [&](int at) { return int(header[at] << 24 | header[at + 1] << 16 | header[at + 2] << 8 | header[at + 3]); };
  return ImageSize{be32(16), be32(20)};
}

void plot_curves(const PlotData& data, const PlotRequest& request, const PlotOptions& options) {
  const std::string by = request.by.empty() ? "loss" : request.by;
  if (by == request.panel) throw UsageError("--by and --panel are both '" + by + "'");
  const std::vector<Job> jobs = filter_jobs(data.jobs, request.where);
  const Groups groups = group_jobs(jobs, {request.panel, by});
  const auto panels = parameter_values(jobs, request.panel);
  const auto lines = parameter_values(jobs, by);

  std::vector<std::string> names;
  for (const auto& m : request.metrics) names.push_back(m.name);
  const auto rows = rows_of(data, jobs, [&](const std::string& n) { return std::count(names.begin(), names.end(), n) > 0; });
  const Backbone backbone = choose_backbone(rows, request.backbone);
  const MetricIndex index(rows, backbone);
  if (backbone.name.empty()) {
    std::string what;
    for (const auto& m : request.metrics) what += (what.empty() ? "" : " or ") + m.label;
    throw std::runtime_error(nothing_to_plot(data, jobs, what + " values"));
  }
  // Only the metrics with values get a column of panels.
  std::vector<Metric> metrics;
  for (const auto& m : request.metrics)
    if (std::any_of(rows.begin(), rows.end(), [&](const MetricRow& r) { return r.name == m.name && r.value; }))
      metrics.push_back(m);
  if (metrics.empty()) throw std::runtime_error(nothing_to_plot(data, jobs, "finite values"));

  // The paper plots per epoch; an iteration schedule has no epochs, so it plots per update.
  const bool per_epoch = std::all_of(jobs.begin(), jobs.end(), [](const Job& j) {
    return j.spec.at("train").value("schedule", "") == "epochs";
  });
  const std::string x_label = per_epoch ? "epoch" : "training iterations (updates of D and G)";

  Gnuplot plot(options, 800, std::max(600, 320 * int(panels.size())));
  std::string metric_names;
  for (const auto& m : metrics) metric_names += (metric_names.empty() ? "" : " and ") + m.label;
  const std::string setting = shared_setting(jobs, {request.panel, by});
  std::ostringstream body;
  body << "set multiplot layout " << panels.size() << "," << metrics.size() << " title "
       << quote(metric_names + " per " + (per_epoch ? "epoch" : "iteration") + ", one line per " + by + " — " +
                sweep_name(data) + (setting.empty() ? "" : ": " + setting) + "\nlines: mean over seeds; shaded: ± 1 sample std; backbone " +
                backbone.describe())
       << "\nset key box opaque samplen 2 font ',9'\nset offsets 0, 0, graph 0.05, graph 0.05\nset xlabel "
       << quote(x_label) << "\n";
  for (const auto& panel : panels) {
    for (const auto& metric : metrics) {
      // The key where the lines are not: they fall for FID and KID, rise for IS.
      body << "set title " << quote(request.panel + " " + panel + ": " + metric.label) << "\nset ylabel "
           << quote(metric_axis(metric)) << "\nset key " << (metric.lower_is_better ? "top" : "bottom") << " right\n";
      std::vector<std::string> clauses;
      double x_lo = HUGE_VAL, x_hi = -HUGE_VAL, y_lo = HUGE_VAL, y_hi = -HUGE_VAL;
      for (const auto& [values, members] : groups) {
        if (values[0] != panel) continue;
        std::map<double, std::vector<double>> by_x;
        for (const Job* job : members) {
          if (job->info.status == "failed" || job->info.status == "cancelled") continue;
          for (const MetricRow* row : index.rows(job->info.id, metric.name))
            if (row->value) by_x[double(per_epoch ? row->epoch : row->step)].push_back(*row->value);
        }
        if (by_x.empty()) continue;
        const auto pts = points(by_x);
        for (const auto& p : pts) {
          x_lo = std::min(x_lo, p.x), x_hi = std::max(x_hi, p.x);
          const double s = p.stats.std.value_or(0);
          y_lo = std::min(y_lo, p.stats.mean - s), y_hi = std::max(y_hi, p.stats.mean + s);
        }
        const size_t line = size_t(std::find(lines.begin(), lines.end(), values[1]) - lines.begin());
        const std::string file = plot.data(series(pts));
        clauses.push_back(file + " using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc rgb '" +
                          color(line) + "' notitle");
        clauses.push_back(file + " using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '" + color(line) + "' title " +
                          quote(values[1]));
      }
      if (clauses.empty()) {  // keeps its place in the layout, and says why it is empty
        body << "set label 1 'no values yet' at graph 0.5,0.5 center\nset xrange [0:1]\nset yrange [0:1]\n"
             << "plot NaN notitle\nunset label 1\n";
        continue;
      }
      body << range("x", x_lo, x_hi) << range("y", y_lo, y_hi)
           << (per_epoch && x_hi - x_lo <= 20 ? "set xtics 1\n" : "set xtics autofreq\n") << "plot ";
      for (size_t i = 0; i < clauses.size(); ++i) body << (i ? ", \\\n     " : "") << clauses[i];
      body << "\n";
    }
  }
  body << "unset multiplot\n";
  plot.run(body.str());
}

void plot_margin(const PlotData& data, const PlotRequest& request, const PlotOptions& options) {
  const Metric metric = request.metrics.empty() ? parse_metric("fid") : request.metrics.front();
  const std::string by = request.by.empty() ? "dataset" : request.by;
  if (by == "margin") throw UsageError("--by margin: the margin is the x axis; choose another parameter");
  const std::vector<Job> jobs = filter_jobs(data.jobs, request.where);
  const Groups groups = group_jobs(jobs, {by, "margin"});
  const auto rows = rows_of(data, jobs, [&](const std::string& n) { return n == metric.name; });
  const Backbone backbone = choose_backbone(rows, request.backbone);
  const MetricIndex index(rows, backbone);

  std::vector<Line> lines;
  for (const auto& name : parameter_values(jobs, by)) {
    std::map<double, std::vector<double>> by_x;
    for (const auto& [values, members] : groups) {
      if (values[0] != name) continue;
      for (const Job* job : members) {
        const MetricRow* row = counts(*job, request.at) ? index.pick(*job, metric, request.at) : nullptr;
        if (row && row->value) by_x[*parameter_number(*job, "margin")].push_back(*row->value);
      }
    }
    if (!by_x.empty()) lines.push_back({name, points(by_x)});
  }
  if (lines.empty())
    throw std::runtime_error(nothing_to_plot(data, jobs, metric.label + " values at the " + describe(request.at)));

  Gnuplot plot(options, 800, 600);
  const std::string setting = shared_setting(jobs, {by, "margin"});
  std::ostringstream body;
  body << "set title " << quote(metric.label + " against the margin m, " + describe(request.at) + " — " + sweep_name(data) +
                                (setting.empty() ? "" : ": " + setting) +
                                "\nlines: mean over seeds, error bars: ± 1 sample std, circles: single runs; backbone " +
                                backbone.describe())
       << "\nset offsets 0, 0, graph 0.05, graph 0.05\nset xlabel 'margin m (of the cosine loss)'\nset ylabel " << quote(metric_axis(metric)) << "\n"
       << "set key top left box opaque title " << quote(by) << "\n"
       << xy_ranges(lines, false) << error_lines(plot, lines);
  plot.run(body.str());
}

void plot_samples(const PlotData& data, const PlotRequest& request, const PlotOptions& options) {
  const std::string by = request.by.empty() ? "dataset" : request.by;
  const std::vector<Job> jobs = filter_jobs(data.jobs, request.where);
  auto is_fid = [](const std::string& n) { return n == "fid" || n.rfind("fid@", 0) == 0; };
  const auto rows = rows_of(data, jobs, is_fid);
  if (std::none_of(rows.begin(), rows.end(), [](const MetricRow& r) { return r.name.rfind("fid@", 0) == 0; }))
    throw std::runtime_error("no FID at other sample counts (fid@N rows) in " + sweep_name(data) +
                             ": list them in the sweep file's metrics.fid_sample_counts (docs/sweep-format.md)");
  const Groups groups = group_jobs(jobs, {by});
  const Backbone backbone = choose_backbone(rows, request.backbone);
  const MetricIndex index(rows, backbone);
  std::set<std::string> names;
  for (const auto& row : rows) names.insert(row.name);

  std::vector<Line> lines;
  std::set<int64_t> counts_seen;
  for (const auto& [values, members] : groups) {
    std::map<double, std::vector<double>> by_x;
    for (const Job* job : members) {
      if (!counts(*job, request.at)) continue;
      for (const auto& name : names) {
        const MetricRow* row = index.pick(*job, {name, "FID", true, 2}, request.at);
        if (!row || !row->value || row->samples <= 0) continue;
        by_x[double(row->samples)].push_back(*row->value);
        counts_seen.insert(row->samples);
      }
    }
    if (!by_x.empty()) lines.push_back({values[0], points(by_x)});
  }
  if (lines.empty())
    throw std::runtime_error(nothing_to_plot(data, jobs, "FID values at the " + describe(request.at)));

  Gnuplot plot(options, 800, 600);
  const std::string setting = shared_setting(jobs, {by});
  std::ostringstream body;
  body << "set title " << quote("FID against the number of generated samples, " + describe(request.at) + " — " +
                                sweep_name(data) + (setting.empty() ? "" : ": " + setting) +
                                "\nlines: mean over seeds, error bars: ± 1 sample std, circles: single runs; backbone " +
                                backbone.describe())
       << "\nset offsets 0, 0, graph 0.05, graph 0.05\nset logscale x\nset xtics (";
  std::string tics;
  for (int64_t n : counts_seen) tics += (tics.empty() ? "" : ", ") + std::to_string(n);
  body << tics << ")\nset xlabel 'generated samples the FID is computed from (log scale)'\n"
       << "set ylabel " << quote(metric_axis(parse_metric("fid"))) << "\n"
       << "set key top right box opaque title " << quote(by) << "\n"
       << xy_ranges(lines, true) << error_lines(plot, lines);
  plot.run(body.str());
}

void plot_variance(const PlotData& data, const PlotRequest& request, const PlotOptions& options) {
  const Metric metric = request.metrics.empty() ? parse_metric("fid") : request.metrics.front();
  if (request.style != "box" && request.style != "strip")
    throw UsageError("--style " + request.style + ": use box or strip");
  const std::vector<Job> jobs = filter_jobs(data.jobs, request.where);
  const auto rows = rows_of(data, jobs, [&](const std::string& n) { return n == metric.name; });
  const Backbone backbone = choose_backbone(rows, request.backbone);
  const MetricIndex index(rows, backbone);

  // Only jobs with a value: a job never run has no machine.
  std::vector<Job> measured;
  std::map<int64_t, double> value;
  for (const auto& job : jobs) {
    const MetricRow* row = counts(job, request.at) ? index.pick(job, metric, request.at) : nullptr;
    if (!row || !row->value) continue;
    value[job.info.id] = *row->value;
    measured.push_back(job);
  }
  if (measured.empty())
    throw std::runtime_error(nothing_to_plot(data, jobs, metric.label + " values at the " + describe(request.at)));
  const Groups machines = group_jobs(measured, {"machine"});
  const auto seeds = parameter_values(measured, "seed");

  Gnuplot plot(options, 800, 600);
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (const auto& [id, v] : value) lo = std::min(lo, v), hi = std::max(hi, v);
  std::ostringstream body;
  const std::string setting = shared_setting(measured, {"machine"});
  body << "set title " << quote(metric.label + " per seed by machine, " + describe(request.at) + " — " + sweep_name(data) +
                                (setting.empty() ? "" : ": " + setting) + "\n" +
                                (request.style == "box" ? "boxes: median and quartiles, whiskers: range; " : "crosses: mean; ") +
                                "points: one per seed; backbone " + backbone.describe())
       << "\nset xlabel 'machine (host and device model)' offset 0,-1\nset bmargin 5\nset ylabel " << quote(metric_axis(metric)) << "\n"
       << "set xrange [0.4:" << num(machines.size() + 0.6) << "]\n" << padded_range("y", lo, hi)
       << "set style boxplot nooutliers\nset boxwidth 0.5\nset grid noxtics\n"
       << "set key outside right top box title 'seed'\nset xtics (";
  for (size_t m = 0; m < machines.size(); ++m) {
    std::string label = machines[m].first[0];
    const size_t paren = label.find(" (");  // the device model on its own line
    if (paren != std::string::npos) label.replace(paren, 1, "\n");
    body << (m ? ", " : "") << quote(label) << " " << m + 1;
  }
  body << ")\nplot ";
  std::vector<std::string> clauses;
  std::ostringstream means;
  for (size_t m = 0; m < machines.size(); ++m) {
    std::ostringstream column;
    std::vector<double> values;
    for (const Job* job : machines[m].second) {
      column << num(value[job->info.id]) << "\n";
      values.push_back(value[job->info.id]);
    }
    means << m + 1 << " " << num(statistics(values).mean) << "\n";
    if (request.style == "box")
      clauses.push_back(plot.data(column.str()) + " using (" + std::to_string(m + 1) +
                        "):1 with boxplot lc rgb '#606060' fs transparent solid 0.12 notitle");
  }
  if (request.style == "strip")
    clauses.push_back(plot.data(means.str()) + " using 1:2 with points pt 2 ps 3 lw 2 lc rgb '#404040' title 'mean'");
  // One series per seed across machines: the same seed's points share a colour. Points of one
  // machine are spread sideways by seed so none hides another.
  for (size_t s = 0; s < seeds.size(); ++s) {
    std::ostringstream pts;
    for (size_t m = 0; m < machines.size(); ++m)
      for (const Job* job : machines[m].second)
        if (parameter_text(*job, "seed") == seeds[s]) {
          const double offset = seeds.size() > 1 ? 0.3 * (double(s) / double(seeds.size() - 1) - 0.5) : 0;
          pts << num(double(m + 1) + offset) << " " << num(value[job->info.id]) << "\n";
        }
    clauses.push_back(plot.data(pts.str()) + " using 1:2 with points pt 7 ps 1 lc rgb '" + color(s) + "' title " +
                      quote(seeds.size() <= 12 ? seeds[s] : ""));
  }
  for (size_t i = 0; i < clauses.size(); ++i) body << (i ? ", \\\n     " : "") << clauses[i];
  body << "\n";
  plot.run(body.str());
}

void plot_grid(const std::string& title, const std::vector<GridImage>& images, const PlotOptions& options) {
  if (images.empty()) throw UsageError("no sample grid to show");
  for (const auto& image : images) {
    std::string why;
    std::string label = image.title;  // one line in messages
    for (size_t at = 0; (at = label.find('\n', at)) != std::string::npos;) label.replace(at, 1, ", ");
    if (!png_size(image.path, &why))
      throw std::runtime_error("sample grid '" + image.path + "' (" + label + ") is not readable here: " + why +
                               ". Sample grids stay on the worker that wrote them: run sweepctl there, or copy the "
                               "file to this path");
  }
  const int cols = int(std::min<size_t>(images.size(), 4));
  const int rows = int((images.size() + 3) / 4);
  Gnuplot plot(options, std::max(800, 300 * cols), 340 * rows + 60);
  std::ostringstream body;
  body << "set multiplot layout " << rows << "," << cols << " title " << quote(title) << "\n"
       << "unset key\nunset tics\nunset border\nunset grid\nset size ratio -1\n";
  for (const auto& image : images)
    body << "set title " << quote(image.title) << "\nplot " << path_literal(image.path)
         << " binary filetype=png with rgbimage\n";
  body << "unset multiplot\n";
  plot.run(body.str());
}

}  // namespace gansweep::sweepctl
