// FID, IS and KID of generated images against a dataset, as the trainer's evaluations and
// the `fid` command compute them (shared/reference/metrics.md).
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "metrics/inception.h"
#include "metrics/statistics.h"
#include "trainer/contract/events.h"

namespace gansweep {

// The name every stored metric carries, so numbers from different networks never mix.
constexpr const char* kInceptionBackbone = "inception-v3-fid-2015-12-05";

struct EvaluatorConfig {
  std::string weights;              // zip-format state dict (metrics/weights.h)
  std::string weights_sha256;       // optional expected hash or prefix
  Preprocess preprocess = Preprocess::tensorflow;
  int64_t batch_size = 100;
};

// The network and its weights, loaded once.
class FeatureExtractor {
 public:
  explicit FeatureExtractor(const EvaluatorConfig& config);
  // pool3 features (N, 2048) and unbiased logits (N, 1008) of uint8 images (N, 3, H, W).
  InceptionOutput extract(const torch::Tensor& images) const;
  const std::string& weights_sha256() const { return sha256_; }
  std::string preprocess_name() const;

 private:
  EvaluatorConfig config_;
  mutable FidInception net_;  // forward in eval mode changes no state
  std::string sha256_;
};

// Reference statistics of real images, and (for KID) up to 10,000 of their features.
struct Reference {
  FeatureStats stats;
  torch::Tensor features;  // undefined when the reference came from a statistics file
};

// Computes the reference of `real` (uint8 N x 3 x H x W), or loads it from
// `cache_dir/<key>.npz` when an earlier run cached it; the key names the dataset, the image
// count, the weights hash and the preprocessing.
Reference real_reference(const FeatureExtractor& extractor, const torch::Tensor& real, const std::string& dataset,
                         const std::string& cache_dir);

// FID, IS (10 splits) and KID (100 subsets of min(1000, N)) of generated uint8 images.
EvalMetrics evaluate_images(const FeatureExtractor& extractor, const Reference& reference,
                            const torch::Tensor& generated);

}  // namespace gansweep
