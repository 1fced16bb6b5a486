#include "metrics/npz.h"

#include <cstring>
#include <regex>
#include <vector>

#include "metrics/zip_archive.h"

namespace gansweep {
namespace {

const char kMagic[] = "\x93NUMPY";

struct Dtype {
  const char* descr;
  at::ScalarType type;
  size_t bytes;
};
constexpr Dtype kDtypes[] = {{"<f8", at::kDouble, 8}, {"<f4", at::kFloat, 4}, {"<i8", at::kLong, 8}, {"<i4", at::kInt, 4}};

// One .npy member: magic, version, header length, a Python-literal dict, then the data.
at::Tensor parse_npy(const std::vector<uint8_t>& bytes, const std::string& where) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0) throw NpzError(where + ": not a .npy array");
  const int major = bytes[6];
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = bytes[8] | size_t(bytes[9]) << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw NpzError(where + ": truncated header");
    header_len = bytes[8] | size_t(bytes[9]) << 8 | size_t(bytes[10]) << 16 | size_t(bytes[11]) << 24;
    offset = 12;
  } else {
    throw NpzError(where + ": unsupported .npy version " + std::to_string(major));
  }
  if (offset + header_len > bytes.size()) throw NpzError(where + ": truncated header");
  const std::string header(bytes.begin() + long(offset), bytes.begin() + long(offset + header_len));
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'")))
    throw NpzError(where + ": header has no descr");
  const std::string descr = m[1];
  const Dtype* dtype = nullptr;
  for (const auto& d : kDtypes)
    if (descr == d.descr) dtype = &d;
  if (!dtype) throw NpzError(where + ": unsupported dtype '" + descr + "' (float64, float32, int64, int32)");
  const bool fortran = std::regex_search(header, std::regex("'fortran_order':\\s*True"));
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) throw NpzError(where + ": header has no shape");
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  const std::regex number("\\d+");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it)
    shape.push_back(std::stoll(it->str()));
  int64_t count = 1;
  for (int64_t s : shape) count *= s;
  const size_t data_offset = offset + header_len;
  if (bytes.size() - data_offset != size_t(count) * dtype->bytes)
    throw NpzError(where + ": holds " + std::to_string(bytes.size() - data_offset) + " data bytes, the header says " +
                   std::to_string(size_t(count) * dtype->bytes) + " (truncated?)");
  if (!fortran) {
    auto t = at::empty(shape, dtype->type);
    std::memcpy(t.data_ptr(), bytes.data() + data_offset, size_t(count) * dtype->bytes);
    return t;
  }
  // Fortran order: the data is the C-order array of the reversed shape, transposed.
  std::vector<int64_t> reversed(shape.rbegin(), shape.rend());
  auto t = at::empty(reversed, dtype->type);
  std::memcpy(t.data_ptr(), bytes.data() + data_offset, size_t(count) * dtype->bytes);
  std::vector<int64_t> order;
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) order.push_back(i);
  return t.permute(order).contiguous();
}

std::vector<uint8_t> make_npy(const at::Tensor& array, const std::string& name) {
  const at::Tensor t = array.contiguous();
  const Dtype* dtype = nullptr;
  for (const auto& d : kDtypes)
    if (t.scalar_type() == d.type) dtype = &d;
  if (!dtype) throw NpzError("write_npz: array '" + name + "' has an unsupported dtype");
  // A Python tuple: (), (2048,) or (2048, 2048).
  std::string shape;
  for (int64_t i = 0; i < t.dim(); ++i) shape += (i ? ", " : "") + std::to_string(t.size(i));
  if (t.dim() == 1) shape += ",";
  std::string header = std::string("{'descr': '") + dtype->descr + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Pad with spaces so the data starts at a multiple of 64, ending the header with '\n'.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::vector<uint8_t> out(kMagic, kMagic + 6);
  out.push_back(1);
  out.push_back(0);
  out.push_back(uint8_t(header.size() & 0xff));
  out.push_back(uint8_t(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  const auto* data = static_cast<const uint8_t*>(t.data_ptr());
  out.insert(out.end(), data, data + t.numel() * int64_t(dtype->bytes));
  return out;
}

}  // namespace

std::map<std::string, at::Tensor> read_npz(const std::string& path) {
  std::vector<ZipMember> members;
  try {
    members = read_zip(path);
  } catch (const ZipError& e) {
    throw NpzError(path + ": cannot read as .npz: " + e.what());
  }
  std::map<std::string, at::Tensor> arrays;
  for (auto& member : members) {
    std::string name = member.name;
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".npy") != 0) continue;
    name.resize(name.size() - 4);
    arrays[name] = parse_npy(member.bytes, path + ": " + name);
  }
  return arrays;
}

void write_npz(const std::string& path, const std::map<std::string, at::Tensor>& arrays) {
  std::vector<ZipMember> members;
  for (const auto& [name, array] : arrays) members.push_back({name + ".npy", make_npy(array, name)});
  try {
    write_zip(path, members);
  } catch (const ZipError& e) {
    throw NpzError(path + ": " + e.what());
  }
}

FeatureStats read_stats_npz(const std::string& path) {
  const auto arrays = read_npz(path);
  for (const char* key : {"mu", "sigma"})
    if (!arrays.count(key)) throw NpzError(path + ": no '" + key + "' array (not an FID statistics file?)");
  FeatureStats s{arrays.at("mu").to(at::kDouble).flatten(), arrays.at("sigma").to(at::kDouble), 0};
  const int64_t d = s.mu.numel();
  if (s.sigma.dim() != 2 || s.sigma.size(0) != d || s.sigma.size(1) != d)
    throw NpzError(path + ": sigma must be " + std::to_string(d) + "x" + std::to_string(d) + " to match mu");
  return s;
}

void write_stats_npz(const std::string& path, const FeatureStats& stats) {
  write_npz(path, {{"mu", stats.mu.to(at::kDouble)}, {"sigma", stats.sigma.to(at::kDouble)}});
}

}  // namespace gansweep
