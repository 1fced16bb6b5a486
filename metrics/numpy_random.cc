#include "metrics/numpy_random.h"

#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace gansweep {

uint32_t NumpyRandomState::random_interval(uint32_t max) {
  if (max == 0) return 0;
  uint32_t mask = max;  // the smallest all-ones mask covering max
  for (int shift = 1; shift <= 16; shift *= 2) mask |= mask >> shift;
  uint32_t value;
  do value = uint32_t(mt_()) & mask;
  while (value > max);
  return value;
}

std::vector<int64_t> NumpyRandomState::choice_without_replacement(int64_t n, int64_t m) {
  if (n > (int64_t(1) << 32)) throw std::invalid_argument("choice: more than 2^32 elements");
  if (m < 0 || m > n)
    throw std::invalid_argument("choice: cannot take " + std::to_string(m) + " of " + std::to_string(n) +
                                " without replacement");
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = n - 1; i >= 1; --i) std::swap(order[size_t(i)], order[random_interval(uint32_t(i))]);
  order.resize(size_t(m));
  return order;
}

}  // namespace gansweep
