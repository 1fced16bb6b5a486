// Datasets as the trainer holds them: uint8 RGB images, NCHW, all the same size, in memory.
// Readers validate their input and throw DataError naming the file and the problem.
// Torch-free: the readers compile fast and are tested without LibTorch.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainer/contract/job_spec.h"

namespace gansweep {

class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ImageSet {
  int64_t count = 0;
  int channels = 3;
  int height = 0, width = 0;
  std::vector<uint8_t> pixels;  // count * channels * height * width, NCHW
  std::vector<int64_t> labels;  // class of each image when the dataset has labels, else empty

  int64_t image_bytes() const { return int64_t{channels} * height * width; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_bytes(); }
  uint8_t* image(int64_t i) { return pixels.data() + i * image_bytes(); }
  void truncate(int64_t limit);  // keep the first `limit` images (0 = all)
};

// The image side length each dataset trains at (the paper's architecture choice).
int image_size_for(const DatasetSpec& spec);

// Reads the dataset a job names, at its training size, limited to spec.limit images.
ImageSet load_dataset(const DatasetSpec& spec, uint64_t seed);

// CIFAR-10 binary version: a folder with data_batch_1..5.bin, or one batch file.
ImageSet read_cifar10(const std::string& path, int64_t limit);
// MNIST-format IDX images (MNIST, Fashion-MNIST), plain or .gz: a file, or a folder with
// train-images-idx3-ubyte[.gz]. Made 32x32 RGB by nearest resize, as the paper's preparation.
// Labels come from the matching ...-labels-idx1-ubyte[.gz] next to the images, when present.
ImageSet read_idx(const std::string& path, int64_t limit);
// STL-10 binary: train_X.bin (5,000 labeled 96x96 images) or a folder with it; resized to
// 48x48 by antialiased bilinear (PIL), as torchvision's Resize did for the paper. Labels
// from train_y.bin next to it, when present.
ImageSet read_stl10(const std::string& path, int64_t limit);
// CAT: a folder of images. Images with a `.cat` annotation next to them are rotated, cropped
// and resized to 64x64 per AlexiaJM's preprocess_cat_dataset.py (crops under 64 px dropped);
// images without one are taken as ready crops and resized to 64x64.
ImageSet read_cat(const std::string& path, int64_t limit);
// Seeded procedural images (smooth gradients and discs), for tests and smoke sweeps.
ImageSet make_synthetic(int size, int64_t count, uint64_t seed);

}  // namespace gansweep
