// The paper's generators and discriminators (shared/reference/rmcosgan.md §1):
//   32x32 (CIFAR-10, MNIST) and 48x48 (STL-10): the "standard CNN" of arch 1;
//   64x64 (CAT): the DCGAN of arch 0 with 128 base channels.
#pragma once

#include <string>

#include <torch/torch.h>

#include "trainer/models/layers.h"
#include "trainer/parallel/communicator.h"

namespace gansweep {

constexpr int64_t kLatentDim = 128;

// Generator: z of shape (B, 128) or (B, 128, 1, 1) to images in [-1, 1] of (B, 3, S, S).
class GeneratorImpl : public torch::nn::Module {
 public:
  explicit GeneratorImpl(int image_size);
  torch::Tensor forward(const torch::Tensor& z);
  int image_size() const { return image_size_; }
  // With several ranks, batch norm in training mode uses the statistics of every rank's
  // share of the batch (synchronized batch norm).
  void set_communicator(Communicator* comm) { comm_ = comm; }

 private:
  torch::Tensor batch_norm(size_t i, const torch::Tensor& x);

  int image_size_;
  Communicator* comm_ = nullptr;
  int64_t base_ = 0;  // arch 1: spatial size of the dense layer's output (4 or 6)
  torch::nn::Linear dense_{nullptr};
  ConvTransposeFromPoint project_{nullptr};  // arch 0
  std::vector<ConvTranspose4x2> up_;
  std::vector<torch::nn::BatchNorm2d> bn_;
  torch::nn::Conv2d out_conv_{nullptr};  // arch 1
};
TORCH_MODULE(Generator);

// Discriminator: images to the critic C(x), a (B,) vector. With the cosine head (RMCosGAN)
// C(x) = cos θ between the sum-pooled features and w; otherwise a Linear(C, 1) logit.
// CE's sigmoid lives in the loss, not here.
class DiscriminatorImpl : public torch::nn::Module {
 public:
  DiscriminatorImpl(int image_size, bool cosine_head);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor features(const torch::Tensor& x);  // global sum pooling of the last conv
  const std::vector<SpectralConv2d>& convs() const { return convs_; }

 private:
  double slope_;
  std::vector<SpectralConv2d> convs_;
  torch::nn::Linear dense_{nullptr};
  torch::Tensor cos_weight_;  // (1, C), xavier-uniform, no bias
};
TORCH_MODULE(Discriminator);

// "32x32 standard CNN" and the like, for events and reports.
std::string architecture_name(int image_size);
int64_t count_parameters(const torch::nn::Module& m);

}  // namespace gansweep
