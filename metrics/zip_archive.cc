#include "metrics/zip_archive.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <zlib.h>

namespace gansweep {
namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndOfCentral = 0x06054b50,
                   kZip64End = 0x06064b50, kZip64Locator = 0x07064b50;
constexpr uint32_t kEscape32 = 0xffffffff;  // "the value is in the Zip64 extra field"

// Little-endian fields of a byte buffer, every read bounds-checked.
class Reader {
 public:
  explicit Reader(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  uint64_t get(size_t offset, int width) const {
    if (offset + size_t(width) > bytes_.size()) throw ZipError("truncated (a record runs past the end of the file)");
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = v << 8 | bytes_[offset + size_t(i)];
    return v;
  }
  uint16_t u16(size_t offset) const { return uint16_t(get(offset, 2)); }
  uint32_t u32(size_t offset) const { return uint32_t(get(offset, 4)); }
  uint64_t u64(size_t offset) const { return get(offset, 8); }
  size_t size() const { return bytes_.size(); }
  const uint8_t* at(size_t offset, uint64_t length) const {
    if (offset > bytes_.size() || length > bytes_.size() - offset)
      throw ZipError("truncated (a member runs past the end of the file)");
    return bytes_.data() + offset;
  }

 private:
  const std::vector<uint8_t>& bytes_;
};

std::vector<uint8_t> inflate_raw(const uint8_t* data, uint64_t size, uint64_t expected, const std::string& name) {
  std::vector<uint8_t> out(expected);
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw ZipError("zlib cannot start inflating");
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = uInt(size);
  z.next_out = out.data();
  z.avail_out = uInt(expected);
  const int status = inflate(&z, Z_FINISH);
  const uint64_t produced = z.total_out;
  inflateEnd(&z);
  if (status != Z_STREAM_END || produced != expected)
    throw ZipError("member " + name + " is corrupt (its deflate stream does not give " + std::to_string(expected) +
                   " bytes)");
  return out;
}

void put(std::vector<uint8_t>& out, uint64_t v, int width) {
  for (int i = 0; i < width; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

}  // namespace

std::vector<ZipMember> read_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ZipError("cannot open");
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Reader r(bytes);

  // The end-of-central-directory record is the last 22 bytes plus a comment of up to 64 KiB.
  if (bytes.size() < 22) throw ZipError("not a zip archive (too short)");
  size_t end = bytes.size() - 22;
  const size_t lowest = bytes.size() > 22 + 65535 ? bytes.size() - 22 - 65535 : 0;
  while (r.u32(end) != kEndOfCentral) {
    if (end == lowest)
      throw ZipError(r.u32(0) == kLocalHeader ? "truncated (a zip archive without its end of central directory)"
                                              : "not a zip archive (no end of central directory)");
    --end;
  }
  uint64_t entries = r.u16(end + 10), directory = r.u32(end + 16);
  if (entries == 0xffff || directory == kEscape32) {
    if (end < 20 || r.u32(end - 20) != kZip64Locator) throw ZipError("corrupt Zip64 end of central directory");
    const size_t end64 = size_t(r.u64(end - 20 + 8));
    if (r.u32(end64) != kZip64End) throw ZipError("corrupt Zip64 end of central directory");
    entries = r.u64(end64 + 32);
    directory = r.u64(end64 + 48);
  }

  std::vector<ZipMember> members;
  size_t p = size_t(directory);
  for (uint64_t i = 0; i < entries; ++i) {
    if (r.u32(p) != kCentralHeader) throw ZipError("corrupt central directory (entry " + std::to_string(i) + ")");
    const uint16_t flags = r.u16(p + 8), method = r.u16(p + 10);
    const uint32_t crc = r.u32(p + 16);
    uint64_t packed = r.u32(p + 20), size = r.u32(p + 24);
    const uint16_t name_length = r.u16(p + 28), extra_length = r.u16(p + 30), comment_length = r.u16(p + 32);
    uint64_t local = r.u32(p + 42);
    const uint8_t* name_bytes = r.at(p + 46, name_length);
    const std::string name(name_bytes, name_bytes + name_length);
    // Zip64 extra field (tag 1): the 8-byte values of the escaped fields, in this order.
    for (size_t e = p + 46 + name_length; e + 4 <= p + 46 + name_length + extra_length;) {
      const uint16_t tag = r.u16(e), length = r.u16(e + 2);
      if (tag == 1) {
        size_t v = e + 4;
        for (uint64_t* field : {&size, &packed, &local})
          if (*field == kEscape32) *field = r.u64(v), v += 8;
      }
      e += 4 + size_t(length);
    }
    p += 46 + size_t(name_length) + extra_length + comment_length;

    if (flags & 1) throw ZipError("member " + name + " is encrypted");
    if (r.u32(size_t(local)) != kLocalHeader) throw ZipError("member " + name + " has no local header (corrupt)");
    const size_t data = size_t(local) + 30 + r.u16(size_t(local) + 26) + r.u16(size_t(local) + 28);
    const uint8_t* raw = r.at(data, packed);
    ZipMember member{name, {}};
    if (method == 0) {
      if (packed != size) throw ZipError("member " + name + " is corrupt (stored sizes disagree)");
      member.bytes.assign(raw, raw + packed);
    } else if (method == 8) {
      member.bytes = inflate_raw(raw, packed, size, name);
    } else {
      throw ZipError("member " + name + " uses compression method " + std::to_string(method) +
                     " (only stored and deflated are supported)");
    }
    if (crc32(0, member.bytes.data(), uInt(member.bytes.size())) != crc)
      throw ZipError("member " + name + " is corrupt (CRC-32 mismatch)");
    members.push_back(std::move(member));
  }
  return members;
}

void write_zip(const std::string& path, const std::vector<ZipMember>& members) {
  std::vector<uint8_t> out, directory;
  for (const auto& m : members) {
    if (m.bytes.size() >= kEscape32 || out.size() >= kEscape32 || m.name.size() > 0xffff)
      throw ZipError("member " + m.name + " is too large for a zip without Zip64");
    const uint32_t crc = uint32_t(crc32(0, m.bytes.data(), uInt(m.bytes.size())));
    const uint64_t offset = out.size();
    // Version 2.0, no flags, stored, 1980-01-01 00:00 (a fixed time: the same arrays give the same file).
    const auto common = [&](std::vector<uint8_t>& b) {
      put(b, 20, 2), put(b, 0, 2), put(b, 0, 2), put(b, 0, 2), put(b, 0x21, 2);
      put(b, crc, 4), put(b, m.bytes.size(), 4), put(b, m.bytes.size(), 4), put(b, m.name.size(), 2), put(b, 0, 2);
    };
    put(out, kLocalHeader, 4);
    common(out);
    out.insert(out.end(), m.name.begin(), m.name.end());
    out.insert(out.end(), m.bytes.begin(), m.bytes.end());

    put(directory, kCentralHeader, 4);
    put(directory, 20, 2);  // made by: version 2.0
    common(directory);
    put(directory, 0, 2), put(directory, 0, 2), put(directory, 0, 2), put(directory, 0, 4);  // comment, disk, attributes
    put(directory, offset, 4);
    directory.insert(directory.end(), m.name.begin(), m.name.end());
  }
  if (out.size() + directory.size() >= kEscape32 || members.size() >= 0xffff)
    throw ZipError("archive too large for a zip without Zip64");
  const uint64_t directory_offset = out.size();
  out.insert(out.end(), directory.begin(), directory.end());
  put(out, kEndOfCentral, 4), put(out, 0, 2), put(out, 0, 2);
  put(out, members.size(), 2), put(out, members.size(), 2);
  put(out, directory.size(), 4), put(out, directory_offset, 4), put(out, 0, 2);

  const std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file.write(reinterpret_cast<const char*>(out.data()), std::streamsize(out.size()));
    if (!file.flush()) {
      std::remove(temporary.c_str());
      throw ZipError("cannot write " + temporary);
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) throw ZipError("cannot rename " + temporary + " to " + path + ": " + error.message());
}

}  // namespace gansweep
