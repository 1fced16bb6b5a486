// The offline backbone: where the Inception weights cannot be had (these machines, many
// clusters), a small CNN trained once on the dataset's own labels gives the features
// (its penultimate layer: FID, KID) and class probabilities (IS). Every metric it produces
// is labelled "classifier/<dataset>" with the hash of its weights, so its numbers are never
// compared with Inception numbers or with another dataset's classifier.
#pragma once

#include <string>

#include "metrics/evaluator.h"

namespace gansweep {

class ClassifierNetImpl : public torch::nn::Module {
 public:
  explicit ClassifierNetImpl(int64_t classes);
  // Normalized images in [-1, 1] -> (features (N, 128), logits (N, classes)).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential body_{nullptr};
  torch::nn::Linear hidden_{nullptr}, out_{nullptr};
};
TORCH_MODULE(ClassifierNet);

struct ClassifierTraining {
  int64_t min_steps = 600;  // at least this many Adam steps, however small the dataset
  int64_t epochs = 3;
  int64_t batch_size = 128;
  uint64_t seed = 0;
};

class ClassifierBackbone : public Backbone {
 public:
  // Loads `cache_dir/classifier-<dataset>-<N>-<labels hash>.pt` or trains and caches it.
  // images: uint8 (N, 3, H, W); labels: (N) int64 in [0, classes). Throws
  // std::invalid_argument when there are no labels.
  ClassifierBackbone(const torch::Tensor& images, const torch::Tensor& labels, const std::string& dataset,
                     const std::string& cache_dir, const ClassifierTraining& training = {});
  BackboneOutput extract(const torch::Tensor& images) const override;
  std::string name() const override { return "classifier/" + dataset_; }
  std::string weights_sha256() const override { return sha256_; }
  double train_accuracy() const { return accuracy_; }  // on the training images, after training or loading

 private:
  std::string dataset_, sha256_;
  mutable ClassifierNet net_{nullptr};
  double accuracy_ = 0;
};

}  // namespace gansweep
