// The paper's Tables 2 and 3: one metric, rows and columns two parameters (losses ×
// datasets by default), each cell the mean ± sample std over seeds with n, the best of each
// column marked, and a reason in each cell without a value.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "sweepctl/select.h"

namespace gansweep::sweepctl {

struct TableOptions {
  Metric metric = parse_metric("fid");
  At at;
  std::string rows = "loss";
  std::string cols = "dataset";
  std::string backbone;            // empty: the only one there
  std::vector<std::string> where;  // "name=value" conditions on the jobs
};

struct Cell {
  bool in_sweep = false;
  Stats stats;       // over the values counted
  bool best = false;  // the best mean of its column
  // Jobs without a value counted, by reason: running, queued, failed, cancelled,
  // non-finite (the trainer reported NaN or inf), no metric.
  std::vector<std::pair<std::string, int>> others;
};

struct Table {
  std::string sweep;
  int version = 0;
  TableOptions options;
  Backbone backbone;
  std::vector<std::string> rows, cols;  // parameter values, in the sweep file's order
  std::vector<std::vector<Cell>> cells;  // [row][col]
};

Table build_table(const SweepInfo& sweep, const std::vector<Job>& jobs, const std::vector<MetricRow>& metrics,
                  const TableOptions& options);

enum class Format { terminal, markdown, csv, latex };
Format parse_format(const std::string& text);  // throws UsageError
std::string render(const Table& table, Format format);

}  // namespace gansweep::sweepctl
