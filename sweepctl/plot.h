// The paper's figures as PNG or SVG, drawn by gnuplot: curves (Fig. 2), margin (Fig. 4a),
// samples (Fig. 4b/c), variance (Fig. 5) and sample grids. Each plot writes its data files
// and script into a fresh folder, runs gnuplot as a child process and treats anything it
// prints on stderr (errors and warnings alike) as an error.
#pragma once

#include <string>
#include <vector>

#include "sweepctl/select.h"

namespace gansweep::sweepctl {

struct PlotOptions {
  std::string output;              // FILE.png or FILE.svg
  int width = 0, height = 0;       // pixels; 0: the plot's default
  std::string gnuplot = "gnuplot";
  std::string script_dir;          // keep script and data here; empty: a temporary folder, removed
};

// What one plot shows; each plot uses the fields it needs.
struct PlotRequest {
  std::vector<Metric> metrics;  // curves: FID and IS; margin and variance: one
  At at;                        // margin, samples, variance: which evaluation of each job
  std::string by;               // the parameter of one line (curves: loss; margin, samples: dataset)
  std::string panel = "dataset";  // curves: one row of panels per value
  std::string backbone;         // as choose_backbone takes it
  std::vector<std::string> where;
  std::string style = "box";    // variance: box or strip
};

struct PlotData {
  SweepInfo sweep;
  std::vector<Job> jobs;
  std::vector<MetricRow> metrics;
};

// Each throws UsageError for bad options and std::runtime_error when there is nothing to
// plot or gnuplot fails (with what gnuplot said).
void plot_curves(const PlotData& data, const PlotRequest& request, const PlotOptions& options);
void plot_margin(const PlotData& data, const PlotRequest& request, const PlotOptions& options);
void plot_samples(const PlotData& data, const PlotRequest& request, const PlotOptions& options);
void plot_variance(const PlotData& data, const PlotRequest& request, const PlotOptions& options);

struct GridImage {
  std::string title;
  std::string path;  // a PNG
};
// The images side by side (at most 4 a row). Throws std::runtime_error naming any image
// that cannot be read as a PNG here.
void plot_grid(const std::string& title, const std::vector<GridImage>& images, const PlotOptions& options);

// Width and height from a PNG's IHDR; nothing when the file is not a readable PNG.
struct ImageSize {
  int width = 0, height = 0;
};
std::optional<ImageSize> png_size(const std::string& path, std::string* why = nullptr);

}  // namespace gansweep::sweepctl
