#include <gtest/gtest.h>

#include "trainer/losses.h"

namespace gansweep {
namespace {

struct Expected {
  Loss loss;
  double d, g;
};

// C_r = (0.5, −0.2), C_f = (0.1, 0.3), m = 0.15, s = 10, computed by hand from the formulas of
// rmcosgan.md §2 (e.g. ls: D = ((0.5−1)² + (−1.2)²)/2 + (0.1² + 0.3²)/2 = 0.895;
// hinge: D = (0.5 + 1.2)/2 + (1.1 + 1.3)/2 = 2.05, G = −0.2;
// rmcos: D = mean softplus(−10·(cos_r − 0.15 − cos_f)) = (softplus(−2.5) + softplus(6.5))/2).
const Expected kTable[] = {
    {Loss::ce, 1.43548387905, 0.599375952271},     {Loss::rce, 0.74354611829, 0.69354611829},
    {Loss::race, 0.726696798168, 0.676696798168},  {Loss::ls, 0.895, 0.65},
    {Loss::rals, 1.16875, 0.96875},                {Loss::hinge, 2.05, -0.2},
    {Loss::rahinge, 1.05, 0.95},                   {Loss::rmcos, 3.29019602223, 2.76691443077},
};

TEST(Losses, MatchHandComputedValues) {
  const auto cr = torch::tensor({0.5, -0.2}, torch::kDouble);
  const auto cf = torch::tensor({0.1, 0.3}, torch::kDouble);
  const LossParams p{0.15, 10.0};
  for (const auto& e : kTable) {
    EXPECT_NEAR(discriminator_loss(e.loss, cr, cf, p).item<double>(), e.d, 1e-9) << to_string(e.loss);
    EXPECT_NEAR(generator_loss(e.loss, cr, cf, p).item<double>(), e.g, 1e-9) << to_string(e.loss);
  }
}

TEST(Losses, RmcosMarginHandicapsTheWinningSide) {
  // Equal cosines: without margin both players see log 2; the margin raises both losses.
  const auto c = torch::tensor({0.3}, torch::kDouble);
  const double no_margin = discriminator_loss(Loss::rmcos, c, c, {0.0, 10.0}).item<double>();
  EXPECT_NEAR(no_margin, std::log(2.0), 1e-12);
  EXPECT_NEAR(discriminator_loss(Loss::rmcos, c, c, {0.35, 10.0}).item<double>(), std::log1p(std::exp(3.5)), 1e-12);
  EXPECT_NEAR(generator_loss(Loss::rmcos, c, c, {0.35, 10.0}).item<double>(), std::log1p(std::exp(3.5)), 1e-12);
}

TEST(Losses, CeClampsTheLogAtMinus100) {
  // σ(−200) underflows to 0 in float: BCELoss clamps log(0) at −100, so the loss is 100, not inf.
  const auto cr = torch::tensor({-200.0f});
  const auto cf = torch::tensor({0.0f});
  EXPECT_NEAR(discriminator_loss(Loss::ce, cr, cf, {}).item<double>(), 100.0 + std::log(2.0), 1e-4);
}

TEST(Losses, RelativisticMeansAreNotDetached) {
  // RaLS D loss: dL/dcf_j = −(1/n²)·Σ_i (cr_i − mean(cf) − 1) + (cf_j − mean(cr) + 1)/n.
  const auto cr = torch::tensor({0.5, -0.2, 0.9}, torch::kDouble).requires_grad_();
  const auto cf = torch::tensor({0.1, 0.3, -0.4}, torch::kDouble).requires_grad_();
  discriminator_loss(Loss::rals, cr, cf, {}).backward();
  const double n = 3, mr = 0.4, mf = 0.0;
  const double first = -((0.5 - mf - 1) + (-0.2 - mf - 1) + (0.9 - mf - 1)) / (n * n);
  const double cfs[] = {0.1, 0.3, -0.4};
  for (int j = 0; j < 3; ++j)
    EXPECT_NEAR(cf.grad()[j].item<double>(), first + (cfs[j] - mr + 1) / n, 1e-12) << j;
}

}  // namespace
}  // namespace gansweep
