// Writers of small dataset files in the real formats, for the tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gansweep::testing {

std::string temp_dir(const std::string& name);  // a fresh, empty folder under the build's temp
void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes);
void write_gzip(const std::string& path, const std::vector<unsigned char>& bytes);
// IDX3 unsigned-byte images: pixel (i, y, x) = f(i, y, x).
std::vector<unsigned char> idx_images(int count, int rows, int cols, int (*pixel)(int, int, int));
// CIFAR-10 binary records with the given labels; pixel (i, c, y, x) = (i + c * 7 + y * 3 + x) % 256.
std::vector<unsigned char> cifar_records(const std::vector<int>& labels);

}  // namespace gansweep::testing
