#include <algorithm>
#include <cmath>
#include <random>

#include "trainer/data/image_set.h"

namespace gansweep {

// Each image: a two-colour diagonal gradient with a soft-edged disc of a third colour.
// A seeded generator per image makes image i the same whatever the count.
ImageSet make_synthetic(int size, int64_t count, uint64_t seed) {
  ImageSet set;
  set.height = set.width = size;
  set.count = count;
  set.pixels.resize(size_t(count * set.image_bytes()));
  for (int64_t i = 0; i < count; ++i) {
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + uint64_t(i));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    double from[3], to[3], disc[3];
    for (int c = 0; c < 3; ++c) {
      from[c] = u(rng);
      to[c] = u(rng);
      disc[c] = u(rng);
    }
    const double cx = size * (0.2 + 0.6 * u(rng)), cy = size * (0.2 + 0.6 * u(rng));
    const double radius = size * (0.1 + 0.25 * u(rng));
    const double angle = 2 * 3.14159265358979323846 * u(rng);
    uint8_t* dst = set.image(i);
    for (int y = 0; y < size; ++y)
      for (int x = 0; x < size; ++x) {
        const double t = 0.5 + 0.5 * ((x - size / 2.0) * std::cos(angle) + (y - size / 2.0) * std::sin(angle)) / size;
        const double inside = 1.0 / (1.0 + std::exp((std::hypot(x - cx, y - cy) - radius) * 1.5));
        for (int c = 0; c < 3; ++c) {
          const double v = (from[c] * (1 - t) + to[c] * t) * (1 - inside) + disc[c] * inside;
          dst[(c * size + y) * size + x] = uint8_t(std::lround(std::clamp(v, 0.0, 1.0) * 255));
        }
      }
  }
  return set;
}

}  // namespace gansweep
