#include "metrics/graphdef.h"

#include <cstring>
#include <stdexcept>

namespace gansweep {
namespace {

// Protobuf wire types.
enum Wire { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

class Reader {
 public:
  Reader(const char* data, size_t size, const std::string& source) : p_(data), end_(data + size), source_(source) {}
  bool done() const { return p_ >= end_; }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      need(1);
      const uint8_t byte = uint8_t(*p_++);
      value |= uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail("varint longer than 10 bytes");
  }
  std::pair<uint32_t, int> tag() {
    const uint64_t t = varint();
    return {uint32_t(t >> 3), int(t & 7)};
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    need(n);
    std::string_view v(p_, n);
    p_ += n;
    return v;
  }
  float fixed32_float() {
    need(4);
    float f;
    std::memcpy(&f, p_, 4);  // little-endian, as protobuf
    p_ += 4;
    return f;
  }
  void skip(int wire) {
    switch (wire) {
      case kVarint: varint(); break;
      case kFixed64: need(8); p_ += 8; break;
      case kBytes: bytes(); break;
      case kFixed32: need(4); p_ += 4; break;
      default: fail("unsupported wire type " + std::to_string(wire));
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(source_ + ": not a valid GraphDef (" + what + "; truncated or another file?)");
  }

 private:
  void need(uint64_t n) const {
    if (uint64_t(end_ - p_) < n) fail("field runs past the end");
  }
  const char* p_;
  const char* end_;
  const std::string& source_;
};

Reader sub(std::string_view v, const std::string& source) { return Reader(v.data(), v.size(), source); }

struct Tensor {
  int dtype = 0;
  std::vector<int64_t> shape;
  std::string_view content;
  std::vector<float> floats;
};

Tensor parse_tensor(std::string_view bytes, const std::string& source) {
  Tensor t;
  Reader r = sub(bytes, source);
  while (!r.done()) {
    const auto [field, wire] = r.tag();
    if (field == 1 && wire == kVarint) {
      t.dtype = int(r.varint());
    } else if (field == 2 && wire == kBytes) {  // TensorShapeProto: dim = 2 {size = 1}
      Reader shape = sub(r.bytes(), source);
      while (!shape.done()) {
        const auto [f, w] = shape.tag();
        if (f != 2 || w != kBytes) {
          shape.skip(w);
          continue;
        }
        Reader dim = sub(shape.bytes(), source);
        int64_t size = 0;
        while (!dim.done()) {
          const auto [df, dw] = dim.tag();
          if (df == 1 && dw == kVarint) size = int64_t(dim.varint());
          else dim.skip(dw);
        }
        t.shape.push_back(size);
      }
    } else if (field == 4 && wire == kBytes) {
      t.content = r.bytes();
    } else if (field == 5 && wire == kBytes) {  // packed float_val
      Reader packed = sub(r.bytes(), source);
      while (!packed.done()) t.floats.push_back(packed.fixed32_float());
    } else if (field == 5 && wire == kFixed32) {
      t.floats.push_back(r.fixed32_float());
    } else {
      r.skip(wire);
    }
  }
  return t;
}

// Writers.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += char(uint8_t(v) | 0x80);
    v >>= 7;
  }
  out += char(v);
}
void put_tag(std::string& out, uint32_t field, int wire) { put_varint(out, uint64_t(field) << 3 | uint32_t(wire)); }
void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_tag(out, field, kBytes);
  put_varint(out, bytes.size());
  out += bytes;
}

std::string const_node(const std::string& name, const std::string& tensor) {
  std::string attr_value, entry, node;
  put_bytes(attr_value, 8, tensor);  // AttrValue.tensor
  put_bytes(entry, 1, "value");
  put_bytes(entry, 2, attr_value);
  put_bytes(node, 1, name);
  put_bytes(node, 2, "Const");
  put_bytes(node, 5, entry);
  return node;
}

}  // namespace

std::map<std::string, torch::Tensor> read_graphdef_constants(const std::string& bytes, const std::string& source) {
  std::map<std::string, torch::Tensor> constants;
  Reader graph(bytes.data(), bytes.size(), source);
  while (!graph.done()) {
    const auto [field, wire] = graph.tag();
    if (field != 1 || wire != kBytes) {
      graph.skip(wire);
      continue;
    }
    Reader node = sub(graph.bytes(), source);
    std::string name, op;
    std::string_view value;
    while (!node.done()) {
      const auto [f, w] = node.tag();
      if (f == 1 && w == kBytes) name = std::string(node.bytes());
      else if (f == 2 && w == kBytes) op = std::string(node.bytes());
      else if (f == 5 && w == kBytes) {  // attr map entry {key = 1, value = 2}
        Reader entry = sub(node.bytes(), source);
        std::string key;
        std::string_view attr;
        while (!entry.done()) {
          const auto [ef, ew] = entry.tag();
          if (ef == 1 && ew == kBytes) key = std::string(entry.bytes());
          else if (ef == 2 && ew == kBytes) attr = entry.bytes();
          else entry.skip(ew);
        }
        if (key == "value") value = attr;
      } else {
        node.skip(w);
      }
    }
    if (op != "Const" || value.empty()) continue;
    Reader attr = sub(value, source);
    while (!attr.done()) {
      const auto [f, w] = attr.tag();
      if (f != 8 || w != kBytes) {
        attr.skip(w);
        continue;
      }
      const Tensor t = parse_tensor(attr.bytes(), source);
      if (t.dtype != 1) break;  // DT_FLOAT only: the weights
      int64_t count = 1;
      for (int64_t d : t.shape) count *= d;
      auto out = torch::empty(t.shape, torch::kFloat);
      if (!t.content.empty()) {
        if (t.content.size() != size_t(count) * 4)
          throw std::runtime_error(source + ": Const " + name + " holds " + std::to_string(t.content.size()) +
                                   " bytes for " + std::to_string(count) + " floats");
        std::memcpy(out.data_ptr<float>(), t.content.data(), t.content.size());
      } else if (!t.floats.empty()) {
        // Fewer values than the shape holds: the last one repeats (TF's rule).
        for (int64_t i = 0; i < count; ++i)
          out.data_ptr<float>()[i] = t.floats[size_t(std::min<int64_t>(i, int64_t(t.floats.size()) - 1))];
      } else {
        out.zero_();
      }
      constants[name] = out;
    }
  }
  return constants;
}

std::string write_graphdef_constants(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                     const std::vector<std::pair<std::string, float>>& scalars) {
  std::string graph;
  auto tensor_header = [](const std::vector<int64_t>& shape) {
    std::string t, shape_proto;
    put_tag(t, 1, kVarint);
    put_varint(t, 1);  // DT_FLOAT
    for (int64_t d : shape) {
      std::string dim;
      put_tag(dim, 1, kVarint);
      put_varint(dim, uint64_t(d));
      put_bytes(shape_proto, 2, dim);
    }
    put_bytes(t, 2, shape_proto);
    return t;
  };
  for (const auto& [name, tensor] : tensors) {
    const auto c = tensor.to(torch::kFloat).contiguous();
    std::string t = tensor_header(c.sizes().vec());
    put_bytes(t, 4, std::string(static_cast<const char*>(c.data_ptr()), size_t(c.numel()) * 4));
    put_bytes(graph, 1, const_node(name, t));
  }
  for (const auto& [name, value] : scalars) {
    std::string t = tensor_header({});
    put_tag(t, 5, kFixed32);  // an unpacked float_val
    char raw[4];
    std::memcpy(raw, &value, 4);
    t.append(raw, 4);
    put_bytes(graph, 1, const_node(name, t));
  }
  return graph;
}

std::vector<std::pair<std::string, TfSource>> inception_tf_sources() {
  // Module path -> TF prefix, per shared/reference/metrics.md §1.2.
  std::vector<std::pair<std::string, std::string>> blocks = {
      {"Conv2d_1a_3x3", "conv"}, {"Conv2d_2a_3x3", "conv_1"}, {"Conv2d_2b_3x3", "conv_2"},
      {"Conv2d_3b_1x1", "conv_3"}, {"Conv2d_4a_3x3", "conv_4"}};
  const std::vector<std::pair<std::string, std::string>> a = {
      {"branch1x1", "conv"}, {"branch5x5_1", "tower/conv"}, {"branch5x5_2", "tower/conv_1"},
      {"branch3x3dbl_1", "tower_1/conv"}, {"branch3x3dbl_2", "tower_1/conv_1"}, {"branch3x3dbl_3", "tower_1/conv_2"},
      {"branch_pool", "tower_2/conv"}};
  const std::vector<std::pair<std::string, std::string>> b = {
      {"branch3x3", "conv"}, {"branch3x3dbl_1", "tower/conv"}, {"branch3x3dbl_2", "tower/conv_1"},
      {"branch3x3dbl_3", "tower/conv_2"}};
  const std::vector<std::pair<std::string, std::string>> c = {
      {"branch1x1", "conv"}, {"branch7x7_1", "tower/conv"}, {"branch7x7_2", "tower/conv_1"},
      {"branch7x7_3", "tower/conv_2"}, {"branch7x7dbl_1", "tower_1/conv"}, {"branch7x7dbl_2", "tower_1/conv_1"},
      {"branch7x7dbl_3", "tower_1/conv_2"}, {"branch7x7dbl_4", "tower_1/conv_3"}, {"branch7x7dbl_5", "tower_1/conv_4"},
      {"branch_pool", "tower_2/conv"}};
  const std::vector<std::pair<std::string, std::string>> d = {
      {"branch3x3_1", "tower/conv"}, {"branch3x3_2", "tower/conv_1"}, {"branch7x7x3_1", "tower_1/conv"},
      {"branch7x7x3_2", "tower_1/conv_1"}, {"branch7x7x3_3", "tower_1/conv_2"}, {"branch7x7x3_4", "tower_1/conv_3"}};
  const std::vector<std::pair<std::string, std::string>> e = {
      {"branch1x1", "conv"}, {"branch3x3_1", "tower/conv"}, {"branch3x3_2a", "tower/mixed/conv"},
      {"branch3x3_2b", "tower/mixed/conv_1"}, {"branch3x3dbl_1", "tower_1/conv"}, {"branch3x3dbl_2", "tower_1/conv_1"},
      {"branch3x3dbl_3a", "tower_1/mixed/conv"}, {"branch3x3dbl_3b", "tower_1/mixed/conv_1"},
      {"branch_pool", "tower_2/conv"}};
  const std::vector<std::tuple<std::string, std::string, const std::vector<std::pair<std::string, std::string>>*>>
      mixed = {{"Mixed_5b", "mixed", &a},   {"Mixed_5c", "mixed_1", &a}, {"Mixed_5d", "mixed_2", &a},
               {"Mixed_6a", "mixed_3", &b}, {"Mixed_6b", "mixed_4", &c}, {"Mixed_6c", "mixed_5", &c},
               {"Mixed_6d", "mixed_6", &c}, {"Mixed_6e", "mixed_7", &c}, {"Mixed_7a", "mixed_8", &d},
               {"Mixed_7b", "mixed_9", &e}, {"Mixed_7c", "mixed_10", &e}};
  for (const auto& [module, tf, branches] : mixed)
    for (const auto& [branch, tf_branch] : *branches) blocks.push_back({module + "." + branch, tf + "/" + tf_branch});

  std::vector<std::pair<std::string, TfSource>> sources;
  using L = TfSource::Layout;
  for (const auto& [module, tf] : blocks) {
    sources.push_back({module + ".conv.weight", {tf + "/conv2d_params", L::hwio_to_oihw}});
    sources.push_back({module + ".bn.weight", {tf + "/batchnorm/gamma", L::same}});
    sources.push_back({module + ".bn.bias", {tf + "/batchnorm/beta", L::same}});
    sources.push_back({module + ".bn.running_mean", {tf + "/batchnorm/moving_mean", L::same}});
    sources.push_back({module + ".bn.running_var", {tf + "/batchnorm/moving_variance", L::same}});
  }
  sources.push_back({"fc.weight", {"softmax/weights", L::transpose}});
  sources.push_back({"fc.bias", {"softmax/biases", L::same}});
  return sources;
}

}  // namespace gansweep
