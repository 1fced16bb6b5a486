#include "trainer/sample_grid.h"

#include <stdexcept>

#include <stb/stb_image_write.h>

namespace gansweep {

torch::Tensor quantize_images(const torch::Tensor& images) {
  return (images.detach().to(torch::kFloat) * 0.5 + 0.5).mul(255).add(0.5).clamp(0, 255).to(torch::kUInt8);
}

void write_sample_grid(const torch::Tensor& images, int columns, const std::string& path) {
  constexpr int64_t kPad = 2;
  const auto q = quantize_images(images).contiguous();
  const int64_t n = q.size(0), size = q.size(2);
  const int64_t rows = (n + columns - 1) / columns;
  const int64_t cell = size + kPad;
  const int64_t width = columns * cell + kPad, height = rows * cell + kPad;
  auto grid = torch::zeros({height, width, 3}, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = kPad + (i / columns) * cell, x = kPad + (i % columns) * cell;
    grid.narrow(0, y, size).narrow(1, x, size).copy_(q[i].permute({1, 2, 0}));
  }
  if (!stbi_write_png(path.c_str(), int(width), int(height), 3, grid.data_ptr<uint8_t>(), int(width * 3)))
    throw std::runtime_error("cannot write sample grid " + path);
}

}  // namespace gansweep
