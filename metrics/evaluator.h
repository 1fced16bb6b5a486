// FID, IS and KID of generated images against a dataset, as the trainer's evaluations and
// the `fid` command compute them (shared/reference/metrics.md), with either backbone: the
// paper's FID Inception, or the offline classifier (metrics/classifier.h).
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "metrics/inception.h"
#include "metrics/statistics.h"
#include "trainer/contract/events.h"

namespace gansweep {

// The name every stored Inception metric carries, so numbers from different networks never mix.
constexpr const char* kInceptionBackbone = "inception-v3-fid-2015-12-05";

struct BackboneOutput {
  torch::Tensor features;  // (N, d): FID and KID
  torch::Tensor logits;    // (N, C): IS (softmax over C classes)
};

// A feature network with its weights, loaded once. Its name and weights hash label every
// metric it produces.
class Backbone {
 public:
  virtual ~Backbone() = default;
  // Features and logits of uint8 images (N, 3, H, W), in batches.
  virtual BackboneOutput extract(const torch::Tensor& images) const = 0;
  virtual std::string name() const = 0;
  virtual std::string weights_sha256() const = 0;
};

struct InceptionConfig {
  std::string weights;         // zip-format state dict (metrics/weights.h)
  std::string weights_sha256;  // optional expected hash or prefix
  Preprocess preprocess = Preprocess::tensorflow;
  int64_t batch_size = 100;
  torch::Device device = torch::kCPU;  // the network runs here; features come back to the CPU
};

// The FID Inception: pool3 features (2048) and unbiased logits (1008).
class InceptionBackbone : public Backbone {
 public:
  explicit InceptionBackbone(const InceptionConfig& config);
  BackboneOutput extract(const torch::Tensor& images) const override;
  std::string name() const override;  // kInceptionBackbone, plus "/pytorch-fid" for that preprocessing
  std::string weights_sha256() const override { return sha256_; }

 private:
  InceptionConfig config_;
  mutable FidInception net_;  // forward in eval mode changes no state
  std::string sha256_;
};

// Reference statistics of real images, and (for KID) up to 10,000 of their features.
struct Reference {
  FeatureStats stats;
  torch::Tensor features;  // undefined when the reference came from a statistics file
};

// Computes the reference of `real` (uint8 N x 3 x H x W), or loads it from
// `cache_dir/real-<key>.npz` when an earlier run cached it; the key names the dataset, the
// image count, the backbone and its weights hash.
Reference real_reference(const Backbone& backbone, const torch::Tensor& real, const std::string& dataset,
                         const std::string& cache_dir);

// FID, IS (10 splits) and KID (100 subsets of min(1000, N)) of generated uint8 images, and
// FID of the first n images for each n of `fid_sample_counts` (from the same features).
EvalMetrics evaluate_images(const Backbone& backbone, const Reference& reference, const torch::Tensor& generated,
                            const std::vector<int64_t>& fid_sample_counts = {});
// The same from the backbone's outputs for the generated images (data-parallel ranks
// extract their share and gather the outputs).
EvalMetrics evaluate_outputs(const Backbone& backbone, const Reference& reference, const BackboneOutput& out,
                             const std::vector<int64_t>& fid_sample_counts = {});

}  // namespace gansweep
