#include "metrics/evaluator.h"

#include <filesystem>
#include <iostream>

#include "metrics/npz.h"
#include "metrics/weights.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kKidFeatures = 10000;  // real features kept for KID

}  // namespace

FeatureExtractor::FeatureExtractor(const EvaluatorConfig& config) : config_(config) {
  load_inception_weights(*net_, config.weights, config.weights_sha256);
  sha256_ = sha256_file(config.weights);
  net_->eval();
}

std::string FeatureExtractor::preprocess_name() const {
  return config_.preprocess == Preprocess::tensorflow ? "tensorflow" : "pytorch-fid";
}

InceptionOutput FeatureExtractor::extract(const torch::Tensor& images) const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> pools, logits;
  for (int64_t begin = 0; begin < images.size(0); begin += config_.batch_size) {
    const auto out = net_->forward(images.slice(0, begin, begin + config_.batch_size), config_.preprocess);
    pools.push_back(out.pool3);
    logits.push_back(out.logits_unbiased);
  }
  return {torch::cat(pools), torch::cat(logits)};
}

Reference real_reference(const FeatureExtractor& extractor, const torch::Tensor& real, const std::string& dataset,
                         const std::string& cache_dir) {
  const std::string key = dataset + "-" + std::to_string(real.size(0)) + "-" +
                          extractor.weights_sha256().substr(0, 16) + "-" + extractor.preprocess_name();
  const fs::path cached = fs::path(cache_dir) / ("real-" + key + ".npz");
  if (fs::exists(cached)) {
    const auto arrays = read_npz(cached.string());
    Reference r{read_stats_npz(cached.string()), arrays.count("features") ? arrays.at("features") : torch::Tensor()};
    r.stats.count = real.size(0);
    return r;
  }
  const auto features = extractor.extract(real).pool3;
  Reference r{feature_stats(features), features.slice(0, 0, kKidFeatures).clone()};
  fs::create_directories(cache_dir);
  const std::string tmp = cached.string() + ".tmp";
  write_npz(tmp, {{"mu", r.stats.mu}, {"sigma", r.stats.sigma}, {"features", r.features}});
  fs::rename(tmp, cached);
  return r;
}

EvalMetrics evaluate_images(const FeatureExtractor& extractor, const Reference& reference,
                            const torch::Tensor& generated) {
  const auto out = extractor.extract(generated);
  EvalMetrics m;
  m.samples = generated.size(0);
  m.backbone = kInceptionBackbone;
  m.weights_sha256 = extractor.weights_sha256();
  const auto fid = frechet_distance(feature_stats(out.pool3), reference.stats);
  if (!fid.warning.empty()) std::cerr << "fid: " << fid.warning << "\n";
  m.fid = fid.distance;
  const auto is = inception_score(out.logits_unbiased, 10);
  m.is_mean = is.mean;
  m.is_std = is.std;
  if (reference.features.defined()) {
    const int64_t subset = std::min<int64_t>({1000, reference.features.size(0), out.pool3.size(0)});
    const auto kid = kernel_inception_distance(reference.features, out.pool3, 100, subset);
    m.kid_mean = kid.mean;
    m.kid_std = kid.std;
  }
  return m;
}

}  // namespace gansweep
