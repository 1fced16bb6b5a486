#include "sweepctl/results.h"

#include <algorithm>
#include <map>
#include <utility>

#include "coordinator/sweep.h"

namespace gansweep::sweepctl {
namespace {

// "host (model)" for the devices an attempt ran on: what Fig. 5 groups seeds by.
std::string machine_name(const std::string& host, const std::string& worker_devices_json,
                         const std::vector<int>& used) {
  const auto devices = nlohmann::json::parse(worker_devices_json, nullptr, false);
  std::map<std::string, int> models;  // model -> devices of it used
  if (devices.is_array())
    for (int index : used)
      for (const auto& device : devices)
        if (device.value("index", -1) == index) ++models[device.value("model", std::string("?"))];
  if (models.empty()) return host;
  std::string text;
  for (const auto& [model, count] : models)
    text += (text.empty() ? "" : ", ") + (count > 1 ? std::to_string(count) + " x " : "") + model;
  return host + " (" + text + ")";
}

}  // namespace

const std::vector<std::string>& known_parameters() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all = kParameterOrder;
    all.push_back("machine");
    return all;
  }();
  return names;
}

void check_parameter(const std::string& name) {
  const auto& known = known_parameters();
  if (std::find(known.begin(), known.end(), name) != known.end()) return;
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  throw UsageError("unknown parameter '" + name + "': use one of " + list);
}

std::string parameter_text(const Job& job, const std::string& name) {
  if (name == "machine") return job.machine.empty() ? "(not run)" : job.machine;
  const nlohmann::json& value = name == "dataset" ? job.spec.at("dataset").at("name") : job.spec.at(name);
  return value.is_string() ? value.get<std::string>() : value.dump();
}

std::optional<double> parameter_number(const Job& job, const std::string& name) {
  if (name == "machine" || name == "dataset") return std::nullopt;
  const auto& value = job.spec.at(name);
  if (!value.is_number()) return std::nullopt;
  return value.get<double>();
}

std::pair<std::string, int> parse_sweep_name(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return {text, 0};
  const std::string digits = text.substr(colon + 1);
  if (colon == 0 || digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError("sweep '" + text + "': write NAME or NAME:VERSION");
  return {text.substr(0, colon), std::stoi(digits)};
}

ResultsDb ResultsDb::open(const std::string& path) { return ResultsDb(Store::open_read_only(path), path); }

SweepInfo ResultsDb::sweep(const std::string& name) {
  if (!name.empty()) {
    const auto [base, version] = parse_sweep_name(name);
    if (auto found = store_.get_sweep(base, version)) return *found;
  }
  // Not found, or not named: the messages list what is stored.
  const auto all = store_.list_sweeps();
  std::string list;
  std::vector<std::string> names;
  for (const auto& s : all) {
    list += (list.empty() ? "" : ", ") + s.name + ":" + std::to_string(s.version);
    if (std::find(names.begin(), names.end(), s.name) == names.end()) names.push_back(s.name);
  }
  if (list.empty()) list = "none";
  if (!name.empty()) throw std::runtime_error("no sweep '" + name + "' in '" + path_ + "' (stored: " + list + ")");
  if (names.size() != 1)
    throw UsageError("database '" + path_ + "' holds " + std::to_string(names.size()) + " sweeps: name one (" + list + ")");
  return sweep(names.front());
}

std::vector<Job> ResultsDb::jobs(int64_t sweep_id) {
  std::vector<Job> jobs;
  std::map<int64_t, size_t> index;
  for (auto& info : store_.list_jobs(sweep_id)) {
    Job job;
    job.spec = nlohmann::json::parse(info.spec_json);
    job.info = std::move(info);
    index[job.info.id] = jobs.size();
    jobs.push_back(std::move(job));
  }

  // The machine: of the attempt that finished the job, else the one running it, else the last.
  std::map<int64_t, WorkerInfo> workers;
  for (auto& w : store_.list_workers()) workers[w.id] = std::move(w);
  std::map<int64_t, int> rank;  // job -> rank of the attempt its machine came from
  for (const auto& a : store_.list_sweep_attempts(sweep_id)) {
    Job& job = jobs[index.at(a.job_id)];
    const int r = a.status == "done" ? 2 : a.status == "running" ? 1 : 0;
    if (rank.count(job.info.id) && rank[job.info.id] > r) continue;
    rank[job.info.id] = r;
    const WorkerRegistration& worker = workers.at(a.worker_id).registration;
    job.machine = machine_name(worker.host, worker.devices_json, a.devices);
    const auto& train = job.spec.at("train");
    if (a.status == "running" && train.value("schedule", "") == "iterations" && train.value("iterations", 0) > 0)
      job.progress = std::min(1.0, double(a.step) / train.at("iterations").get<double>());
  }

  // Epoch schedules count updates per epoch from the dataset size: progress comes from the
  // last epoch evaluated instead.
  for (const auto& [job_id, epoch] : store_.running_epochs(sweep_id)) {
    Job& job = jobs[index.at(job_id)];
    const auto& train = job.spec.at("train");
    if (train.value("schedule", "") == "epochs" && train.value("epochs", 0) > 0)
      job.progress = std::min(1.0, double(epoch) / train.at("epochs").get<double>());
  }
  return jobs;
}

std::vector<AttemptRow> ResultsDb::attempts(int64_t sweep_id) {
  std::map<int64_t, std::string> worker_names;
  for (const auto& w : store_.list_workers()) worker_names[w.id] = w.registration.name;
  std::vector<AttemptRow> attempts;
  for (const auto& a : store_.list_sweep_attempts(sweep_id))
    attempts.push_back({a.id, a.job_id, worker_names.at(a.worker_id), a.status, a.started, a.ended, a.step});
  return attempts;
}

std::vector<Artifact> ResultsDb::latest_sample_grids(const std::vector<int64_t>& job_ids) {
  std::vector<Artifact> grids;
  for (int64_t id : job_ids) {
    std::optional<Artifact> latest;  // list_artifacts orders by step: the last one wins
    for (const auto& a : store_.list_artifacts(id))
      if (a.kind == "sample_grid") latest = Artifact{id, a.path, a.step};
    if (latest) grids.push_back(*latest);
  }
  return grids;
}

}  // namespace gansweep::sweepctl
