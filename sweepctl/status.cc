#include "sweepctl/status.h"

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <map>
#include <sstream>

namespace gansweep::sweepctl {
namespace {

constexpr size_t kMaxListed = 12;  // running or failed jobs listed per sweep

// "2 x NVIDIA A100-SXM4-80GB, 1 x cpu" from a worker's devices JSON.
std::string device_summary(const std::string& devices_json) {
  const auto devices = nlohmann::json::parse(devices_json, nullptr, false);
  std::map<std::string, int> models;
  if (devices.is_array())
    for (const auto& d : devices) ++models[d.value("model", std::string("?"))];
  std::string text;
  for (const auto& [model, count] : models) text += (text.empty() ? "" : ", ") + std::to_string(count) + " x " + model;
  return text.empty() ? "no devices" : text;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// UTC "YYYY-MM-DD HH:MM:SS" to Unix seconds; nothing when it does not parse.
std::optional<int64_t> unix_time(const std::string& utc) {
  std::tm tm{};
  std::istringstream in(utc);
  in >> std::get_time(&tm, "%Y-%m-%d %H:%M:%S");
  if (in.fail()) return std::nullopt;
  return int64_t(timegm(&tm));
}

std::string bar(double fraction, int width) {
  const int filled = int(std::clamp(fraction, 0.0, 1.0) * width + 0.5);
  return "[" + std::string(size_t(filled), '#') + std::string(size_t(width - filled), '-') + "]";
}

std::string percent(double fraction) { return std::to_string(int(fraction * 100 + 0.5)) + "%"; }

}  // namespace

std::string format_duration(int64_t seconds) {
  std::ostringstream out;
  out << std::setfill('0');
  if (seconds >= 86400) out << seconds / 86400 << "d " << std::setw(2) << seconds % 86400 / 3600 << "h";
  else if (seconds >= 3600) out << seconds / 3600 << "h " << std::setw(2) << seconds % 3600 / 60 << "m";
  else if (seconds >= 60) out << seconds / 60 << "m " << std::setw(2) << seconds % 60 << "s";
  else out << seconds << "s";
  return out.str();
}

void add_rate(SweepStatus& status, int64_t done_before, int64_t seconds) {
  const auto counts = status.info.job_counts;
  const int64_t done = counts.count("done") ? counts.at("done") : 0;
  if (seconds <= 0 || done <= done_before) {
    if (!status.jobs_per_hour) status.rate_note = "no job finished while watching yet";
    return;
  }
  status.jobs_per_hour = double(done - done_before) * 3600.0 / double(seconds);
  status.measured_seconds = seconds;
  const int64_t left = (counts.count("queued") ? counts.at("queued") : 0) + (counts.count("running") ? counts.at("running") : 0);
  status.eta_seconds = left > 0 ? std::optional<int64_t>(int64_t(double(left) * 3600.0 / *status.jobs_per_hour)) : std::nullopt;
}

Status status_from_db(ResultsDb& db, const std::string& sweep, int64_t now) {
  Status status;
  status.source = "database '" + db.path() + "'";
  std::vector<SweepInfo> sweeps;
  if (sweep.empty()) sweeps = db.sweeps();
  else sweeps.push_back(db.sweep(sweep));

  std::map<std::string, std::vector<std::string>> worker_jobs;  // worker name -> "key (52%)"
  for (const auto& info : sweeps) {
    SweepStatus s;
    s.info = info;
    const auto jobs = db.jobs(info.id);
    std::map<int64_t, const Job*> by_id;
    for (const auto& job : jobs) by_id[job.info.id] = &job;
    std::map<int64_t, std::string> worker_of;  // running job -> worker
    int64_t first_start = 0, last_end = 0, finished = 0;
    bool running_now = false;
    for (const auto& a : db.attempts(info.id)) {
      if (!first_start || a.started < first_start) first_start = a.started;
      if (a.ended) last_end = std::max(last_end, *a.ended);
      if (a.status == "done") ++finished;
      if (a.status == "running") {
        running_now = true;
        worker_of[a.job_id] = a.worker;
      }
    }
    double left = 0;  // jobs still to run, counting the part of running ones not yet done
    for (const auto& job : jobs) {
      if (job.info.status == "queued") left += 1;
      if (job.info.status == "running") {
        left += job.progress >= 0 ? 1 - job.progress : 1;
        JobLine line{job.info.id, job.info.key, worker_of[job.info.id], job.progress, ""};
        const std::string shown = job.info.key + (job.progress >= 0 ? " (" + percent(job.progress) + ")" : "");
        if (!line.worker.empty()) worker_jobs[line.worker].push_back(shown);
        s.running.push_back(std::move(line));
      }
      if (job.info.status == "failed") s.failed.push_back({job.info.id, job.info.key, "", -1, first_line(job.info.last_error)});
    }
    // Throughput: jobs finished per hour of wall time since the sweep's first attempt, up to
    // now while it runs, else to its last attempt's end.
    const int64_t span = (running_now ? now : last_end) - first_start;
    if (finished > 0 && first_start > 0 && span > 0) {
      s.jobs_per_hour = double(finished) * 3600.0 / double(span);
      s.measured_seconds = span;
      if (left > 0) s.eta_seconds = int64_t(left * 3600.0 / *s.jobs_per_hour);
    } else {
      s.rate_note = "no job finished yet";
    }
    status.sweeps.push_back(std::move(s));
  }
  for (const auto& w : db.workers()) {
    WorkerLine line{w.registration.name, w.registration.host, device_summary(w.registration.devices_json),
                    w.last_heartbeat, w.running_attempts, worker_jobs[w.registration.name]};
    status.workers.push_back(std::move(line));
  }
  return status;
}

std::string format_status(const Status& status, int64_t now) {
  std::ostringstream out;
  out << "from " << status.source << "\n";
  if (status.sweeps.empty()) out << "\nno sweeps\n";
  for (const auto& s : status.sweeps) {
    const auto& c = s.info.job_counts;
    auto count = [&](const char* state) { return c.count(state) ? c.at(state) : int64_t(0); };
    out << "\nsweep " << s.info.name << " v" << s.info.version << "  " << s.info.status << ", priority "
        << s.info.priority << (s.info.created.empty() ? "" : ", created " + s.info.created + " UTC") << "\n";
    out << "  jobs      " << s.info.total_jobs << ":";
    bool first = true;
    for (const char* state : {"done", "running", "queued", "failed", "cancelled"})
      if (count(state)) {
        out << (first ? " " : ", ") << count(state) << " " << state;
        first = false;
      }
    out << "\n";
    const int64_t settled = count("done") + count("failed") + count("cancelled");
    const double fraction = s.info.total_jobs ? double(settled) / double(s.info.total_jobs) : 1.0;
    out << "  progress  " << bar(fraction, 40) << " " << settled << "/" << s.info.total_jobs << " settled ("
        << percent(fraction) << ")\n";
    out << "  rate      ";
    if (s.jobs_per_hour) {
      // Slow sweeps (a job a day) read better per day than as 0.04 jobs/h.
      const bool per_day = *s.jobs_per_hour < 1;
      out << std::fixed << std::setprecision(2) << *s.jobs_per_hour * (per_day ? 24 : 1)
          << (per_day ? " jobs/day over " : " jobs/h over ") << format_duration(*s.measured_seconds);
      if (s.eta_seconds) out << "; ETA " << format_duration(*s.eta_seconds);
      else if (!count("queued") && !count("running")) out << "; nothing left to run";
    } else {
      out << s.rate_note;
    }
    out << "\n";
    for (size_t i = 0; i < s.running.size() && i < kMaxListed; ++i) {
      const auto& j = s.running[i];
      out << (i ? "            " : "  running   ") << "#" << j.id << " " << j.key;
      if (!j.worker.empty()) out << "  on " << j.worker;
      if (j.progress >= 0) out << "  " << bar(j.progress, 20) << " " << percent(j.progress);
      out << "\n";
    }
    if (s.running.size() > kMaxListed) out << "            ... and " << s.running.size() - kMaxListed << " more\n";
    for (size_t i = 0; i < s.failed.size() && i < kMaxListed; ++i) {
      const auto& j = s.failed[i];
      out << (i ? "            " : "  failed    ") << "#" << j.id << " " << j.key << (j.error.empty() ? "" : ": " + j.error) << "\n";
    }
    if (s.failed.size() > kMaxListed) out << "            ... and " << s.failed.size() - kMaxListed << " more\n";
  }
  out << "\nworkers (" << status.workers.size() << ")\n";
  for (const auto& w : status.workers) {
    out << "  " << w.name << "  host " << w.host << "  " << w.devices << "  running " << w.running;
    if (const auto seen = unix_time(w.last_heartbeat)) {
      const int64_t age = std::max<int64_t>(0, now - *seen);
      out << "  last heartbeat " << format_duration(age) << " ago" << (age > 300 ? " (stale)" : "");
    }
    out << "\n";
    for (const auto& job : w.jobs) out << "      " << job << "\n";
  }
  return out.str();
}

}  // namespace gansweep::sweepctl
