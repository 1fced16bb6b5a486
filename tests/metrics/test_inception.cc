#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "metrics/graphdef.h"
#include "metrics/inception.h"
#include "metrics/weights.h"

namespace gansweep {
namespace {

std::string temp(const std::string& name) { return (std::filesystem::temp_directory_path() / name).string(); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const WeightsError& e) {
    return e.what();
  }
  return "";
}

TEST(FidInception, HasThe94BlocksAndPytorchFidNames) {
  FidInception net;
  int convs = 0;
  for (const auto& m : net->named_modules())
    if (m.key().size() > 5 && m.key().compare(m.key().size() - 5, 5, ".conv") == 0) ++convs;
  EXPECT_EQ(convs, 94);
  const auto params = net->named_parameters();
  EXPECT_TRUE(params.contains("Conv2d_1a_3x3.conv.weight"));
  EXPECT_TRUE(params.contains("Mixed_5b.branch5x5_2.conv.weight"));
  EXPECT_TRUE(params.contains("Mixed_7c.branch3x3dbl_3b.bn.bias"));
  EXPECT_EQ(params["Mixed_6e.branch7x7dbl_5.conv.weight"].sizes(), (std::vector<int64_t>{192, 192, 1, 7}));
  EXPECT_EQ(params["fc.weight"].sizes(), (std::vector<int64_t>{1008, 2048}));
  EXPECT_EQ(net->named_buffers()["Mixed_7b.branch_pool.bn.running_var"].numel(), 192);
}

TEST(FidInception, SavedWeightsLoadToIdenticalFeatures) {
  FidInception a, b, c;
  randomize_inception(*a, 1);
  randomize_inception(*c, 2);
  const std::string path = temp("gansweep-inception-random.pth");
  save_inception_weights(*a, path);
  // 94 blocks x (conv weight, bn weight, bias, running mean, running var) + fc weight, bias.
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
  EXPECT_EQ(torch::pickle_load(bytes).toGenericDict().size(), 472u);
  load_inception_weights(*b, path, sha256_file(path).substr(0, 8));

  const auto images = torch::randint(0, 256, {2, 3, 40, 56}, torch::kUInt8);
  torch::NoGradGuard no_grad;
  const auto fa = a->forward(images), fb = b->forward(images), fc = c->forward(images);
  ASSERT_EQ(fa.pool3.sizes(), (std::vector<int64_t>{2, 2048}));
  ASSERT_EQ(fa.logits_unbiased.sizes(), (std::vector<int64_t>{2, 1008}));
  EXPECT_TRUE(torch::equal(fa.pool3, fb.pool3));
  EXPECT_TRUE(torch::equal(fa.logits_unbiased, fb.logits_unbiased));
  EXPECT_FALSE(torch::allclose(fa.pool3, fc.pool3));
  EXPECT_GE(fa.pool3.min().item<double>(), 0.0);  // a mean of ReLU outputs
  // Logits have no bias: pool3 · Wᵀ.
  EXPECT_TRUE(torch::allclose(fa.logits_unbiased, torch::mm(fa.pool3, a->fc->weight.t()), 1e-5, 1e-5));
  EXPECT_EQ(a->forward(images, Preprocess::pytorch_fid).pool3.sizes(), fa.pool3.sizes());
  // Folding BatchNorm into the convolutions changes the features by float rounding only.
  a->fold_batch_norm();
  const auto folded = a->forward(images);
  EXPECT_TRUE(torch::allclose(folded.pool3, fa.pool3, 1e-4, 1e-5));
  EXPECT_FALSE(torch::equal(folded.pool3, fa.pool3));  // the folded path really ran
}

TEST(FidInception, GraphDefAndStateDictLoadToIdenticalFeatures) {
  FidInception original, from_pb, from_pth;
  randomize_inception(*original, 11);
  const std::string pb = temp("gansweep-inception.pb"), pth = temp("gansweep-inception.pth");
  save_inception_graphdef(*original, pb);
  save_inception_weights(*original, pth);
  load_inception_weights(*from_pb, pb);
  load_inception_weights(*from_pth, pth);
  // The TF layouts: HWIO kernels and a [2048, 1008] softmax weight.
  std::ifstream in(pb, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), {}};
  const auto constants = read_graphdef_constants(bytes, pb);
  EXPECT_EQ(constants.at("mixed_9/tower/mixed/conv_1/conv2d_params").sizes(), (std::vector<int64_t>{3, 1, 384, 384}));
  EXPECT_EQ(constants.at("softmax/weights").sizes(), (std::vector<int64_t>{2048, 1008}));
  EXPECT_FLOAT_EQ(constants.at("Mul/y").item<float>(), 0.0078125f);  // a float_val scalar

  const auto images = torch::randint(0, 256, {2, 3, 32, 32}, torch::kUInt8);
  torch::NoGradGuard no_grad;
  const auto a = from_pb->forward(images), b = from_pth->forward(images), c = original->forward(images);
  EXPECT_TRUE(torch::equal(a.pool3, b.pool3));
  EXPECT_TRUE(torch::equal(a.pool3, c.pool3));
  EXPECT_TRUE(torch::equal(a.logits_unbiased, b.logits_unbiased));

  // A graph without one of the 94 blocks, and a truncated graph, are refused by name.
  std::vector<std::pair<std::string, torch::Tensor>> partial = {{"conv/conv2d_params", torch::zeros({3, 3, 3, 32})}};
  const std::string missing = temp("gansweep-partial.pb");
  std::ofstream(missing, std::ios::binary) << write_graphdef_constants(partial);
  EXPECT_NE(error_of([&] { load_inception_weights(*from_pb, missing); }).find("missing Const 'conv/batchnorm/gamma'"),
            std::string::npos);
  const std::string truncated = temp("gansweep-truncated.pb");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  EXPECT_NE(error_of([&] { load_inception_weights(*from_pb, truncated); }).find("not a valid GraphDef"),
            std::string::npos);
}

TEST(FidInception, BadWeightFilesNameTheFileAndTheProblem) {
  FidInception net;
  EXPECT_NE(error_of([&] { load_inception_weights(*net, temp("gansweep-none.pth")); }).find("cannot open"),
            std::string::npos);
  const std::string legacy = temp("gansweep-legacy.pth");
  std::ofstream(legacy) << "\x80\x02\x8a\x0a" << "legacy pickle";
  EXPECT_NE(error_of([&] { load_inception_weights(*net, legacy); }).find("legacy (non-zip)"), std::string::npos);
  EXPECT_NE(error_of([&] { load_inception_weights(*net, legacy, "6726825d"); }).find("does not match the expected 6726825d"),
            std::string::npos);

  randomize_inception(*net, 3);
  const std::string good = temp("gansweep-good.pth");
  save_inception_weights(*net, good);
  const auto size = std::filesystem::file_size(good);
  const std::string truncated = temp("gansweep-truncated.pth");
  std::filesystem::copy_file(good, truncated, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(truncated, size / 2);
  EXPECT_NE(error_of([&] { load_inception_weights(*net, truncated); }).find(truncated + ": unreadable"),
            std::string::npos);

  c10::Dict<std::string, torch::Tensor> partial;
  partial.insert("fc.weight", torch::zeros({1008, 2048}));
  const auto bytes = torch::pickle_save(partial);
  const std::string missing = temp("gansweep-missing.pth");
  std::ofstream(missing, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  EXPECT_NE(error_of([&] { load_inception_weights(*net, missing); }).find("missing tensor 'Conv2d_1a_3x3.conv.weight'"),
            std::string::npos);
}

TEST(ResizeTf1, MatchesTheLegacyTensorflowFormula) {
  // src = dst·(in/out), no half-pixel offset; hi clamps at the last pixel.
  const auto row = torch::tensor({0, 40, 100, 200}, torch::kUInt8).view({1, 1, 1, 4}).expand({1, 3, 4, 4});
  const auto up = resize_bilinear_tf1(row, 8);
  const float expect_up[] = {0, 20, 40, 70, 100, 150, 200, 200};
  for (int x = 0; x < 8; ++x) EXPECT_FLOAT_EQ(up[0][1][2][x].item<float>(), expect_up[x]) << x;
  const auto down = resize_bilinear_tf1(row, 3);
  const float scale = 4.0f / 3.0f;
  EXPECT_FLOAT_EQ(down[0][0][0][1].item<float>(), 40 + (100 - 40) * (scale - 1.0f));
  EXPECT_FLOAT_EQ(down[0][0][0][2].item<float>(), 100 + (200 - 100) * (2 * scale - 2.0f));
  const auto same = torch::randint(0, 256, {1, 3, 5, 5}, torch::kUInt8);
  EXPECT_TRUE(torch::equal(resize_bilinear_tf1(same, 5), same.to(torch::kFloat)));
}

}  // namespace
}  // namespace gansweep
