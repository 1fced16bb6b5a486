#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <stb/stb_image.h>

#include "trainer/data/file_io.h"
#include "trainer/data/image_set.h"
#include "trainer/data/resize.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;
constexpr int kSize = 64;

Image decode(const std::string& file) {
  int w = 0, h = 0, c = 0;
  unsigned char* data = stbi_load(file.c_str(), &w, &h, &c, 3);
  if (!data) throw DataError(file + ": cannot decode image (" + stbi_failure_reason() + ")");
  Image img{w, h, 3, std::vector<uint8_t>(data, data + size_t(w) * h * 3)};
  stbi_image_free(data);
  return img;
}

// `<image>.cat`: "9 x0 y0 ... x8 y8" (left eye, right eye, mouth, left ear 1-3, right ear 1-3).
std::vector<double> read_annotation(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw DataError(file + ": cannot open annotation");
  int count = 0;
  if (!(in >> count) || count != 9) throw DataError(file + ": annotation must start with the point count 9");
  std::vector<double> coords(18);
  for (int i = 0; i < 18; ++i)
    if (!(in >> coords[size_t(i)]))
      throw DataError(file + ": annotation has fewer than 9 points (value " + std::to_string(i + 1) + " missing)");
  return coords;
}

// preprocessCatFace of AlexiaJM's preprocess_cat_dataset.py: level the eyes, then cut a box
// whose width is the ear span, with the eye midpoint at (0.5, 0.4). Returns an empty image
// when the crop is under 64 px on a side (the script's size filter).
Image crop_cat_face(const Image& img, std::vector<double> p) {
  double lex = p[0], ley = p[1], rex = p[2], rey = p[3];
  if (lex > rex && ley < rey && p[4] > rex) {  // swap eyes
    std::swap(lex, rex);
    std::swap(ley, rey);
    std::swap(p[0], p[2]);
    std::swap(p[1], p[3]);
  }
  const double cx = (lex + rex) / 2, cy = (ley + rey) / 2;
  const double angle = std::atan2(rey - ley, rex - lex);
  // cv2.getRotationMatrix2D(center, degrees(angle), 1.0)
  const double a = std::cos(angle), b = std::sin(angle);
  const double m[6] = {a, b, (1 - a) * cx - b * cy, -b, a, b * cx + (1 - a) * cy};
  const Image rotated = warp_affine_cv(img, m, 128);
  // The coordinates rotate by -angle about the centre (image y points down).
  auto rotate_x = [&](double x, double y) { return (x - cx) * std::cos(-angle) - (y - cy) * std::sin(-angle) + cx; };
  double w = std::fabs(rotate_x(p[16], p[17]) - rotate_x(p[6], p[7]));
  double h = w;
  double min_x = cx - w / 2;
  if (min_x < 0) { w += min_x; min_x = 0; }
  double min_y = cy - 2 * h / 5;
  if (min_y < 0) { h += min_y; min_y = 0; }
  // numpy slicing img[int(minY):int(minY+h), int(minX):int(minX+w)] clips at the far edges.
  const int y0 = int(min_y), y1 = std::min(int(min_y + h), rotated.height);
  const int x0 = int(min_x), x1 = std::min(int(min_x + w), rotated.width);
  if (y1 - y0 < kSize || x1 - x0 < kSize) return {};
  Image crop{x1 - x0, y1 - y0, 3, std::vector<uint8_t>(size_t(x1 - x0) * (y1 - y0) * 3)};
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x)
      for (int c = 0; c < 3; ++c) crop.at(x - x0, y - y0, c) = rotated.at(x, y, c);
  return resize_linear_cv(crop, kSize, kSize);
}

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

}  // namespace

ImageSet read_cat(const std::string& path, int64_t limit) {
  if (!is_directory(path)) throw DataError(path + ": the CAT dataset must be a folder of images");
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(path))
    if (entry.is_regular_file() && is_image_name(entry.path())) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw DataError(path + ": no .jpg/.png images found");

  ImageSet set;
  set.height = set.width = kSize;
  const int64_t plane = kSize * kSize;
  for (const auto& file : files) {
    const Image img = decode(file.string());
    const std::string annotation = file.string() + ".cat";
    const Image face = file_exists(annotation) ? crop_cat_face(img, read_annotation(annotation))
                       : (img.width == kSize && img.height == kSize) ? img
                                                                    : resize_linear_cv(img, kSize, kSize);
    if (face.data.empty()) continue;
    set.pixels.resize(size_t((set.count + 1) * set.image_bytes()));
    uint8_t* dst = set.image(set.count);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x) dst[c * plane + y * kSize + x] = face.at(x, y, c);
    ++set.count;
    if (limit > 0 && set.count >= limit) break;
  }
  if (set.count == 0) throw DataError(path + ": no cat face of at least 64x64 pixels after cropping");
  return set;
}

}  // namespace gansweep
