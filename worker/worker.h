// The worker: registers its machine, leases jobs while it has free devices, runs a trainer
// per job, relays its events, heartbeats, and finishes each attempt with the exit code.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace gansweep {

struct WorkerOptions {
  std::string coordinator;     // HOST:PORT
  std::vector<int> gpus;       // CUDA ordinals; empty with cpu_ranks
  int cpu_ranks = 0;           // devices of a machine without GPUs
  std::string name;            // unique per worker; default: the host name
  std::string host;            // machine name; default: gethostname()
  std::string work_dir = ".";  // jobs/<job key>/ holds each job's spec, checkpoint and logs
  std::string trainer = "trainer";
  std::string mpirun = "mpirun";  // used for jobs with more than one device
  int poll_ms = 500;
  size_t error_lines = 20;  // stderr lines sent with a failed attempt
};

// Runs until `stop` is set (SIGTERM): then forwards SIGTERM to every trainer (they
// checkpoint and exit 3, so their jobs are requeued without using a retry), finishes
// their attempts and returns 0. Returns 1 when the coordinator refuses the registration.
int run_worker(const WorkerOptions& options, const std::atomic<bool>& stop);

}  // namespace gansweep
