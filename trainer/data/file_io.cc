#include "trainer/data/file_io.h"

#include <filesystem>
#include <fstream>

#include <zlib.h>

#include "trainer/data/image_set.h"

namespace gansweep {

namespace fs = std::filesystem;

std::vector<unsigned char> read_file_bytes(const std::string& path) {
  if (!fs::is_regular_file(path)) throw DataError(path + ": no such file");
  std::vector<unsigned char> bytes;
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    gzFile gz = gzopen(path.c_str(), "rb");
    if (!gz) throw DataError(path + ": cannot open");
    unsigned char buf[1 << 16];
    int n;
    while ((n = gzread(gz, buf, sizeof buf)) > 0) bytes.insert(bytes.end(), buf, buf + n);
    int err = 0;
    const char* msg = gzerror(gz, &err);
    const bool bad = n < 0 || (err != Z_OK && err != Z_STREAM_END);
    const std::string why = bad ? msg : "";
    gzclose(gz);
    if (bad) throw DataError(path + ": corrupt gzip stream (" + why + ")");
    return bytes;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open");
  bytes.assign(std::istreambuf_iterator<char>(in), {});
  return bytes;
}

bool is_directory(const std::string& path) { return fs::is_directory(path); }
bool file_exists(const std::string& path) { return fs::exists(path); }

std::string find_in_folder(const std::string& folder, const std::vector<std::string>& names) {
  std::string tried;
  for (const auto& n : names) {
    const fs::path p = fs::path(folder) / n;
    if (fs::is_regular_file(p)) return p.string();
    tried += (tried.empty() ? "" : ", ") + n;
  }
  throw DataError(folder + ": none of " + tried + " found");
}

}  // namespace gansweep
