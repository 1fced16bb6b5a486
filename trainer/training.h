// The training loop: one job spec in, a stream of events out (see trainer/contract).
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <vector>

#include "trainer/contract/job_spec.h"

namespace gansweep {

// Exit codes of a trainer run, also what `trainer --job` returns.
enum ExitCode : int {
  kExitFinished = 0,
  kExitBadInput = 1,   // invalid spec, missing or corrupt data: retrying cannot help
  kExitUsage = 2,      // wrong command line
  kExitPreempted = 3,  // SIGTERM/SIGINT: a checkpoint was written; resume later
  kExitFailed = 4,     // a failure during training (may be worth a retry)
};

// Observers for tests: which dataset images each real batch holds (D step or G step).
struct RunHooks {
  std::function<void(bool g_step, const std::vector<int64_t>& indices)> on_real_batch;
};

// Runs a job to completion (or preemption), writing JSON-lines events to `events`.
// Never throws: every failure becomes a `failed` event and an exit code.
int run_job(const JobSpec& spec, std::ostream& events, const RunHooks& hooks = {});

// Asks a running job to checkpoint and stop after the current iteration (signal-safe).
void request_stop();

}  // namespace gansweep
