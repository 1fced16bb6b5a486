// The layers of the paper's DCGANs that LibTorch lacks or runs slowly.
#pragma once

#include <torch/torch.h>

namespace gansweep {

// torch.nn.utils.spectral_norm(Conv2d) as PyTorch 1.2 does it: parameters `weight_orig` and
// `bias`, buffers `u` and `v`; in training mode every forward runs one power iteration
// (v = normalize(Wᵀu), u = normalize(Wv), eps 1e-12) and divides the weight by σ = uᵀWv.
// The bias is not normalized.
class SpectralConv2dImpl : public torch::nn::Module {
 public:
  SpectralConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor sigma() const;  // σ from the current u and v, no update

  torch::Tensor weight_orig, bias, u, v;

 private:
  int64_t stride_, padding_;
};
TORCH_MODULE(SpectralConv2d);

// ConvTranspose2d(in, out, 4, stride 2, padding 1), the upsampling layer of both generators.
// LibTorch 1.13 runs it through slow_conv_transpose2d, a per-sample GEMM; this computes the
// same function as one ordinary convolution (which LibTorch runs through oneDNN): output
// pixel (2i+a, 2j+b) is a 2x2 convolution of the input with kernel taps (3,1) for a = 0 and
// (2,0) for a = 1 (likewise b). The parameter is stored in that phase layout,
// [4·out, in, 2, 2] with channel (2a+b)·out + o, so no per-step re-layout is needed: Adam is
// elementwise and the N(0, 0.02) init is i.i.d., so training is the same as with PyTorch's
// [in, out, 4, 4] layout. to_pytorch_layout/from_pytorch_layout convert between the two.
class ConvTranspose4x2Impl : public torch::nn::Module {
 public:
  ConvTranspose4x2Impl(int64_t in, int64_t out, bool bias);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;  // weight in the phase layout [4·out, in, 2, 2]
};
TORCH_MODULE(ConvTranspose4x2);

// ConvTranspose2d(in, out, 4, stride 1, padding 0) on a 1x1 input (the CAT generator's first
// layer) is a matrix product: out[:, o, i, j] = Σ_c z[:, c] · W[c, o, i, j].
class ConvTransposeFromPointImpl : public torch::nn::Module {
 public:
  ConvTransposeFromPointImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& z);

  torch::Tensor weight;  // [in, out, 4, 4], no bias
};
TORCH_MODULE(ConvTransposeFromPoint);

// The phase layout of ConvTranspose4x2 <-> torch.nn.ConvTranspose2d's [in, out, 4, 4].
torch::Tensor to_pytorch_layout(const torch::Tensor& phase_weight);
torch::Tensor from_pytorch_layout(const torch::Tensor& weight);

// x / max(‖x‖₂, 1e-12) along `dim`, as torch.nn.functional.normalize.
torch::Tensor l2_normalize(const torch::Tensor& x, int64_t dim);

}  // namespace gansweep
