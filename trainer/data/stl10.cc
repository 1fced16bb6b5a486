#include <filesystem>
#include <string>

#include "trainer/data/file_io.h"
#include "trainer/data/image_set.h"
#include "trainer/data/resize.h"

namespace gansweep {

// train_X.bin: 96x96x3 uint8 images, each stored channel by channel and column-major
// (MATLAB order), no header. Resized to 48x48 with PIL's antialiased bilinear filter.
ImageSet read_stl10(const std::string& path, int64_t limit) {
  constexpr int kIn = 96, kOut = 48;
  constexpr int64_t kImage = int64_t{3} * kIn * kIn;
  const std::string file = is_directory(path) ? find_in_folder(path, {"train_X.bin"}) : path;
  const auto bytes = read_file_bytes(file);
  if (bytes.empty() || bytes.size() % kImage != 0)
    throw DataError(file + ": size " + std::to_string(bytes.size()) +
                    " is not a multiple of one 96x96x3 STL-10 image (27648 bytes; truncated?)");
  const int64_t n = int64_t(bytes.size()) / kImage;
  ImageSet set;
  set.height = set.width = kOut;
  set.count = limit > 0 ? std::min(limit, n) : n;
  set.pixels.resize(size_t(set.count * set.image_bytes()));
  for (int64_t i = 0; i < set.count; ++i) {
    const unsigned char* src = bytes.data() + i * kImage;
    Image img{kIn, kIn, 3, std::vector<uint8_t>(size_t(kImage))};
    for (int c = 0; c < 3; ++c)
      for (int x = 0; x < kIn; ++x)
        for (int y = 0; y < kIn; ++y) img.at(x, y, c) = src[(c * kIn + x) * kIn + y];
    const Image small = resize_bilinear_pil(img, kOut, kOut);
    uint8_t* dst = set.image(i);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < kOut; ++y)
        for (int x = 0; x < kOut; ++x) dst[(c * kOut + y) * kOut + x] = small.at(x, y, c);
  }
  // train_y.bin: one byte per image, classes 1-10.
  const std::string label_file = (std::filesystem::path(file).parent_path() / "train_y.bin").string();
  if (file_exists(label_file)) {
    const auto labels = read_file_bytes(label_file);
    if (int64_t(labels.size()) != n)
      throw DataError(label_file + ": " + std::to_string(labels.size()) + " labels for " + std::to_string(n) + " images");
    for (int64_t i = 0; i < set.count; ++i) set.labels.push_back(int64_t(labels[size_t(i)]) - 1);
  }
  return set;
}

}  // namespace gansweep
