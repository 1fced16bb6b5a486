#include "trainer/models/layers.h"

#include <cmath>

namespace gansweep {
namespace {

constexpr double kNormEps = 1e-12;

// The inverse of the phase split: out[n, c, 2i+a, 2j+b] = y[n, (2a+b)·C + c, i+a, j+b]. A
// custom backward scatters the gradient with four strided copies; autograd's own slicing
// would allocate and zero a full-size buffer per slice.
struct InterleavePhases : torch::autograd::Function<InterleavePhases> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& y, int64_t channels) {
    const int64_t n = y.size(0), h = y.size(2) - 1, w = y.size(3) - 1;
    ctx->saved_data["sizes"] = y.sizes().vec();
    auto out = torch::empty({n, channels, 2 * h, 2 * w}, y.options());
    auto out6 = out.view({n, channels, h, 2, w, 2});
    auto y6 = y.view({n, 2, 2, channels, h + 1, w + 1});
    for (int64_t a = 0; a < 2; ++a)
      for (int64_t b = 0; b < 2; ++b)
        out6.select(5, b).select(3, a).copy_(y6.select(1, a).select(1, b).narrow(2, a, h).narrow(3, b, w));
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto sizes = ctx->saved_data["sizes"].toIntVector();
    const int64_t n = sizes[0], h = sizes[2] - 1, w = sizes[3] - 1, channels = sizes[1] / 4;
    auto grad_out6 = grads[0].contiguous().view({n, channels, h, 2, w, 2});
    auto grad_y = torch::zeros(sizes, grads[0].options());
    auto grad_y6 = grad_y.view({n, 2, 2, channels, h + 1, w + 1});
    for (int64_t a = 0; a < 2; ++a)
      for (int64_t b = 0; b < 2; ++b)
        grad_y6.select(1, a).select(1, b).narrow(2, a, h).narrow(3, b, w).copy_(grad_out6.select(5, b).select(3, a));
    return {grad_y, torch::Tensor()};
  }
};

// PyTorch's default bias init for convolutions: U(±1/sqrt(fan_in)), fan_in from weight dim 1.
torch::Tensor default_bias(int64_t n, int64_t fan_in) {
  const double bound = 1.0 / std::sqrt(double(fan_in));
  return torch::empty({n}).uniform_(-bound, bound);
}

}  // namespace

torch::Tensor l2_normalize(const torch::Tensor& x, int64_t dim) {
  return x / x.norm(2, dim, /*keepdim=*/true).clamp_min(kNormEps);
}

SpectralConv2dImpl::SpectralConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                                       bool with_bias)
    : stride_(stride), padding_(padding) {
  // torch.nn.Conv2d's own init; the DCGAN weights_init then draws the weight from N(0, 0.02).
  weight_orig = register_parameter("weight_orig", torch::empty({out, in, kernel, kernel}).normal_(0.0, 0.02));
  if (with_bias) bias = register_parameter("bias", default_bias(out, in * kernel * kernel));
  u = register_buffer("u", l2_normalize(torch::randn({out}), 0));
  v = register_buffer("v", l2_normalize(torch::randn({in * kernel * kernel}), 0));
}

torch::Tensor SpectralConv2dImpl::forward(const torch::Tensor& x) {
  const auto w_mat = weight_orig.view({weight_orig.size(0), -1});
  torch::Tensor u_now = u, v_now = v;
  if (is_training()) {
    {
      torch::NoGradGuard no_grad;
      v.copy_(l2_normalize(torch::mv(w_mat.t(), u), 0));
      u.copy_(l2_normalize(torch::mv(w_mat, v), 0));
    }
    // As PyTorch: clone so the in-place updates of the next forward do not touch this graph.
    u_now = u.clone();
    v_now = v.clone();
  }
  const auto sigma = torch::dot(u_now, torch::mv(w_mat, v_now));
  return torch::conv2d(x, weight_orig / sigma, bias, stride_, padding_);
}

torch::Tensor SpectralConv2dImpl::sigma() const {
  torch::NoGradGuard no_grad;
  return torch::dot(u, torch::mv(weight_orig.view({weight_orig.size(0), -1}), v));
}

// Phase a uses kernel row 3 − (2u + a) at tap u: after flipping, row 2u + a. So the flipped
// kernel viewed as (in, out, u, a, v, b) holds every phase's 2x2 kernel.
torch::Tensor from_pytorch_layout(const torch::Tensor& weight) {
  const int64_t in = weight.size(0), out = weight.size(1);
  return weight.flip({2, 3}).view({in, out, 2, 2, 2, 2}).permute({3, 5, 1, 0, 2, 4}).reshape({4 * out, in, 2, 2});
}

torch::Tensor to_pytorch_layout(const torch::Tensor& phase_weight) {
  const int64_t out = phase_weight.size(0) / 4, in = phase_weight.size(1);
  return phase_weight.view({2, 2, out, in, 2, 2}).permute({3, 2, 4, 0, 5, 1}).reshape({in, out, 4, 4}).flip({2, 3});
}

ConvTranspose4x2Impl::ConvTranspose4x2Impl(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", torch::empty({4 * out, in, 2, 2}).normal_(0.0, 0.02));
  if (with_bias) bias = register_parameter("bias", default_bias(out, out * 16));
}

torch::Tensor ConvTranspose4x2Impl::forward(const torch::Tensor& x) {
  auto y = InterleavePhases::apply(torch::conv2d(x, weight, {}, 1, 1), weight.size(0) / 4);
  return bias.defined() ? y + bias.view({1, -1, 1, 1}) : y;
}

ConvTransposeFromPointImpl::ConvTransposeFromPointImpl(int64_t in, int64_t out) {
  weight = register_parameter("weight", torch::empty({in, out, 4, 4}).normal_(0.0, 0.02));
}

torch::Tensor ConvTransposeFromPointImpl::forward(const torch::Tensor& z) {
  const int64_t in = weight.size(0), out = weight.size(1);
  return torch::mm(z.reshape({-1, in}), weight.reshape({in, out * 16})).view({-1, out, 4, 4});
}

}  // namespace gansweep
