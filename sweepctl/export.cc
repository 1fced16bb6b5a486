#include "sweepctl/export.h"

#include <algorithm>
#include <iomanip>
#include <map>
#include <sstream>

#include "coordinator/sweep.h"

namespace gansweep::sweepctl {
namespace {

std::string field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// Metric columns in the order a reader looks for them; fid@N by N.
int rank(const std::string& name) {
  static const std::vector<std::string> order = {"fid", "fid@", "is_mean", "is_std", "kid_mean", "kid_std", "loss_d", "loss_g"};
  const std::string base = name.rfind("fid@", 0) == 0 ? "fid@" : name;
  const auto found = std::find(order.begin(), order.end(), base);
  return int(found - order.begin());
}

bool column_order(const std::string& a, const std::string& b) {
  if (rank(a) != rank(b)) return rank(a) < rank(b);
  if (rank(a) == 1) return std::stoll(a.substr(4)) < std::stoll(b.substr(4));
  return a < b;
}

}  // namespace

std::string export_csv(ResultsDb& db, const std::string& sweep) {
  std::vector<SweepInfo> sweeps;
  if (sweep.empty()) sweeps = db.sweeps();
  else sweeps.push_back(db.sweep(sweep));

  struct Block {
    SweepInfo sweep;
    std::vector<Job> jobs;
    std::vector<MetricRow> rows;
  };
  std::vector<Block> blocks;
  std::vector<std::string> names;
  for (const auto& info : sweeps) {
    blocks.push_back({info, db.jobs(info.id), db.metrics(info.id)});
    for (const auto& row : blocks.back().rows)
      if (std::find(names.begin(), names.end(), row.name) == names.end()) names.push_back(row.name);
  }
  std::sort(names.begin(), names.end(), column_order);

  std::ostringstream out;
  out << "sweep,version,job_id,key,status,machine";
  for (const auto& p : kParameterOrder) out << "," << p;
  out << ",step,epoch,backbone,weights_sha256,samples";
  for (const auto& n : names) out << "," << field(n);
  out << "\n";
  out << std::setprecision(10);
  for (const auto& block : blocks) {
    std::map<int64_t, std::map<int64_t, std::vector<const MetricRow*>>> by_job;  // job -> step -> rows
    for (const auto& row : block.rows) by_job[row.job_id][row.step].push_back(&row);
    for (const auto& job : block.jobs) {
      std::ostringstream prefix;
      prefix << field(block.sweep.name) << "," << block.sweep.version << "," << job.info.id << "," << field(job.info.key)
             << "," << job.info.status << "," << field(job.machine);
      for (const auto& p : kParameterOrder) prefix << "," << field(parameter_text(job, p));
      const auto steps = by_job.find(job.info.id);
      if (steps == by_job.end()) {
        out << prefix.str() << ",,,,," << std::string(names.size(), ',') << "\n";
        continue;
      }
      for (const auto& [step, rows] : steps->second) {
        // The evaluation's own sample count: fid@N rows carry their N instead.
        const MetricRow* eval = rows.front();
        for (const MetricRow* row : rows)
          if (row->name.rfind("fid@", 0) != 0) eval = row;
        out << prefix.str() << "," << step << "," << eval->epoch << "," << field(eval->backbone) << ","
            << eval->weights_sha256 << "," << eval->samples;
        for (const auto& n : names) {
          out << ",";
          const auto found = std::find_if(rows.begin(), rows.end(), [&](const MetricRow* r) { return r->name == n; });
          if (found == rows.end()) continue;
          if ((*found)->value) out << *(*found)->value;
          else out << "nan";
        }
        out << "\n";
      }
    }
  }
  return out.str();
}

}  // namespace gansweep::sweepctl
