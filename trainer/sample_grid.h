#pragma once

#include <string>

#include <torch/torch.h>

namespace gansweep {

// Writes images in [-1, 1] of shape (N, 3, S, S) as one PNG grid, `columns` wide, with
// torchvision's make_grid layout (2 px black padding) and save_image's quantization
// uint8(clamp(255·(x·0.5+0.5) + 0.5, 0, 255)). Throws std::runtime_error on a write failure.
void write_sample_grid(const torch::Tensor& images, int columns, const std::string& path);

// save_image's quantization of images in [-1, 1] to uint8, (N, 3, S, S).
torch::Tensor quantize_images(const torch::Tensor& images);

}  // namespace gansweep
