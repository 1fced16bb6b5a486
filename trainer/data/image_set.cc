#include "trainer/data/image_set.h"

namespace gansweep {

void ImageSet::truncate(int64_t limit) {
  if (limit <= 0 || limit >= count) return;
  count = limit;
  pixels.resize(size_t(count * image_bytes()));
  pixels.shrink_to_fit();
  if (!labels.empty()) labels.resize(size_t(count));
}

int image_size_for(const DatasetSpec& spec) {
  switch (spec.format) {
    case DatasetFormat::cifar10:
    case DatasetFormat::idx:
      return 32;
    case DatasetFormat::stl10:
      return 48;
    case DatasetFormat::cat:
      return 64;
    case DatasetFormat::synthetic:
      return spec.image_size;
  }
  return 0;
}

ImageSet load_dataset(const DatasetSpec& spec, uint64_t seed) {
  switch (spec.format) {
    case DatasetFormat::cifar10:
      return read_cifar10(spec.path, spec.limit);
    case DatasetFormat::idx:
      return read_idx(spec.path, spec.limit);
    case DatasetFormat::stl10:
      return read_stl10(spec.path, spec.limit);
    case DatasetFormat::cat:
      return read_cat(spec.path, spec.limit);
    case DatasetFormat::synthetic: {
      const int64_t n = spec.limit > 0 ? std::min(spec.limit, spec.synthetic_count) : spec.synthetic_count;
      return make_synthetic(spec.image_size, n, seed);
    }
  }
  throw DataError("unknown dataset format");
}

}  // namespace gansweep
