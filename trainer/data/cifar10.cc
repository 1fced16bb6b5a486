#include <string>

#include "trainer/data/file_io.h"
#include "trainer/data/image_set.h"

namespace gansweep {

// Each record: 1 label byte, then 1024 R, 1024 G, 1024 B bytes (32x32 row-major): already NCHW.
ImageSet read_cifar10(const std::string& path, int64_t limit) {
  constexpr int64_t kRecord = 1 + 3 * 32 * 32;
  std::vector<std::string> files;
  if (is_directory(path)) {
    for (int i = 1; i <= 5; ++i)
      files.push_back(find_in_folder(path, {"data_batch_" + std::to_string(i) + ".bin"}));
  } else {
    files.push_back(path);
  }
  ImageSet set;
  set.height = set.width = 32;
  for (const auto& file : files) {
    const auto bytes = read_file_bytes(file);
    if (bytes.empty() || bytes.size() % kRecord != 0)
      throw DataError(file + ": size " + std::to_string(bytes.size()) +
                      " is not a multiple of the CIFAR-10 record size 3073 (truncated or not a CIFAR-10 binary batch)");
    const int64_t n = int64_t(bytes.size()) / kRecord;
    for (int64_t i = 0; i < n; ++i) {
      const unsigned char label = bytes[size_t(i * kRecord)];
      if (label > 9)
        throw DataError(file + ": record " + std::to_string(i) + " has label " + std::to_string(label) +
                        " (CIFAR-10 labels are 0-9; is this the CIFAR-100 format?)");
      const auto* img = bytes.data() + i * kRecord + 1;
      set.pixels.insert(set.pixels.end(), img, img + kRecord - 1);
      set.labels.push_back(label);
      ++set.count;
      if (limit > 0 && set.count >= limit) return set;
    }
  }
  return set;
}

}  // namespace gansweep
