// NumPy .npz archives (a zip of .npy arrays), so TTUR's and pytorch-fid's statistics files
// (`mu`, `sigma`) serve as FID references exactly as in the paper.
#pragma once

#include <map>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "metrics/statistics.h"

namespace gansweep {

class NpzError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every array of the archive by name (without ".npy"). Reads little-endian float64, float32,
// int64 and int32 arrays in C or Fortran order, stored or deflated.
std::map<std::string, at::Tensor> read_npz(const std::string& path);
// Writes float64/float32/int64/int32 arrays uncompressed, as numpy.savez.
void write_npz(const std::string& path, const std::map<std::string, at::Tensor>& arrays);

// `mu` (d) and `sigma` (d x d); throws NpzError naming the file when either is missing or
// their shapes disagree. The sample count is not part of the format (0 = unknown).
FeatureStats read_stats_npz(const std::string& path);
void write_stats_npz(const std::string& path, const FeatureStats& stats);

}  // namespace gansweep
