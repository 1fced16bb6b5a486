// The eight losses of the study (shared/reference/rmcosgan.md §2), on critic outputs
// C_r = D(x_real) and C_f = D(G(z)), each a (B,) tensor. Batch means are not detached.
#pragma once

#include <functional>

#include <torch/torch.h>

#include "trainer/contract/job_spec.h"

namespace gansweep {

struct LossParams {
  double margin = 0.15;  // m, RMCosGAN only
  double scale = 10.0;   // s, RMCosGAN only
  // The batch mean of the relativistic-average losses (mean C_r, mean C_f): over the
  // global batch when several ranks train one job (trainer/parallel/sync.h); plain mean
  // when unset.
  std::function<torch::Tensor(const torch::Tensor&)> batch_mean;
};

// D loss. For ce/ls/hinge it is the real term plus the fake term (no ½), which the reference
// back-propagates separately; the gradients are the same sum.
torch::Tensor discriminator_loss(Loss loss, const torch::Tensor& c_real, const torch::Tensor& c_fake,
                                 const LossParams& p);
// G loss. c_real is needed (from a fresh real batch) only when is_relativistic(loss).
torch::Tensor generator_loss(Loss loss, const torch::Tensor& c_real, const torch::Tensor& c_fake,
                             const LossParams& p);

}  // namespace gansweep
