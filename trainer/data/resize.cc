#include "trainer/data/resize.h"

#include <algorithm>
#include <cmath>

namespace gansweep {
namespace {

constexpr int kPrecisionBits = 22;  // Pillow's PRECISION_BITS for 8-bit images

struct Taps {
  int first = 0;             // first source index
  std::vector<int> weights;  // fixed-point weights
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear (triangle) filter.
std::vector<Taps> pil_bilinear_taps(int in_size, int out_size) {
  const double scale = double(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  std::vector<Taps> taps(out_size);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    int xmin = int(center - support + 0.5);  // C truncation, as Pillow
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    std::vector<double> k;
    double sum = 0;
    for (int x = xmin; x < xmax; ++x) {
      double d = std::fabs((x - center + 0.5) / filterscale);
      double w = d < 1.0 ? 1.0 - d : 0.0;
      k.push_back(w);
      sum += w;
    }
    taps[xx].first = xmin;
    for (double w : k) {
      if (sum != 0.0) w /= sum;
      taps[xx].weights.push_back(w < 0 ? int(-0.5 + w * (1 << kPrecisionBits))
                                       : int(0.5 + w * (1 << kPrecisionBits)));
    }
  }
  return taps;
}

uint8_t clip8(int64_t v) {
  v >>= kPrecisionBits;
  return uint8_t(std::clamp<int64_t>(v, 0, 255));
}

}  // namespace

Image resize_nearest_pil(const Image& in, int out_w, int out_h) {
  Image out{out_w, out_h, in.channels, std::vector<uint8_t>(size_t(out_w) * out_h * in.channels)};
  const double sx = double(in.width) / out_w, sy = double(in.height) / out_h;
  for (int y = 0; y < out_h; ++y) {
    const int src_y = std::min(int((y + 0.5) * sy), in.height - 1);
    for (int x = 0; x < out_w; ++x) {
      const int src_x = std::min(int((x + 0.5) * sx), in.width - 1);
      for (int c = 0; c < in.channels; ++c) out.at(x, y, c) = in.at(src_x, src_y, c);
    }
  }
  return out;
}

Image resize_bilinear_pil(const Image& in, int out_w, int out_h) {
  // Horizontal pass first, then vertical, as Pillow's ImagingResampleInner.
  Image mid{out_w, in.height, in.channels, std::vector<uint8_t>(size_t(out_w) * in.height * in.channels)};
  const auto hx = pil_bilinear_taps(in.width, out_w);
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < out_w; ++x)
      for (int c = 0; c < in.channels; ++c) {
        int64_t ss = int64_t{1} << (kPrecisionBits - 1);
        for (size_t k = 0; k < hx[x].weights.size(); ++k)
          ss += int64_t{in.at(hx[x].first + int(k), y, c)} * hx[x].weights[k];
        mid.at(x, y, c) = clip8(ss);
      }
  Image out{out_w, out_h, in.channels, std::vector<uint8_t>(size_t(out_w) * out_h * in.channels)};
  const auto vy = pil_bilinear_taps(in.height, out_h);
  for (int y = 0; y < out_h; ++y)
    for (int x = 0; x < out_w; ++x)
      for (int c = 0; c < in.channels; ++c) {
        int64_t ss = int64_t{1} << (kPrecisionBits - 1);
        for (size_t k = 0; k < vy[y].weights.size(); ++k)
          ss += int64_t{mid.at(x, vy[y].first + int(k), c)} * vy[y].weights[k];
        out.at(x, y, c) = clip8(ss);
      }
  return out;
}

// cv2 INTER_LINEAR's source of output index i: src = (i + 0.5)·scale − 0.5, clamped to the
// image; returns the two neighbours and the weight of the second.
namespace {
struct LinearTap {
  int first, second;
  double weight;
};
LinearTap linear_tap(int i, double scale, int in_size) {
  const double src = (i + 0.5) * scale - 0.5;
  int first = int(std::floor(src));
  double weight = src - first;
  if (first < 0) { first = 0; weight = 0; }
  if (first >= in_size - 1) { first = in_size - 1; weight = 0; }
  return {first, std::min(first + 1, in_size - 1), weight};
}
}  // namespace

Image resize_linear_cv(const Image& in, int out_w, int out_h) {
  Image out{out_w, out_h, in.channels, std::vector<uint8_t>(size_t(out_w) * out_h * in.channels)};
  const double sx = double(in.width) / out_w, sy = double(in.height) / out_h;
  for (int y = 0; y < out_h; ++y) {
    const LinearTap ty = linear_tap(y, sy, in.height);
    for (int x = 0; x < out_w; ++x) {
      const LinearTap tx = linear_tap(x, sx, in.width);
      for (int c = 0; c < in.channels; ++c) {
        const double top = in.at(tx.first, ty.first, c) * (1 - tx.weight) + in.at(tx.second, ty.first, c) * tx.weight;
        const double bottom =
            in.at(tx.first, ty.second, c) * (1 - tx.weight) + in.at(tx.second, ty.second, c) * tx.weight;
        out.at(x, y, c) = uint8_t(std::clamp(std::lround(top * (1 - ty.weight) + bottom * ty.weight), 0L, 255L));
      }
    }
  }
  return out;
}

Image warp_affine_cv(const Image& in, const double m[6], uint8_t border) {
  // Invert the forward map [a b c; d e f] to find each destination pixel's source.
  const double det = m[0] * m[4] - m[1] * m[3];
  const double ia = m[4] / det, ib = -m[1] / det, id = -m[3] / det, ie = m[0] / det;
  const double ic = -(ia * m[2] + ib * m[5]), iff = -(id * m[2] + ie * m[5]);
  Image out{in.width, in.height, in.channels, std::vector<uint8_t>(in.data.size())};
  auto sample = [&](int x, int y, int c) -> double {
    if (x < 0 || y < 0 || x >= in.width || y >= in.height) return border;
    return in.at(x, y, c);
  };
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x) {
      const double sx = ia * x + ib * y + ic, sy = id * x + ie * y + iff;
      const int x0 = int(std::floor(sx)), y0 = int(std::floor(sy));
      const double dx = sx - x0, dy = sy - y0;
      for (int c = 0; c < in.channels; ++c) {
        const double v = (sample(x0, y0, c) * (1 - dx) + sample(x0 + 1, y0, c) * dx) * (1 - dy) +
                         (sample(x0, y0 + 1, c) * (1 - dx) + sample(x0 + 1, y0 + 1, c) * dx) * dy;
        out.at(x, y, c) = uint8_t(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  return out;
}

}  // namespace gansweep
