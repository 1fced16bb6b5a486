// sweepctl status: jobs by state, what each worker runs, throughput and ETA; from the
// database (read-only) or from a live coordinator over gRPC. Cancel goes to the coordinator
// only: it is the database's one writer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sweepctl/results.h"

namespace gansweep::sweepctl {

struct JobLine {
  int64_t id = 0;
  std::string key;
  std::string worker;    // running jobs, when known
  double progress = -1;  // 0..1; -1 unknown
  std::string error;     // failed jobs: the first line of the last error
};

struct SweepStatus {
  SweepInfo info;  // job_counts by state
  std::vector<JobLine> running, failed;
  std::optional<double> jobs_per_hour;
  std::optional<int64_t> measured_seconds;  // the time the rate was measured over
  std::optional<int64_t> eta_seconds;
  std::string rate_note;  // why there is no rate
};

struct WorkerLine {
  std::string name, host, devices, last_heartbeat;  // last_heartbeat: UTC "YYYY-MM-DD HH:MM:SS"
  int64_t running = 0;
  std::vector<std::string> jobs;  // "key (52%)", when known
};

struct Status {
  std::string source;  // "database 'x'" or "coordinator at host:port"
  std::vector<SweepStatus> sweeps;
  std::vector<WorkerLine> workers;
};

// Every sweep, or the one named ("NAME" or "NAME:VERSION"). `now` is Unix seconds.
Status status_from_db(ResultsDb& db, const std::string& sweep, int64_t now);
Status status_from_coordinator(const std::string& address, const std::string& sweep);

// With the rate a watcher measured from two samples of the done count.
void add_rate(SweepStatus& status, int64_t done_before, int64_t seconds);

std::string format_status(const Status& status, int64_t now);

// Cancels a sweep ("NAME" or "NAME:VERSION") or a job (its id) through the coordinator.
// Returns what happened, as one line.
std::string cancel(const std::string& address, const std::string& target);

// "2h 05m", "4m 10s", "12s".
std::string format_duration(int64_t seconds);

}  // namespace gansweep::sweepctl
