#include <gtest/gtest.h>

#include "trainer/models/dcgan.h"

namespace gansweep {
namespace {

TEST(Models, ParameterCountsMatchThePaper) {
  torch::manual_seed(0);
  // rmcosgan.md §1: count_parameters counts SN weight_orig, not the u/v buffers.
  EXPECT_EQ(count_parameters(*Generator(32)), 3812355);
  EXPECT_EQ(count_parameters(*Discriminator(32, true)), 2928192);
  EXPECT_EQ(count_parameters(*Discriminator(32, false)), 2928193);
  EXPECT_EQ(count_parameters(*Generator(48)), 5133315);
  EXPECT_EQ(count_parameters(*Discriminator(48, true)), 2928192);
  EXPECT_EQ(count_parameters(*Generator(64)), 13117184);
  EXPECT_EQ(count_parameters(*Discriminator(64, true)), 11017216);
  EXPECT_EQ(count_parameters(*Discriminator(64, false)), 11017217);
}

TEST(Models, ShapesAndRanges) {
  torch::manual_seed(1);
  for (int size : {32, 48, 64}) {
    Generator g(size);
    Discriminator d(size, true);
    const auto x = g->forward(torch::randn({3, kLatentDim, 1, 1}));
    ASSERT_EQ(x.sizes(), (std::vector<int64_t>{3, 3, size, size}));
    EXPECT_LE(x.abs().max().item<double>(), 1.0);
    const auto c = d->forward(x);
    ASSERT_EQ(c.sizes(), (std::vector<int64_t>{3}));
    EXPECT_LE(c.abs().max().item<double>(), 1.0 + 1e-6);  // a cosine
  }
}

TEST(Models, CosineHeadIsTheCosineOfSumPooledFeaturesAndW) {
  torch::manual_seed(2);
  Discriminator d(32, true);
  d->eval();  // keep u, v fixed so features() and forward() see the same weights
  const auto x = torch::randn({4, 3, 32, 32});
  const auto f = d->features(x);
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{4, 512}));
  const auto w = d->named_parameters()["cos_weight"];
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{1, 512}));
  EXPECT_LE(w.abs().max().item<double>(), std::sqrt(6.0 / 513.0));
  const auto expected = (f * w).sum(1) / (f.norm(2, 1) * w.norm());
  EXPECT_TRUE(torch::allclose(d->forward(x), expected, 1e-5, 1e-6));
}

TEST(Models, InitializationFollowsWeightsInit) {
  torch::manual_seed(3);
  Generator g(32);
  auto params = g->named_parameters();
  const auto bn = params["bn1.weight"];
  EXPECT_NEAR(bn.mean().item<double>(), 1.0, 0.01);
  EXPECT_NEAR(bn.std().item<double>(), 0.02, 0.005);
  EXPECT_EQ(params["bn1.bias"].abs().max().item<double>(), 0.0);
  EXPECT_NEAR(params["up1.weight"].std().item<double>(), 0.02, 0.001);
  // ConvTranspose2d bias: PyTorch's U(±1/sqrt(fan_in)) with fan_in = out·k·k = 256·16.
  const auto bias = params["up1.bias"];
  EXPECT_LE(bias.abs().max().item<double>(), 1.0 / 64.0);
  EXPECT_GT(bias.abs().max().item<double>(), 0.8 / 64.0);
  // Linear keeps the default U(±1/sqrt(128)).
  EXPECT_LE(params["dense.weight"].abs().max().item<double>(), 1.0 / std::sqrt(128.0));
  EXPECT_GT(params["dense.weight"].std().item<double>(), 0.04);
  Discriminator d(32, false);
  EXPECT_NEAR(d->named_parameters()["conv3.weight_orig"].std().item<double>(), 0.02, 0.001);
}

TEST(ConvTranspose4x2, EqualsConvTranspose2dWithGradients) {
  torch::manual_seed(4);
  ConvTranspose4x2 layer(6, 5, true);
  layer->to(torch::kDouble);
  const auto x = torch::randn({3, 6, 5, 7}, torch::kDouble).requires_grad_();
  const auto y = layer->forward(x);
  const auto w_ref = to_pytorch_layout(layer->weight.detach()).requires_grad_();
  ASSERT_EQ(w_ref.sizes(), (std::vector<int64_t>{6, 5, 4, 4}));
  EXPECT_TRUE(torch::equal(from_pytorch_layout(w_ref.detach()), layer->weight.detach()));
  const auto b_ref = layer->bias.detach().clone().requires_grad_();
  const auto x_ref = x.detach().clone().requires_grad_();
  const auto y_ref = torch::conv_transpose2d(x_ref, w_ref, b_ref, 2, 1);
  ASSERT_EQ(y.sizes(), y_ref.sizes());
  EXPECT_TRUE(torch::allclose(y, y_ref, 1e-12, 1e-12));
  const auto upstream = torch::randn_like(y_ref);
  (y * upstream).sum().backward();
  (y_ref * upstream).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), x_ref.grad(), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(to_pytorch_layout(layer->weight.grad()), w_ref.grad(), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(layer->bias.grad(), b_ref.grad(), 1e-12, 1e-12));
}

TEST(ConvTranspose4x2, LayoutConversionIsAPermutationOfTheTaps) {
  // Phase (a, b) = (1, 0), output channel 2, input channel 3, tap (u, v) = (1, 1) holds the
  // PyTorch kernel entry [3, 2, 3 − (2·1 + 1), 3 − (2·1 + 0)] = [3, 2, 0, 1].
  const auto w = torch::arange(4 * 5 * 16, torch::kDouble).view({4, 5, 4, 4});
  const auto phase = from_pytorch_layout(w);
  EXPECT_EQ(phase[2 * 5 + 2][3][1][1].item<double>(), w[3][2][0][1].item<double>());
  EXPECT_TRUE(torch::equal(to_pytorch_layout(phase), w));
}

TEST(ConvTransposeFromPoint, EqualsConvTranspose2dOnA1x1Input) {
  torch::manual_seed(5);
  ConvTransposeFromPoint layer(8, 3);
  const auto z = torch::randn({2, 8, 1, 1});
  EXPECT_TRUE(torch::allclose(layer->forward(z), torch::conv_transpose2d(z, layer->weight), 1e-5, 1e-6));
}

TEST(SpectralConv2d, OnePowerIterationPerTrainingForward) {
  torch::manual_seed(6);
  SpectralConv2d conv(4, 6, 3, 1, 1, true);
  const auto w = conv->weight_orig.detach().view({6, -1});
  const auto u0 = conv->u.clone();
  // By hand: v = normalize(Wᵀu), u = normalize(Wv), σ = uᵀWv.
  const auto v1 = torch::mv(w.t(), u0) / torch::mv(w.t(), u0).norm();
  const auto u1 = torch::mv(w, v1) / torch::mv(w, v1).norm();
  const auto sigma = torch::dot(u1, torch::mv(w, v1));
  const auto x = torch::randn({2, 4, 5, 5});
  const auto y = conv->forward(x);
  EXPECT_TRUE(torch::allclose(conv->u, u1, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(conv->v, v1, 1e-5, 1e-6));
  const auto expected = torch::conv2d(x, conv->weight_orig.detach() / sigma, conv->bias.detach(), 1, 1);
  EXPECT_TRUE(torch::allclose(y, expected, 1e-4, 1e-5));
  // Eval mode uses the stored vectors without updating them.
  conv->eval();
  const auto u_before = conv->u.clone();
  conv->forward(x);
  EXPECT_TRUE(torch::equal(conv->u, u_before));
  // Repeated training forwards converge to the largest singular value.
  conv->train();
  for (int i = 0; i < 200; ++i) conv->forward(x);
  const double top = std::get<1>(torch::svd(w)).max().item<double>();
  EXPECT_NEAR(conv->sigma().item<double>(), top, 1e-4 * top);
}

TEST(SpectralConv2d, StateHoldsWeightOrigAndPowerIterationBuffers) {
  Discriminator d(32, true);
  const auto params = d->named_parameters();
  const auto buffers = d->named_buffers();
  EXPECT_TRUE(params.contains("conv1.weight_orig"));
  EXPECT_TRUE(params.contains("conv1.bias"));
  EXPECT_TRUE(buffers.contains("conv7.u"));
  EXPECT_TRUE(buffers.contains("conv7.v"));
  EXPECT_EQ(buffers["conv7.v"].numel(), 256 * 9);
}

}  // namespace
}  // namespace gansweep
