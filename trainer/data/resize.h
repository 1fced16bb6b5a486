// Image resampling exactly as the tools the paper's preprocessing used. All work on one
// interleaved (HWC) uint8 image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gansweep {

struct Image {  // interleaved HWC uint8
  int width = 0, height = 0, channels = 3;
  std::vector<uint8_t> data;
  uint8_t& at(int x, int y, int c) { return data[(size_t(y) * width + x) * channels + c]; }
  uint8_t at(int x, int y, int c) const { return data[(size_t(y) * width + x) * channels + c]; }
};

// PIL Image.resize(NEAREST): source pixel floor((x + 0.5) * in / out).
Image resize_nearest_pil(const Image& in, int out_w, int out_h);
// PIL Image.resize(BILINEAR): triangle filter widened by the scale when shrinking
// (antialiased), horizontal pass then vertical, 8-bit fixed point with 22 fraction bits.
Image resize_bilinear_pil(const Image& in, int out_w, int out_h);
// cv2.resize(INTER_LINEAR): half-pixel centres, two taps, no antialiasing. Float arithmetic,
// rounded; OpenCV's 11-bit fixed point can differ by one level on some pixels.
Image resize_linear_cv(const Image& in, int out_w, int out_h);
// cv2.warpAffine with the inverse of a forward 2x3 matrix, bilinear, constant border.
Image warp_affine_cv(const Image& in, const double forward[6], uint8_t border);

}  // namespace gansweep
