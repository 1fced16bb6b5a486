#include "sweepctl/table.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace gansweep::sweepctl {
namespace {

// The order reasons are listed in: what will still change first.
const std::vector<std::string> kReasons = {"running", "queued", "failed", "cancelled", "non-finite", "no metric"};

std::string fixed(double value, int precision) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << value;
  return out.str();
}

std::string full(double value) {
  std::ostringstream out;
  out << std::setprecision(10) << value;
  return out.str();
}

// "running" when every job shares the reason, else "2 running, 1 failed".
std::string reasons(const Cell& cell, bool with_counts) {
  std::string text;
  for (const auto& [reason, count] : cell.others)
    text += (text.empty() ? "" : ", ") + (with_counts ? std::to_string(count) + " " : "") + reason;
  return text;
}

std::string missing(const Cell& cell) {
  if (!cell.in_sweep) return "not in sweep";
  return reasons(cell, cell.others.size() > 1);
}

// "31.34 ± 1.20" (no ± for n = 1).
std::string mean_std(const Cell& cell, int precision, const std::string& plus_minus) {
  std::string text = fixed(cell.stats.mean, precision);
  if (cell.stats.std) text += plus_minus + fixed(*cell.stats.std, precision);
  return text;
}

// "(n=3)" or "(n=2; 1 failed)".
std::string count_note(const Cell& cell) {
  std::string text = "(n=" + std::to_string(cell.stats.n);
  if (!cell.others.empty()) text += "; " + reasons(cell, true);
  return text + ")";
}

// Display width of UTF-8 text: continuation bytes take no column.
size_t width(const std::string& text) {
  return size_t(std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string pad(const std::string& text, size_t columns) { return text + std::string(columns - std::min(columns, width(text)), ' '); }

std::string title(const Table& t) {
  const auto& o = t.options;
  return o.metric.label + " at the " + describe(o.at) + " (" + (o.metric.lower_is_better ? "lower" : "higher") +
         " is better), sweep " + t.sweep + " v" + std::to_string(t.version) + ", backbone " + t.backbone.describe();
}

std::string explanation(const Table& t, const std::string& mark) {
  std::string text = "Cells: mean ± sample std (n-1) over seeds, n = runs counted (one run: no std); " + mark +
                     " = best of each column.";
  if (t.options.at.kind == At::Kind::final || t.options.at.kind == At::Kind::best)
    text += " Only finished jobs count.";
  if (!t.options.where.empty()) {
    std::string where;
    for (const auto& w : t.options.where) where += (where.empty() ? "" : ", ") + w;
    text += " Jobs with " + where + ".";
  }
  return text;
}

std::string render_terminal(const Table& t) {
  const int p = t.options.metric.precision;
  std::vector<std::vector<std::string>> grid;
  grid.push_back({t.options.rows + " \\ " + t.options.cols});
  for (const auto& c : t.cols) grid.back().push_back(c);
  for (size_t r = 0; r < t.rows.size(); ++r) {
    grid.push_back({t.rows[r]});
    for (const auto& cell : t.cells[r])
      grid.back().push_back(cell.stats.n ? (cell.best ? "*" : " ") + mean_std(cell, p, " ± ") + " " + count_note(cell)
                                         : " " + missing(cell));
  }
  std::vector<size_t> widths(grid.front().size(), 0);
  for (const auto& line : grid)
    for (size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], width(line[i]));
  std::ostringstream out;
  out << title(t) << "\n" << explanation(t, "*") << "\n\n";
  auto row = [&](const std::vector<std::string>& line) {
    std::string text;
    for (size_t i = 0; i < line.size(); ++i) text += (i ? "  " : "") + pad(line[i], widths[i]);
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
  };
  row(grid.front());
  std::vector<std::string> rule;
  for (size_t w : widths) rule.push_back(std::string(w, '-'));
  row(rule);
  for (size_t i = 1; i < grid.size(); ++i) row(grid[i]);
  return out.str();
}

std::string markdown_escape(std::string text) {
  for (size_t at = 0; (at = text.find('|', at)) != std::string::npos; at += 2) text.replace(at, 1, "\\|");
  return text;
}

std::string render_markdown(const Table& t) {
  const int p = t.options.metric.precision;
  std::ostringstream out;
  out << "**" << markdown_escape(title(t)) << "**\n\n" << markdown_escape(explanation(t, "**bold**")) << "\n\n";
  out << "| " << markdown_escape(t.options.rows) << " \\ " << markdown_escape(t.options.cols);
  for (const auto& c : t.cols) out << " | " << markdown_escape(c);
  out << " |\n|---";
  for (size_t i = 0; i < t.cols.size(); ++i) out << "|---";
  out << "|\n";
  for (size_t r = 0; r < t.rows.size(); ++r) {
    out << "| " << markdown_escape(t.rows[r]);
    for (const auto& cell : t.cells[r]) {
      out << " | ";
      if (!cell.stats.n) {
        out << "*" << missing(cell) << "*";
        continue;
      }
      const std::string value = mean_std(cell, p, " ± ");
      out << (cell.best ? "**" + value + "**" : value) << " " << count_note(cell);
    }
    out << " |\n";
  }
  return out.str();
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// One line per cell, every number in full: for spreadsheets and pandas.
std::string render_csv(const Table& t) {
  std::ostringstream out;
  out << csv_field(t.options.rows) << "," << csv_field(t.options.cols)
      << ",metric,at,backbone,weights_sha256,n,mean,std,best,note\n";
  const std::string at = t.options.at.kind == At::Kind::final  ? "final"
                         : t.options.at.kind == At::Kind::best ? "best"
                         : t.options.at.kind == At::Kind::epoch ? "epoch=" + std::to_string(t.options.at.n)
                                                                : "step=" + std::to_string(t.options.at.n);
  for (size_t r = 0; r < t.rows.size(); ++r)
    for (size_t c = 0; c < t.cols.size(); ++c) {
      const Cell& cell = t.cells[r][c];
      out << csv_field(t.rows[r]) << "," << csv_field(t.cols[c]) << "," << csv_field(t.options.metric.name) << ","
          << at << "," << csv_field(t.backbone.name) << "," << t.backbone.weights_sha256 << "," << cell.stats.n << ","
          << (cell.stats.n ? full(cell.stats.mean) : "") << "," << (cell.stats.std ? full(*cell.stats.std) : "") << ","
          << (cell.best ? 1 : 0) << "," << csv_field(cell.stats.n ? reasons(cell, true) : missing(cell)) << "\n";
    }
  return out.str();
}

std::string latex_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '\\': out += "\\textbackslash{}"; break;
      case '~': out += "\\textasciitilde{}"; break;
      case '^': out += "\\textasciicircum{}"; break;
      case '&': case '%': case '$': case '#': case '_': case '{': case '}': out += std::string("\\") + c; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_latex(const Table& t) {
  const int p = t.options.metric.precision;
  std::string caption = latex_escape(title(t)) + ". " + latex_escape(explanation(t, "bold"));
  // ± in the explanation: math mode, so the file compiles without inputenc tricks.
  for (size_t at = 0; (at = caption.find("±", at)) != std::string::npos;) caption.replace(at, std::string("±").size(), "$\\pm$");
  std::ostringstream out;
  out << "% sweepctl report: " << t.options.metric.name << ", sweep " << t.sweep << " v" << t.version << "\n"
      << "\\begin{table}[ht]\n\\centering\n\\caption{" << caption << "}\n"
      << "\\begin{tabular}{l" << std::string(t.cols.size(), 'c') << "}\n\\hline\n"
      << latex_escape(t.options.rows) << " \\textbackslash{} " << latex_escape(t.options.cols);
  for (const auto& c : t.cols) out << " & " << latex_escape(c);
  out << " \\\\\n\\hline\n";
  for (size_t r = 0; r < t.rows.size(); ++r) {
    out << latex_escape(t.rows[r]);
    for (const auto& cell : t.cells[r]) {
      out << " & ";
      if (!cell.stats.n) {
        out << "\\emph{" << latex_escape(missing(cell)) << "}";
        continue;
      }
      const std::string value = mean_std(cell, p, " $\\pm$ ");
      out << (cell.best ? "\\textbf{" + value + "}" : value) << " " << latex_escape(count_note(cell));
    }
    out << " \\\\\n";
  }
  out << "\\hline\n\\end{tabular}\n\\end{table}\n";
  return out.str();
}

}  // namespace

Table build_table(const SweepInfo& sweep, const std::vector<Job>& all_jobs, const std::vector<MetricRow>& metrics,
                  const TableOptions& options) {
  check_parameter(options.rows);
  check_parameter(options.cols);
  if (options.rows == options.cols) throw UsageError("rows and columns are both '" + options.rows + "'");
  Table table;
  table.sweep = sweep.name;
  table.version = sweep.version;
  table.options = options;

  const std::vector<Job> jobs = filter_jobs(all_jobs, options.where);
  std::vector<int64_t> ids;
  for (const auto& job : jobs) ids.push_back(job.info.id);
  std::vector<MetricRow> rows;  // of the metric and the jobs kept
  for (const auto& row : metrics)
    if (row.name == options.metric.name && std::find(ids.begin(), ids.end(), row.job_id) != ids.end()) rows.push_back(row);
  table.backbone = choose_backbone(rows, options.backbone);
  const MetricIndex index(rows, table.backbone);

  table.rows = parameter_values(jobs, options.rows);
  table.cols = parameter_values(jobs, options.cols);
  table.cells.assign(table.rows.size(), std::vector<Cell>(table.cols.size()));
  for (const auto& [values, members] : group_jobs(jobs, {options.rows, options.cols})) {
    const size_t r = size_t(std::find(table.rows.begin(), table.rows.end(), values[0]) - table.rows.begin());
    const size_t c = size_t(std::find(table.cols.begin(), table.cols.end(), values[1]) - table.cols.begin());
    Cell& cell = table.cells[r][c];
    cell.in_sweep = true;
    std::vector<double> counted;
    std::map<std::string, int> others;
    for (const Job* job : members) {
      const MetricRow* row = index.pick(*job, options.metric, options.at);
      const bool done = job->info.status == "done";
      if (!counts(*job, options.at) || (!row && !done))
        ++others[job->info.status];
      else if (!row)
        ++others["no metric"];
      else if (!row->value)
        ++others["non-finite"];
      else
        counted.push_back(*row->value);
    }
    cell.stats = statistics(counted);
    for (const auto& reason : kReasons)
      if (others.count(reason)) cell.others.emplace_back(reason, others[reason]);
  }

  // The best mean of each column; ties are all marked.
  for (size_t c = 0; c < table.cols.size(); ++c) {
    std::optional<double> best;
    for (const auto& row : table.cells) {
      const Cell& cell = row[c];
      if (cell.stats.n && (!best || (options.metric.lower_is_better ? cell.stats.mean < *best : cell.stats.mean > *best)))
        best = cell.stats.mean;
    }
    for (auto& row : table.cells)
      if (row[c].stats.n && best && row[c].stats.mean == *best) row[c].best = true;
  }
  return table;
}

Format parse_format(const std::string& text) {
  if (text == "terminal") return Format::terminal;
  if (text == "markdown" || text == "md") return Format::markdown;
  if (text == "csv") return Format::csv;
  if (text == "latex" || text == "tex") return Format::latex;
  throw UsageError("unknown format '" + text + "': use terminal, markdown, csv or latex");
}

std::string render(const Table& table, Format format) {
  switch (format) {
    case Format::terminal: return render_terminal(table);
    case Format::markdown: return render_markdown(table);
    case Format::csv: return render_csv(table);
    case Format::latex: return render_latex(table);
  }
  return "";
}

}  // namespace gansweep::sweepctl
