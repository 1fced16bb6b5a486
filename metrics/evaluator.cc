#include "metrics/evaluator.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "metrics/npz.h"
#include "metrics/weights.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kKidFeatures = 10000;  // real features kept for KID

}  // namespace

InceptionBackbone::InceptionBackbone(const InceptionConfig& config) : config_(config) {
  load_inception_weights(*net_, config.weights, config.weights_sha256);
  sha256_ = sha256_file(config.weights);
  net_->eval();
  net_->fold_batch_norm();
  net_->to(config.device);
}

std::string InceptionBackbone::name() const {
  return config_.preprocess == Preprocess::tensorflow ? kInceptionBackbone
                                                      : std::string(kInceptionBackbone) + "/pytorch-fid";
}

BackboneOutput InceptionBackbone::extract(const torch::Tensor& images) const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> pools, logits;
  for (int64_t begin = 0; begin < images.size(0); begin += config_.batch_size) {
    const auto out = net_->forward(images.slice(0, begin, begin + config_.batch_size).to(config_.device),
                                   config_.preprocess);
    pools.push_back(out.pool3.cpu());
    logits.push_back(out.logits_unbiased.cpu());
  }
  return {torch::cat(pools), torch::cat(logits)};
}

Reference real_reference(const Backbone& backbone, const torch::Tensor& real, const std::string& dataset,
                         const std::string& cache_dir) {
  std::string name = backbone.name();
  std::replace(name.begin(), name.end(), '/', '_');
  const std::string key =
      dataset + "-" + std::to_string(real.size(0)) + "-" + name + "-" + backbone.weights_sha256().substr(0, 16);
  const fs::path cached = fs::path(cache_dir) / ("real-" + key + ".npz");
  if (fs::exists(cached)) {
    const auto arrays = read_npz(cached.string());
    Reference r{read_stats_npz(cached.string()), arrays.count("features") ? arrays.at("features") : torch::Tensor()};
    r.stats.count = real.size(0);
    return r;
  }
  const auto features = backbone.extract(real).features;
  Reference r{feature_stats(features), features.slice(0, 0, kKidFeatures).clone()};
  fs::create_directories(cache_dir);
  // A per-process name: two trainers may fill the same cache at once; the rename is atomic.
  const std::string tmp = cached.string() + "." + std::to_string(::getpid()) + ".tmp";
  write_npz(tmp, {{"mu", r.stats.mu}, {"sigma", r.stats.sigma}, {"features", r.features}});
  fs::rename(tmp, cached);
  return r;
}

EvalMetrics evaluate_images(const Backbone& backbone, const Reference& reference, const torch::Tensor& generated,
                            const std::vector<int64_t>& fid_sample_counts) {
  return evaluate_outputs(backbone, reference, backbone.extract(generated), fid_sample_counts);
}

EvalMetrics evaluate_outputs(const Backbone& backbone, const Reference& reference, const BackboneOutput& out,
                             const std::vector<int64_t>& fid_sample_counts) {
  EvalMetrics m;
  m.samples = out.features.size(0);
  m.backbone = backbone.name();
  m.weights_sha256 = backbone.weights_sha256();
  const auto fid = frechet_distance(feature_stats(out.features), reference.stats);
  if (!fid.warning.empty()) std::cerr << "fid: " << fid.warning << "\n";
  m.fid = fid.distance;
  for (int64_t n : fid_sample_counts)
    if (n >= 2 && n <= out.features.size(0))
      m.fid_by_samples.emplace_back(n, frechet_distance(feature_stats(out.features.slice(0, 0, n)), reference.stats).distance);
  const auto is = inception_score(out.logits, 10);
  m.is_mean = is.mean;
  m.is_std = is.std;
  if (reference.features.defined()) {
    const int64_t subset = std::min<int64_t>({1000, reference.features.size(0), out.features.size(0)});
    const auto kid = kernel_inception_distance(reference.features, out.features, 100, subset);
    m.kid_mean = kid.mean;
    m.kid_std = kid.std;
  }
  return m;
}

}  // namespace gansweep
