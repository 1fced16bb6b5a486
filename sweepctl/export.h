// sweepctl export --csv: every evaluation of every job as one CSV line, with the job's
// parameters, for spreadsheets and pandas.
#pragma once

#include <string>

#include "sweepctl/results.h"

namespace gansweep::sweepctl {

// One line per job and evaluation step (a job with no metric yet: one line, step empty).
// Columns: sweep, version, job_id, key, status, machine, the sweep parameters (dataset,
// loss, margin, scale, seed), step, epoch, backbone, weights_sha256, samples, then one column
// per metric name (fid, fid@N, is_mean, is_std, kid_mean, kid_std, loss_d, loss_g, others);
// an empty metric cell: not reported at that step, "nan": reported but not finite.
// Every sweep when `sweep` is empty.
std::string export_csv(ResultsDb& db, const std::string& sweep);

}  // namespace gansweep::sweepctl
