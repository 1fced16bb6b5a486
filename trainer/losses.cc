#include "trainer/losses.h"

namespace gansweep {
namespace {

using torch::Tensor;

// torch BCEWithLogitsLoss (mean): mean(softplus(a) − t·a), computed stably.
Tensor bce_logits(const Tensor& a, double target) {
  return torch::binary_cross_entropy_with_logits(a, torch::full_like(a, target));
}
// CE's D outputs a probability σ(C): torch BCELoss, each log clamped at −100.
Tensor bce_sigmoid(const Tensor& c, double target) {
  return torch::binary_cross_entropy(torch::sigmoid(c), torch::full_like(c, target));
}
Tensor mean_square(const Tensor& x) { return x.square().mean(); }
Tensor mean_relu(const Tensor& x) { return torch::relu(x).mean(); }

}  // namespace

Tensor discriminator_loss(Loss loss, const Tensor& cr, const Tensor& cf, const LossParams& p) {
  const auto mean = [&p](const Tensor& x) { return p.batch_mean ? p.batch_mean(x) : x.mean(); };
  switch (loss) {
    case Loss::ce:
      return bce_sigmoid(cr, 1.0) + bce_sigmoid(cf, 0.0);
    case Loss::rce:
      return bce_logits(cr - cf, 1.0);
    case Loss::race:
      return (bce_logits(cr - mean(cf), 1.0) + bce_logits(cf - mean(cr), 0.0)) / 2;
    case Loss::ls:
      return mean_square(cr - 1) + mean_square(cf);
    case Loss::rals:
      return (mean_square(cr - mean(cf) - 1) + mean_square(cf - mean(cr) + 1)) / 2;
    case Loss::hinge:
      return mean_relu(1 - cr) + mean_relu(1 + cf);
    case Loss::rahinge:
      return (mean_relu(1 - (cr - mean(cf))) + mean_relu(1 + (cf - mean(cr)))) / 2;
    case Loss::rmcos:
      // mean_i softplus(−s·(cos_r,i − m − cos_f,i)): the margin handicaps the real side.
      return bce_logits(p.scale * ((cr - p.margin) - cf), 1.0);
  }
  throw std::invalid_argument("unknown loss");
}

Tensor generator_loss(Loss loss, const Tensor& cr, const Tensor& cf, const LossParams& p) {
  const auto mean = [&p](const Tensor& x) { return p.batch_mean ? p.batch_mean(x) : x.mean(); };
  switch (loss) {
    case Loss::ce:
      return bce_sigmoid(cf, 1.0);  // non-saturating
    case Loss::rce:
      return bce_logits(cf - cr, 1.0);
    case Loss::race:
      return (bce_logits(cr - mean(cf), 0.0) + bce_logits(cf - mean(cr), 1.0)) / 2;
    case Loss::ls:
      return mean_square(cf - 1);
    case Loss::rals:
      return (mean_square(cr - mean(cf) + 1) + mean_square(cf - mean(cr) - 1)) / 2;
    case Loss::hinge:
      return -cf.mean();
    case Loss::rahinge:
      return (mean_relu(1 + (cr - mean(cf))) + mean_relu(1 - (cf - mean(cr)))) / 2;
    case Loss::rmcos:
      return bce_logits(p.scale * ((cf - p.margin) - cr), 1.0);
  }
  throw std::invalid_argument("unknown loss");
}

}  // namespace gansweep
