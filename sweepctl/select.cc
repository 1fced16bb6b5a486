#include "sweepctl/select.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "coordinator/sweep.h"

namespace gansweep::sweepctl {
namespace {

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

bool all_digits(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

// "name=value" of a group's keys, for messages.
std::string describe_group(const std::vector<std::string>& keys, const std::vector<std::string>& values) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < keys.size(); ++i) parts.push_back(keys[i] + "=" + values[i]);
  return parts.empty() ? "the sweep" : join(parts, ", ");
}

}  // namespace

Metric parse_metric(const std::string& text) {
  if (text == "fid") return {"fid", "FID", true, 2};
  if (text == "is" || text == "is_mean") return {"is_mean", "IS", false, 2};
  if (text == "kid" || text == "kid_mean") return {"kid_mean", "KID", true, 4};
  if (text.rfind("fid@", 0) == 0 && all_digits(text.substr(4)) && std::stoll(text.substr(4)) > 0)
    return {text, "FID (" + text.substr(4) + " samples)", true, 2};
  throw UsageError("unknown metric '" + text + "': use fid, is, kid or fid@N (N generated samples)");
}

At parse_at(const std::string& text) {
  if (text == "final") return {At::Kind::final, 0};
  if (text == "best") return {At::Kind::best, 0};
  for (const auto& [prefix, kind] : {std::pair{"epoch=", At::Kind::epoch}, std::pair{"step=", At::Kind::step}}) {
    const std::string p = prefix;
    if (text.rfind(p, 0) == 0 && all_digits(text.substr(p.size()))) return {kind, std::stoll(text.substr(p.size()))};
  }
  throw UsageError("--at '" + text + "': use final, best, epoch=N or step=N");
}

std::string describe(const At& at) {
  switch (at.kind) {
    case At::Kind::final: return "final evaluation";
    case At::Kind::best: return "best evaluation";
    case At::Kind::epoch: return "epoch " + std::to_string(at.n);
    case At::Kind::step: return "step " + std::to_string(at.n);
  }
  return "";
}

std::vector<Job> filter_jobs(std::vector<Job> jobs, const std::vector<std::string>& where) {
  for (const auto& condition : where) {
    const size_t equals = condition.find('=');
    if (equals == std::string::npos || equals == 0)
      throw UsageError("--where '" + condition + "': write PARAMETER=VALUE, e.g. margin=0.15");
    const std::string name = condition.substr(0, equals), wanted = condition.substr(equals + 1);
    check_parameter(name);
    // Numbers compare as numbers: margin=0.15 matches 0.15, scale=10 matches 10.0.
    std::optional<double> number;
    try {
      size_t used = 0;
      number = std::stod(wanted, &used);
      if (used != wanted.size()) number.reset();
    } catch (const std::exception&) {
    }
    const auto values = parameter_values(jobs, name);
    std::vector<Job> kept;
    for (auto& job : jobs) {
      const auto n = parameter_number(job, name);
      if (parameter_text(job, name) == wanted || (number && n && *n == *number)) kept.push_back(std::move(job));
    }
    if (kept.empty())
      throw std::runtime_error("no job has " + condition + " (" + name + " takes: " + join(values, ", ") + ")");
    jobs = std::move(kept);
  }
  return jobs;
}

std::vector<std::string> parameter_values(const std::vector<Job>& jobs, const std::string& name) {
  check_parameter(name);
  std::vector<std::string> values;
  for (const auto& job : jobs) {
    std::string value = parameter_text(job, name);
    if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(std::move(value));
  }
  return values;
}

Groups group_jobs(const std::vector<Job>& jobs, const std::vector<std::string>& keys) {
  for (const auto& key : keys) check_parameter(key);
  Groups groups;
  for (const auto& job : jobs) {
    std::vector<std::string> values;
    for (const auto& key : keys) values.push_back(parameter_text(job, key));
    auto found = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == values; });
    if (found == groups.end()) {
      groups.push_back({values, {}});
      found = std::prev(groups.end());
    }
    found->second.push_back(&job);
  }
  // Within a group only the seed (and the machine of every-worker copies) may vary.
  for (const auto& [values, members] : groups)
    for (const auto& parameter : kParameterOrder) {
      if (parameter == "seed" || std::find(keys.begin(), keys.end(), parameter) != keys.end()) continue;
      std::vector<std::string> seen;
      for (const Job* job : members) {
        std::string value = parameter_text(*job, parameter);
        if (std::find(seen.begin(), seen.end(), value) == seen.end()) seen.push_back(std::move(value));
      }
      if (seen.size() > 1)
        throw UsageError("the jobs of " + describe_group(keys, values) + " differ in " + parameter + " (" +
                         join(seen, ", ") + "), which must not be averaged together: choose one with --where " +
                         parameter + "=" + seen.front() + ", or group by " + parameter);
    }
  return groups;
}

std::string Backbone::describe() const {
  if (name.empty()) return "none yet (no values stored)";
  return name + " (weights " + (weights_sha256.empty() ? std::string("hash not recorded") : short_hash(weights_sha256)) + ")";
}

Backbone choose_backbone(const std::vector<MetricRow>& rows, const std::string& wanted) {
  std::vector<Backbone> present;
  for (const auto& row : rows) {
    const bool seen = std::any_of(present.begin(), present.end(), [&](const Backbone& b) {
      return b.name == row.backbone && b.weights_sha256 == row.weights_sha256;
    });
    if (!seen) present.push_back({row.backbone, row.weights_sha256});
  }
  std::vector<std::string> names;
  for (const auto& b : present)
    names.push_back(b.name + (b.weights_sha256.empty() ? "" : ":" + short_hash(b.weights_sha256)));
  if (present.empty()) return {};
  if (wanted.empty()) {
    if (present.size() == 1) return present.front();
    throw UsageError("the values come from " + std::to_string(present.size()) +
                     " backbones, which are never averaged together (" + join(names, ", ") +
                     "): choose one with --backbone NAME[:WEIGHTS-PREFIX]");
  }
  const size_t colon = wanted.find(':');
  const std::string name = wanted.substr(0, colon);
  const std::string prefix = colon == std::string::npos ? "" : wanted.substr(colon + 1);
  std::vector<Backbone> matches;
  for (const auto& b : present)
    if (b.name == name && b.weights_sha256.rfind(prefix, 0) == 0) matches.push_back(b);
  if (matches.empty())
    throw UsageError("no values from backbone '" + wanted + "' (there are: " + join(names, ", ") + ")");
  if (matches.size() > 1)
    throw UsageError("backbone '" + wanted + "' has several weights (" + join(names, ", ") +
                     "): add the weights hash prefix, e.g. --backbone " + names.front());
  return matches.front();
}

MetricIndex::MetricIndex(const std::vector<MetricRow>& rows, const Backbone& backbone) {
  for (const auto& row : rows)
    if (!backbone.name.empty() && row.backbone == backbone.name && row.weights_sha256 == backbone.weights_sha256)
      rows_[{row.job_id, row.name}].push_back(&row);
  for (auto& [key, list] : rows_)
    std::sort(list.begin(), list.end(), [](const MetricRow* a, const MetricRow* b) { return a->step < b->step; });
}

const std::vector<const MetricRow*>& MetricIndex::rows(int64_t job_id, const std::string& name) const {
  static const std::vector<const MetricRow*> none;
  const auto found = rows_.find({job_id, name});
  return found == rows_.end() ? none : found->second;
}

const MetricRow* MetricIndex::pick(const Job& job, const Metric& metric, const At& at) const {
  const auto& list = rows(job.info.id, metric.name);
  if (list.empty()) return nullptr;
  switch (at.kind) {
    case At::Kind::final:
      return list.back();
    case At::Kind::best: {
      const MetricRow* best = nullptr;
      for (const MetricRow* row : list)
        if (row->value && (!best || (metric.lower_is_better ? *row->value < *best->value : *row->value > *best->value)))
          best = row;
      return best ? best : list.back();  // all non-finite: the caller reports that
    }
    case At::Kind::epoch: {
      const MetricRow* last = nullptr;  // the last evaluation in that epoch
      for (const MetricRow* row : list)
        if (row->epoch == at.n) last = row;
      return last;
    }
    case At::Kind::step:
      for (const MetricRow* row : list)
        if (row->step == at.n) return row;
      return nullptr;
  }
  return nullptr;
}

bool counts(const Job& job, const At& at) {
  if (at.kind == At::Kind::final || at.kind == At::Kind::best) return job.info.status == "done";
  return true;
}

Stats statistics(const std::vector<double>& values) {
  Stats s;
  s.n = int(values.size());
  if (values.empty()) return s;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / s.n;
  if (s.n >= 2) {
    double squares = 0;
    for (double v : values) squares += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(squares / (s.n - 1));
  }
  return s;
}

std::string short_hash(const std::string& sha256) { return sha256.substr(0, 12); }

}  // namespace gansweep::sweepctl
