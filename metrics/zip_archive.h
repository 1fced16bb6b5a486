// Zip archives as .npz files use them (PKWARE APPNOTE.TXT): reading stored and deflated
// members, Zip64 included (numpy.savez writes every member with Zip64 extra fields), and
// writing stored members. Written here on top of zlib so the compute plane needs no libzip
// (GPU machines have no development packages, docs/gpu.md).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace gansweep {

class ZipError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ZipMember {
  std::string name;
  std::vector<uint8_t> bytes;
};

// Every member, in the central directory's order, each checked against its CRC-32. Throws
// ZipError saying what is wrong (not a zip, truncated, corrupt member, unsupported method).
std::vector<ZipMember> read_zip(const std::string& path);

// Writes the members uncompressed (as numpy.savez) to a temporary file, then renames it over
// `path`, so a failed write never leaves half a file in its place.
void write_zip(const std::string& path, const std::vector<ZipMember>& members);

}  // namespace gansweep
