// The FID Inception-v3 (shared/reference/metrics.md §1): pytorch-fid's FIDInceptionA/C/E
// patches (average pools without the padding counted, a max pool in Mixed_7c), 94
// conv+BN(eps 1e-3)+ReLU blocks, pool3 (2048-d) and fc to 1008 logits. Module names match
// pytorch-fid's state dict (pt_inception-2015-12-05), so its weights load by name.
#pragma once

#include <string>

#include <torch/torch.h>

namespace gansweep {

struct InceptionOutput {
  torch::Tensor pool3;            // (N, 2048): FID and KID features
  torch::Tensor logits_unbiased;  // (N, 1008): pool3 · fcᵀ without the bias, for IS
};

// How images reach the network: TF1-exact bilinear resize and (x − 128)/128, as the TF graph
// the paper used (and torch-fidelity); or pytorch-fid's align_corners=False resize and
// x/127.5 − 1.
enum class Preprocess { tensorflow, pytorch_fid };

struct InceptionBlock;  // one stage: a conv block, a pool or a mixed block

class FidInceptionImpl : public torch::nn::Module {
 public:
  FidInceptionImpl();
  // images: uint8 (N, 3, H, W) of any size.
  InceptionOutput forward(const torch::Tensor& images, Preprocess preprocess = Preprocess::tensorflow);
  // The network on an already normalized (N, 3, 299, 299) float batch.
  InceptionOutput forward_normalized(const torch::Tensor& x);
  // For inference after the weights are loaded: folds each BatchNorm into its convolution
  // (the same function up to float rounding, one pass over the activations fewer). Later
  // weight changes are not seen until it is called again.
  void fold_batch_norm();
  torch::nn::Linear fc{nullptr};

 private:
  std::vector<std::shared_ptr<InceptionBlock>> stages_;
};
TORCH_MODULE(FidInception);

// TF1 ResizeBilinear (align_corners=False, no half-pixel centres) in float32, exactly as
// torch-fidelity's interpolate_bilinear_2d_like_tensorflow1x: src = dst·(in/out).
torch::Tensor resize_bilinear_tf1(const torch::Tensor& images, int64_t size);

}  // namespace gansweep
