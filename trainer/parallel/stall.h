// Waiting on a collective with a deadline, shared by the MPI and NCCL backends.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace gansweep {

// The exit status of a rank that ended the job because a collective stalled (the
// trainer's kExitFailed: worth a retry, perhaps on another machine).
constexpr int kStallExitCode = 4;

// Polls `done` until it returns true. Spins briefly first (a collective usually completes
// within microseconds), then backs off to at most 1 ms between polls, so a rank waiting for
// a slow peer leaves the cores to it. After `timeout_seconds` calls `stalled`, which must
// not return.
inline void wait_until_done(const std::function<bool()>& done, const std::string& what, double timeout_seconds,
                            const std::function<void(const std::string&, double)>& stalled) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto pause = std::chrono::microseconds(0);
  for (int polls = 0; !done(); ++polls) {
    if (polls > 200) {
      pause = std::min(std::chrono::microseconds(1000), pause + std::chrono::microseconds(20));
      std::this_thread::sleep_for(pause);
    }
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (waited > timeout_seconds) stalled(what, waited);
  }
}

}  // namespace gansweep
