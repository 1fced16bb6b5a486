// numpy's legacy np.random.RandomState, as far as KID needs it: torch-fidelity draws each
// subset with RandomState(2020).choice(n, m, replace=False) (shared/reference/metrics.md §4).
// Drawing the very same subsets makes KID agree with torch-fidelity to float32 rounding,
// rather than only in distribution. Torch-free.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace gansweep {

class NumpyRandomState {
 public:
  // RandomState(seed) for an integer seed: MT19937's init_genrand, as std::mt19937's.
  explicit NumpyRandomState(uint32_t seed) : mt_(seed) {}

  // choice(n, m, replace=False) with p=None: the first m entries of permutation(n), a
  // Fisher-Yates shuffle of 0..n-1 from the last position down, each position's partner
  // drawn by random_interval (masked rejection sampling). At most 2^32 elements (numpy
  // switches to 64-bit draws beyond).
  std::vector<int64_t> choice_without_replacement(int64_t n, int64_t m);

 private:
  uint32_t random_interval(uint32_t max);
  std::mt19937 mt_;
};

}  // namespace gansweep
