// sweepctl: status, cancel, tables, plots and CSV export of a gansweep results database.
// docs/sweepctl.md describes every command. It reads the database read-only; status and
// cancel also talk to a live coordinator (--coordinator HOST:PORT), the only writer.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "sweepctl/export.h"
#include "sweepctl/plot.h"
#include "sweepctl/status.h"
#include "sweepctl/table.h"

namespace {

using namespace gansweep::sweepctl;
using gansweep::SweepInfo;

// Writes to the file, or to stdout when the name is empty.
void emit(const std::string& text, const std::string& path) {
  if (path.empty()) {
    std::cout << text << std::flush;
    return;
  }
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write '" + path + "'");
}

int64_t now() { return int64_t(std::time(nullptr)); }

bool settled(const Status& status) {
  for (const auto& s : status.sweeps)
    if (s.info.job_counts.count("queued") || s.info.job_counts.count("running")) return false;
  return true;
}

int run_status(const std::string& db_path, const std::string& coordinator, const std::string& sweep, bool watch,
               int interval) {
  auto read = [&] {
    if (!coordinator.empty()) return status_from_coordinator(coordinator, sweep);
    auto db = ResultsDb::open(db_path);  // a fresh snapshot each time
    return status_from_db(db, sweep, now());
  };
  if (!watch) {
    std::cout << format_status(read(), now()) << std::flush;
    return 0;
  }
  // Over gRPC there are no attempt times: the rate comes from the done counts seen.
  std::map<int64_t, std::pair<int64_t, int64_t>> first_seen;  // sweep id -> (time, done)
  const bool terminal = ::isatty(STDOUT_FILENO);
  while (true) {
    Status status = read();
    const int64_t t = now();
    for (auto& s : status.sweeps) {
      const int64_t done = s.info.job_counts.count("done") ? s.info.job_counts.at("done") : 0;
      const auto [it, added] = first_seen.emplace(s.info.id, std::make_pair(t, done));
      if (!coordinator.empty() && !added) add_rate(s, it->second.second, t - it->second.first);
    }
    std::cout << (terminal ? "\033[H\033[2J" : "\n") << format_status(status, t) << "\nevery " << interval
              << " s; Ctrl-C stops watching (the sweep goes on)\n"
              << std::flush;
    if (settled(status)) return 0;
    std::this_thread::sleep_for(std::chrono::seconds(interval));
  }
}

std::pair<int, int> parse_size(const std::string& text) {
  const size_t x = text.find('x');
  try {
    size_t used_w = 0, used_h = 0;
    const int w = std::stoi(text.substr(0, x), &used_w), h = std::stoi(text.substr(x + 1), &used_h);
    if (x != std::string::npos && used_w == x && used_h == text.size() - x - 1) return {w, h};
  } catch (const std::exception&) {
  }
  throw UsageError("--size " + text + ": write WIDTHxHEIGHT in pixels, e.g. 800x600");
}

// The jobs --job names (ids or keys), then the --where conditions.
std::vector<Job> chosen_jobs(const std::vector<Job>& jobs, const std::vector<std::string>& wanted,
                             const std::vector<std::string>& where) {
  std::vector<Job> chosen;
  for (const auto& w : wanted) {
    const auto found = std::find_if(jobs.begin(), jobs.end(), [&](const Job& j) {
      return j.info.key == w || std::to_string(j.info.id) == w;
    });
    if (found == jobs.end()) throw std::runtime_error("no job '" + w + "' in this sweep (give a job id or key)");
    chosen.push_back(*found);
  }
  return filter_jobs(wanted.empty() ? jobs : chosen, where);
}

// The parameters that differ among the jobs: what tells one grid from another.
std::string grid_title(const Job& job, const std::vector<Job>& jobs, int64_t step) {
  std::string title;
  for (const auto& p : known_parameters())
    if (p != "machine" && (jobs.size() == 1 || parameter_values(jobs, p).size() > 1))
      title += (title.empty() ? "" : ", ") + p + " " + parameter_text(job, p);
  return title + "\njob #" + std::to_string(job.info.id) + ", step " + std::to_string(step);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sweepctl: status, tables and plots of a gansweep results database (docs/sweepctl.md)"};
  app.fallthrough();  // --db is accepted after the command too
  app.require_subcommand(1);
  std::string db_path = "results.db";
  app.add_option("--db", db_path, "results database, opened read-only")->capture_default_str();

  std::string sweep, coordinator, output, format = "terminal", metric = "fid", rows = "loss", cols = "dataset";
  std::string at = "final", backbone, kind, by, panel = "dataset", style = "box", size, gnuplot = "gnuplot", script_dir;
  std::vector<std::string> where, jobs;
  bool watch = false, csv = false;
  int interval = 5;

  auto* status = app.add_subcommand("status", "jobs by state, workers, throughput and ETA");
  status->add_option("sweep", sweep, "NAME or NAME:VERSION (default: every sweep)");
  status->add_option("--coordinator", coordinator, "ask a live coordinator (HOST:PORT) instead of the database");
  status->add_flag("--watch", watch, "redraw until every job settles");
  status->add_option("--interval", interval, "seconds between redraws")->check(CLI::Range(1, 3600))->capture_default_str();

  std::string target;
  auto* cancel_cmd = app.add_subcommand("cancel", "cancel a sweep's queued and running jobs, or one job");
  cancel_cmd->add_option("target", target, "sweep NAME[:VERSION] or job id")->required();
  cancel_cmd->add_option("--coordinator", coordinator, "the coordinator (HOST:PORT): it alone writes the database");

  auto* export_cmd = app.add_subcommand("export", "every evaluation of every job, with its parameters");
  export_cmd->add_flag("--csv", csv, "CSV (the only format)")->required();
  export_cmd->add_option("sweep", sweep, "NAME or NAME:VERSION (default: every sweep)");
  export_cmd->add_option("-o,--output", output, "file (default: stdout)");

  auto* report = app.add_subcommand("report", "a table: mean ± std over seeds (paper Tables 2 and 3)");
  report->add_option("sweep", sweep, "NAME or NAME:VERSION (default: the only sweep)");
  report->add_option("--metric", metric, "fid, is, kid or fid@N")->capture_default_str();
  report->add_option("--rows", rows, "parameter of the rows")->capture_default_str();
  report->add_option("--cols", cols, "parameter of the columns")->capture_default_str();
  report->add_option("--at", at, "final, best, epoch=N or step=N")->capture_default_str();
  report->add_option("--format", format, "terminal, markdown, csv or latex")->capture_default_str();
  report->add_option("--backbone", backbone, "NAME[:WEIGHTS-PREFIX] when several are stored");
  report->add_option("--where", where, "keep jobs with PARAMETER=VALUE (repeatable)")->allow_extra_args(false);
  report->add_option("-o,--output", output, "file (default: stdout)");

  auto* plot = app.add_subcommand("plot", "a figure as PNG or SVG, drawn by gnuplot");
  plot->add_option("kind", kind, "curves, margin, samples, variance or grid")
      ->required()
      ->check(CLI::IsMember({"curves", "margin", "samples", "variance", "grid"}));
  plot->add_option("sweep", sweep, "NAME or NAME:VERSION (default: the only sweep)");
  plot->add_option("-o,--output", output, "FILE.png or FILE.svg (default: KIND.png)");
  plot->add_option("--size", size, "WIDTHxHEIGHT in pixels (default 800x600; curves and grid grow with panels)");
  plot->add_option("--metric", metric, "margin, variance: fid, is, kid or fid@N")->capture_default_str();
  plot->add_option("--at", at, "margin, samples, variance: final, best, epoch=N or step=N")->capture_default_str();
  plot->add_option("--by", by, "the parameter of one line (curves: loss; margin, samples: dataset)");
  plot->add_option("--panel", panel, "curves: a row of panels per value of this parameter")->capture_default_str();
  plot->add_option("--style", style, "variance: box or strip")->capture_default_str();
  plot->add_option("--backbone", backbone, "NAME[:WEIGHTS-PREFIX] when several are stored");
  plot->add_option("--where", where, "keep jobs with PARAMETER=VALUE (repeatable)")->allow_extra_args(false);
  plot->add_option("--job", jobs, "grid: a job id or key (repeatable)")->allow_extra_args(false);
  plot->add_option("--gnuplot", gnuplot, "the gnuplot binary")->capture_default_str();
  plot->add_option("--script-dir", script_dir, "keep the gnuplot script and data files here");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "sweepctl: " << e.what() << " (see sweepctl --help)\n";
    return 2;
  }

  try {
    if (status->parsed()) return run_status(db_path, coordinator, sweep, watch, interval);

    if (cancel_cmd->parsed()) {
      if (coordinator.empty())
        throw UsageError("cancel needs --coordinator HOST:PORT: only the coordinator writes the database, so "
                         "sweepctl never changes it directly");
      std::cout << cancel(coordinator, target) << "\n";
      return 0;
    }

    ResultsDb db = ResultsDb::open(db_path);
    if (export_cmd->parsed()) {
      emit(export_csv(db, sweep), output);
      return 0;
    }

    const SweepInfo info = db.sweep(sweep);
    if (report->parsed()) {
      TableOptions options;
      options.metric = parse_metric(metric);
      options.at = parse_at(at);
      options.rows = rows;
      options.cols = cols;
      options.backbone = backbone;
      options.where = where;
      const Format chosen = parse_format(format);
      const Table table = build_table(info, db.jobs(info.id), db.metrics(info.id, {options.metric.name}), options);
      emit(render(table, chosen), output);
      return 0;
    }

    PlotOptions options;
    options.output = output.empty() ? kind + ".png" : output;
    if (!size.empty()) std::tie(options.width, options.height) = parse_size(size);
    options.gnuplot = gnuplot;
    options.script_dir = script_dir;
    PlotData data{info, db.jobs(info.id), db.metrics(info.id)};
    PlotRequest request;
    request.at = parse_at(at);
    request.by = by;
    request.panel = panel;
    request.backbone = backbone;
    request.where = where;
    request.style = style;
    if (kind == "curves") {
      request.metrics = {parse_metric("fid"), parse_metric("is")};
      plot_curves(data, request, options);
    } else if (kind == "margin") {
      request.metrics = {parse_metric(metric)};
      plot_margin(data, request, options);
    } else if (kind == "samples") {
      plot_samples(data, request, options);
    } else if (kind == "variance") {
      request.metrics = {parse_metric(metric)};
      plot_variance(data, request, options);
    } else {
      if (jobs.empty() && where.empty()) throw UsageError("plot grid: choose jobs with --job ID|KEY or --where");
      const auto chosen = chosen_jobs(data.jobs, jobs, where);
      if (chosen.size() > 16) throw UsageError("plot grid: " + std::to_string(chosen.size()) + " jobs chosen; at most 16");
      std::vector<int64_t> ids;
      for (const auto& job : chosen) ids.push_back(job.info.id);
      const auto grids = db.latest_sample_grids(ids);
      std::vector<GridImage> images;
      for (const auto& job : chosen) {
        const auto found = std::find_if(grids.begin(), grids.end(), [&](const Artifact& a) { return a.job_id == job.info.id; });
        if (found == grids.end())
          throw std::runtime_error("job #" + std::to_string(job.info.id) + " (" + job.info.key + ", " + job.info.status +
                                   ") has no sample grid recorded");
        images.push_back({grid_title(job, chosen, found->step), found->path});
      }
      // The parameters the chosen jobs share go in the title; each grid names the others.
      std::string shared;
      for (const std::string p : {"dataset", "loss", "margin", "scale", "seed"})
        if (chosen.size() > 1 && parameter_values(chosen, p).size() == 1)
          shared += (shared.empty() ? ": " : ", ") + p + " " + parameter_text(chosen.front(), p);
      plot_grid("Latest sample grids — sweep " + info.name + " v" + std::to_string(info.version) + shared, images, options);
    }
    std::cout << "wrote " << options.output << "\n";
    return 0;
  } catch (const UsageError& e) {
    std::cerr << "sweepctl: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "sweepctl: " << e.what() << "\n";
    return 1;
  }
}
