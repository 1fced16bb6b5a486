// Reads a trainer's event lines (docs/events.md) as the store records them: the furthest
// step reached, one metric row per value of each eval event, and the files events name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "coordinator/store.h"

namespace gansweep {

struct ProgressReport {
  int64_t step = 0;  // the furthest step of any event
  std::vector<MetricRecord> metrics;  // job_id and attempt_id are left for the store
  std::vector<ArtifactRecord> artifacts;  // sample grids of evals, checkpoints
};

// Throws std::runtime_error naming the line for a line that is not a valid event.
ProgressReport read_event_lines(const std::vector<std::string>& lines);

}  // namespace gansweep
