#include <string>

#include "trainer/data/file_io.h"
#include "trainer/data/image_set.h"
#include "trainer/data/resize.h"

namespace gansweep {
namespace {

uint32_t big_endian(const unsigned char* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

// The labels file that goes with an images file: the same name with "images-idx3" replaced
// by "labels-idx1" (train-images-idx3-ubyte.gz -> train-labels-idx1-ubyte.gz).
std::vector<int64_t> read_idx_labels(const std::string& images_file, int64_t count) {
  const auto at = images_file.rfind("images-idx3");
  if (at == std::string::npos) return {};
  std::string file = images_file;
  file.replace(at, 11, "labels-idx1");
  if (!file_exists(file)) return {};
  const auto bytes = read_file_bytes(file);
  if (bytes.size() < 8 || big_endian(bytes.data()) != 0x00000801)
    throw DataError(file + ": not an IDX label file (magic 0x801)");
  const int64_t n = big_endian(bytes.data() + 4);
  if (n < count || int64_t(bytes.size()) != 8 + n)
    throw DataError(file + ": holds " + std::to_string(n) + " labels in " + std::to_string(bytes.size()) +
                    " bytes, but " + std::to_string(count) + " images need one each (truncated or mismatched?)");
  return std::vector<int64_t>(bytes.begin() + 8, bytes.begin() + 8 + count);
}

}  // namespace

// IDX: magic 0x00000803 (unsigned bytes, 3 dimensions), then N, rows, cols (big endian), then
// the pixels. Each image is made RGB and resized to 32x32 with PIL's nearest filter, as
// 0_prepare_dataset.py did (before its JPEG re-encoding, which gansweep skips).
ImageSet read_idx(const std::string& path, int64_t limit) {
  const std::string file =
      is_directory(path) ? find_in_folder(path, {"train-images-idx3-ubyte.gz", "train-images-idx3-ubyte",
                                                 "train-images.idx3-ubyte"})
                         : path;
  const auto bytes = read_file_bytes(file);
  if (bytes.size() < 16) throw DataError(file + ": too short for an IDX header (" + std::to_string(bytes.size()) + " bytes)");
  const uint32_t magic = big_endian(bytes.data());
  if (magic == 0x00000801)
    throw DataError(file + ": this is an IDX label file (magic 0x801), not an image file (0x803)");
  if (magic != 0x00000803)
    throw DataError(file + ": bad IDX magic number " + std::to_string(magic) + " (expected 2051 = 0x803, unsigned bytes, 3 dimensions)");
  const int64_t n = big_endian(bytes.data() + 4);
  const int rows = int(big_endian(bytes.data() + 8)), cols = int(big_endian(bytes.data() + 12));
  if (rows <= 0 || cols <= 0 || rows > 4096 || cols > 4096)
    throw DataError(file + ": implausible image size " + std::to_string(rows) + "x" + std::to_string(cols));
  const int64_t expected = 16 + n * rows * cols;
  if (int64_t(bytes.size()) != expected)
    throw DataError(file + ": header says " + std::to_string(n) + " images of " + std::to_string(rows) + "x" +
                    std::to_string(cols) + " (" + std::to_string(expected) + " bytes) but the file has " +
                    std::to_string(bytes.size()) + " bytes (truncated?)");

  ImageSet set;
  set.height = set.width = 32;
  set.count = limit > 0 ? std::min(limit, n) : n;
  set.pixels.resize(size_t(set.count * set.image_bytes()));
  const int64_t plane = 32 * 32;
  for (int64_t i = 0; i < set.count; ++i) {
    Image gray{cols, rows, 1, std::vector<uint8_t>(bytes.begin() + 16 + i * rows * cols,
                                                   bytes.begin() + 16 + (i + 1) * rows * cols)};
    const Image small = resize_nearest_pil(gray, 32, 32);
    uint8_t* dst = set.image(i);
    for (int c = 0; c < 3; ++c) std::copy(small.data.begin(), small.data.end(), dst + c * plane);
  }
  set.labels = read_idx_labels(file, set.count);
  return set;
}

}  // namespace gansweep
