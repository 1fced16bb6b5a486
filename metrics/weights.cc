#include "metrics/weights.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

#include "metrics/graphdef.h"
#include "trainer/contract/sha256.h"

namespace gansweep {
namespace {

std::string_view as_view(const std::vector<char>& bytes) { return {bytes.data(), bytes.size()}; }

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw WeightsError(path + ": cannot open the Inception weights file");
  return {std::istreambuf_iterator<char>(in), {}};
}


// Every tensor the state dict holds, by pytorch-fid's names.
std::vector<std::pair<std::string, torch::Tensor>> named_state(const FidInceptionImpl& net) {
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (const auto& p : net.named_parameters()) state.emplace_back(p.key(), p.value());
  for (const auto& b : net.named_buffers())
    if (b.key().find("num_batches_tracked") == std::string::npos) state.emplace_back(b.key(), b.value());
  return state;
}

}  // namespace

std::string sha256_file(const std::string& path) { return sha256_hex(as_view(read_all(path))); }

namespace {

// pytorch-fid's state dict from a zip-format torch.save of a plain dict.
std::map<std::string, torch::Tensor> read_state_dict(const std::vector<char>& bytes, const std::string& path) {
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const c10::Error& e) {
    throw WeightsError(path + ": unreadable state dict (truncated, or an OrderedDict; re-save it as a plain dict): " +
                       e.what_without_backtrace());
  }
  if (!value.isGenericDict()) throw WeightsError(path + ": holds no dict of tensors");
  std::map<std::string, torch::Tensor> state;
  for (const auto& entry : value.toGenericDict())
    if (entry.key().isString() && entry.value().isTensor()) state[entry.key().toStringRef()] = entry.value().toTensor();
  return state;
}

// The same state dict from the TF graph's Consts, re-laid out as pytorch-fid's converter does.
std::map<std::string, torch::Tensor> read_graphdef_state(const std::vector<char>& bytes, const std::string& path) {
  std::map<std::string, torch::Tensor> constants;
  try {
    constants = read_graphdef_constants(std::string(bytes.begin(), bytes.end()), path);
  } catch (const std::runtime_error& e) {
    throw WeightsError(e.what());
  }
  std::map<std::string, torch::Tensor> state;
  for (const auto& [key, source] : inception_tf_sources()) {
    const auto it = constants.find(source.tf_name);
    if (it == constants.end())
      throw WeightsError(path + ": missing Const '" + source.tf_name + "' (not the inception-2015-12-05 graph?)");
    const auto& t = it->second;
    using L = TfSource::Layout;
    if (source.layout == L::hwio_to_oihw && t.dim() != 4)
      throw WeightsError(path + ": Const '" + source.tf_name + "' is not a 4-D convolution kernel");
    state[key] = source.layout == L::hwio_to_oihw ? t.permute({3, 2, 0, 1})
                 : source.layout == L::transpose  ? t.t()
                                                  : t;
  }
  return state;
}

}  // namespace

void load_inception_weights(FidInceptionImpl& net, const std::string& path, const std::string& expected_sha256) {
  const auto bytes = read_all(path);
  if (!expected_sha256.empty()) {
    const std::string actual = sha256_hex(as_view(bytes));
    if (actual.compare(0, expected_sha256.size(), expected_sha256) != 0)
      throw WeightsError(path + ": SHA-256 " + actual + " does not match the expected " + expected_sha256 +
                         " (a different or damaged file)");
  }
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x80 && bytes[1] == 0x02)
    throw WeightsError(path + ": a legacy (non-zip) torch.save file, which LibTorch cannot read. Convert it once with "
                              "python3 -c \"import torch; torch.save(dict(torch.load('" + path +
                       "')), 'inception-fid.pth')\" and use inception-fid.pth, or give the TF graph "
                       "classify_image_graph_def.pb itself");
  if (bytes.size() < 4) throw WeightsError(path + ": too short for a weights file (" + std::to_string(bytes.size()) + " bytes)");
  // A zip (torch.save) starts with "PK"; anything else is read as a GraphDef (field 1: nodes).
  const auto state = bytes[0] == 'P' && bytes[1] == 'K' ? read_state_dict(bytes, path) : read_graphdef_state(bytes, path);
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : named_state(net)) {
    const auto it = state.find(name);
    if (it == state.end()) throw WeightsError(path + ": missing tensor '" + name + "'");
    if (it->second.sizes() != tensor.sizes())
      throw WeightsError(path + ": tensor '" + name + "' has shape " + c10::str(it->second.sizes()) + ", expected " +
                         c10::str(tensor.sizes()));
    tensor.copy_(it->second);
  }
}

void save_inception_graphdef(const FidInceptionImpl& net, const std::string& path) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& [name, tensor] : named_state(net)) state[name] = tensor.detach();
  std::vector<std::pair<std::string, torch::Tensor>> constants;
  for (const auto& [key, source] : inception_tf_sources()) {
    const auto& t = state.at(key);
    using L = TfSource::Layout;
    constants.push_back({source.tf_name, source.layout == L::hwio_to_oihw ? t.permute({2, 3, 1, 0})
                                         : source.layout == L::transpose  ? t.t()
                                                                          : t});
  }
  // The graph's own preprocessing constants, stored as float_val like TF's small Consts.
  const std::string bytes = write_graphdef_constants(constants, {{"Sub/y", 128.0f}, {"Mul/y", 0.0078125f}});
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) throw WeightsError(path + ": cannot write");
}

void save_inception_weights(const FidInceptionImpl& net, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : named_state(net)) dict.insert(name, tensor.detach().clone());
  const auto bytes = torch::pickle_save(dict);
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) throw WeightsError(path + ": cannot write");
}

void randomize_inception(FidInceptionImpl& net, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : named_state(net)) {
    auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with("conv.weight") || ends_with("fc.weight")) {
      const double fan_in = double(tensor[0].numel());
      tensor.copy_(torch::randn(tensor.sizes(), gen) * std::sqrt(2.0 / fan_in));
    } else if (ends_with("running_var")) {
      tensor.copy_(torch::rand(tensor.sizes(), gen) + 0.5);
    } else if (ends_with("bn.weight")) {
      tensor.copy_(torch::rand(tensor.sizes(), gen) * 0.5 + 0.75);
    } else {  // bn.bias, running_mean, fc.bias
      tensor.copy_(torch::randn(tensor.sizes(), gen) * 0.1);
    }
  }
}

}  // namespace gansweep
