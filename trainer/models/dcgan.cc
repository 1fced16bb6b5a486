#include "trainer/models/dcgan.h"

#include <cmath>
#include <stdexcept>

#include "trainer/parallel/sync.h"

namespace gansweep {
namespace {

// weights_init of train.py: BatchNorm γ ~ N(1, 0.02), β = 0.
torch::nn::BatchNorm2d make_batch_norm(int64_t channels) {
  torch::nn::BatchNorm2d bn(torch::nn::BatchNorm2dOptions(channels).eps(1e-5).momentum(0.1));
  torch::NoGradGuard no_grad;
  bn->weight.normal_(1.0, 0.02);
  bn->bias.zero_();
  return bn;
}

void check_size(int image_size) {
  if (image_size != 32 && image_size != 48 && image_size != 64)
    throw std::invalid_argument("image size " + std::to_string(image_size) + " has no architecture (32, 48 or 64)");
}

}  // namespace

std::string architecture_name(int image_size) {
  check_size(image_size);
  return image_size == 64 ? "dcgan64 (arch 0, 128 channels)" : "cnn" + std::to_string(image_size) + " (arch 1)";
}

int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

GeneratorImpl::GeneratorImpl(int image_size) : image_size_(image_size) {
  check_size(image_size);
  if (image_size == 64) {
    // 128 -> 1024 (4x4) -> 512 (8) -> 256 (16) -> 128 (32) -> 3 (64); no biases.
    project_ = register_module("project", ConvTransposeFromPoint(kLatentDim, 1024));
    bn_.push_back(register_module("bn0", make_batch_norm(1024)));
    const int64_t widths[] = {1024, 512, 256, 128, 3};
    for (int i = 0; i < 4; ++i) {
      up_.push_back(register_module("up" + std::to_string(i + 1), ConvTranspose4x2(widths[i], widths[i + 1], false)));
      if (i < 3) bn_.push_back(register_module("bn" + std::to_string(i + 1), make_batch_norm(widths[i + 1])));
    }
    return;
  }
  // Dense 128 -> 512·h·w (no activation), three upsamplings with BN+ReLU, a 3x3 conv + tanh.
  base_ = image_size / 8;
  dense_ = register_module("dense", torch::nn::Linear(kLatentDim, 512 * base_ * base_));
  const int64_t widths[] = {512, 256, 128, 64};
  for (int i = 0; i < 3; ++i) {
    up_.push_back(register_module("up" + std::to_string(i + 1), ConvTranspose4x2(widths[i], widths[i + 1], true)));
    bn_.push_back(register_module("bn" + std::to_string(i + 1), make_batch_norm(widths[i + 1])));
  }
  out_conv_ = register_module("out", torch::nn::Conv2d(torch::nn::Conv2dOptions(64, 3, 3).stride(1).padding(1)));
  torch::NoGradGuard no_grad;
  out_conv_->weight.normal_(0.0, 0.02);  // the bias keeps PyTorch's default init
}

torch::Tensor GeneratorImpl::batch_norm(size_t i, const torch::Tensor& x) {
  return comm_ ? sync_batch_norm(x, *bn_[i], *comm_) : bn_[i]->forward(x);
}

torch::Tensor GeneratorImpl::forward(const torch::Tensor& z) {
  const auto flat = z.reshape({-1, kLatentDim});
  if (image_size_ == 64) {
    auto x = batch_norm(0, project_->forward(flat)).relu_();
    for (size_t i = 0; i < up_.size(); ++i) {
      x = up_[i]->forward(x);
      x = i + 1 < up_.size() ? batch_norm(i + 1, x).relu_() : torch::tanh(x);
    }
    return x;
  }
  auto x = dense_->forward(flat).view({-1, 512, base_, base_});
  for (size_t i = 0; i < up_.size(); ++i) x = batch_norm(i, up_[i]->forward(x)).relu_();
  return torch::tanh(out_conv_->forward(x));
}

DiscriminatorImpl::DiscriminatorImpl(int image_size, bool cosine_head) {
  check_size(image_size);
  struct Conv {
    int64_t in, out, kernel, stride, padding;
  };
  std::vector<Conv> layers;
  bool bias = true;
  if (image_size == 64) {
    slope_ = 0.2;
    bias = false;
    layers = {{3, 128, 4, 2, 1}, {128, 256, 4, 2, 1}, {256, 512, 4, 2, 1}, {512, 1024, 4, 2, 1}};
  } else {
    slope_ = 0.1;
    layers = {{3, 64, 3, 1, 1},    {64, 64, 4, 2, 1},    {64, 128, 3, 1, 1}, {128, 128, 4, 2, 1},
              {128, 256, 3, 1, 1}, {256, 256, 4, 2, 1}, {256, 512, 3, 1, 1}};
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    convs_.push_back(register_module("conv" + std::to_string(i + 1),
                                     SpectralConv2d(l.in, l.out, l.kernel, l.stride, l.padding, bias)));
  }
  const int64_t features = layers.back().out;
  if (cosine_head) {
    const double bound = std::sqrt(6.0 / double(features + 1));  // xavier_uniform_ on (1, C)
    cos_weight_ = register_parameter("cos_weight", torch::empty({1, features}).uniform_(-bound, bound));
  } else {
    dense_ = register_module("dense", torch::nn::Linear(features, 1));
  }
}

torch::Tensor DiscriminatorImpl::features(const torch::Tensor& x) {
  auto h = x;
  for (auto& conv : convs_) {
    h = conv->forward(h);
    torch::leaky_relu_(h, slope_);  // in place on the conv's fresh output
  }
  return h.sum({2, 3});
}

torch::Tensor DiscriminatorImpl::forward(const torch::Tensor& x) {
  const auto f = features(x);
  if (cos_weight_.defined()) return torch::mm(l2_normalize(f, 1), l2_normalize(cos_weight_, 1).t()).view({-1});
  return dense_->forward(f).view({-1});
}

}  // namespace gansweep
