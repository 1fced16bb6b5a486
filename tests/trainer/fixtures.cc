#include "fixtures.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <zlib.h>

namespace gansweep::testing {

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("gansweep-test-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

void write_gzip(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  if (!gz || gzwrite(gz, bytes.data(), unsigned(bytes.size())) != int(bytes.size()))
    throw std::runtime_error("cannot write " + path);
  gzclose(gz);
}

std::vector<unsigned char> idx_images(int count, int rows, int cols, int (*pixel)(int, int, int)) {
  std::vector<unsigned char> b = {0, 0, 8, 3};
  for (int v : {count, rows, cols})
    for (int shift : {24, 16, 8, 0}) b.push_back((unsigned char)((v >> shift) & 0xff));
  for (int i = 0; i < count; ++i)
    for (int y = 0; y < rows; ++y)
      for (int x = 0; x < cols; ++x) b.push_back((unsigned char)pixel(i, y, x));
  return b;
}

std::vector<unsigned char> cifar_records(const std::vector<int>& labels) {
  std::vector<unsigned char> b;
  for (size_t i = 0; i < labels.size(); ++i) {
    b.push_back((unsigned char)labels[i]);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) b.push_back((unsigned char)((int(i) + c * 7 + y * 3 + x) % 256));
  }
  return b;
}

}  // namespace gansweep::testing
