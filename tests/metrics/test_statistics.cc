#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <unistd.h>

#include "metrics/npz.h"
#include "metrics/numpy_random.h"
#include "metrics/statistics.h"

namespace gansweep {
namespace {

// Deterministic features; the same formula in numpy gave the scipy reference below.
at::Tensor formula_features(int64_t n, int64_t d, double a, double b, double c, double shift) {
  auto x = at::empty({n, d}, at::kDouble);
  auto acc = x.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      acc[i][j] = std::sin(a * double(i) + b * double(j)) + 0.5 * std::cos(c * double(i) * double(j + 1) / 7.0) +
                  0.1 * double(j) + shift;
  return x;
}

TEST(FeatureStats, MeanAndUnbiasedCovarianceAsNumpy) {
  const auto s = feature_stats(formula_features(300, 16, 0.37, 1.3, 0.11, 0.0));
  // numpy: X.mean(0)[:3] and np.cov(X, rowvar=False)[0, :3]
  EXPECT_NEAR(s.mu[0].item<double>(), -0.09040391, 1e-8);
  EXPECT_NEAR(s.mu[2].item<double>(), 0.22080493, 1e-8);
  EXPECT_NEAR(s.sigma[0][0].item<double>(), 0.62476166, 1e-8);
  EXPECT_NEAR(s.sigma[0][2].item<double>(), -0.42189106, 1e-8);
  EXPECT_EQ(s.count, 300);
}

TEST(Frechet, AgreesWithScipySqrtmOnWellConditionedStatistics) {
  const auto a = feature_stats(formula_features(300, 16, 0.37, 1.3, 0.11, 0.0));
  const auto b = feature_stats(formula_features(250, 16, 0.29, 1.1, 0.17, 0.2));
  // scipy.linalg.sqrtm formula of TTUR/pytorch-fid on the same features (python3-scipy 1.10.1).
  const double scipy = 6.073626740704539;
  const auto r = frechet_distance(a, b);
  EXPECT_NEAR(r.distance, scipy, 1e-6 * scipy);
  EXPECT_TRUE(r.warning.empty());
}

TEST(Frechet, Identities) {
  const int64_t d = 2048;
  FeatureStats a{at::zeros({d}, at::kDouble), at::eye(d, at::kDouble), 10000};
  FeatureStats b{at::ones({d}, at::kDouble), at::eye(d, at::kDouble), 10000};
  EXPECT_NEAR(frechet_distance(a, b).distance, 2048.0, 1e-8);  // pytorch-fid's test
  EXPECT_NEAR(frechet_distance(a, a).distance, 0.0, 1e-9);
  // Diagonal covariances: Σ(μ₁−μ₂)² + Σ(√aᵢ − √bᵢ)².
  const auto va = at::linspace(0.5, 3.0, 8, at::kDouble), vb = at::linspace(2.0, 0.1, 8, at::kDouble);
  FeatureStats c{at::linspace(0, 1, 8, at::kDouble), at::diag(va), 100};
  FeatureStats e{at::zeros({8}, at::kDouble), at::diag(vb), 100};
  const double expected = (c.mu.square().sum() + (va.sqrt() - vb.sqrt()).square().sum()).item<double>();
  EXPECT_NEAR(frechet_distance(c, e).distance, expected, 1e-10);
  FeatureStats wrong{at::zeros({7}, at::kDouble), at::eye(7, at::kDouble), 100};
  EXPECT_THROW(frechet_distance(c, wrong), std::invalid_argument);
}

TEST(Frechet, FewerSamplesThanDimensionsGiveAFiniteValueAndAWarning) {
  const auto a = feature_stats(formula_features(20, 64, 0.37, 1.3, 0.11, 0.0));
  const auto b = feature_stats(formula_features(30, 64, 0.29, 1.1, 0.17, 0.2));
  const auto r = frechet_distance(a, b);
  EXPECT_TRUE(std::isfinite(r.distance));
  EXPECT_GT(r.distance, 0.0);
  EXPECT_NE(r.warning.find("singular"), std::string::npos);
}

TEST(InceptionScore, HandComputedCases) {
  // Identical predictions: p(y|x) = p̄(y), KL = 0, IS = 1 with no spread.
  const auto same = at::randn({1, 7}, at::kDouble).repeat({100, 1});
  const auto is_same = inception_score(same);
  EXPECT_NEAR(is_same.mean, 1.0, 1e-12);
  EXPECT_NEAR(is_same.std, 0.0, 1e-12);
  // Certain predictions spread evenly over 4 classes in every split: IS = 4.
  auto certain = at::full({40, 4}, -1000.0, at::kDouble);
  for (int64_t i = 0; i < 40; ++i) certain[i][i % 4] = 0.0;
  EXPECT_NEAR(inception_score(certain).mean, 4.0, 1e-9);
  // Splits 0-4 certain over 2 classes, splits 5-9 over 1 class: IS values 2 and 1.
  auto mixed = at::full({100, 2}, -1000.0, at::kDouble);
  for (int64_t i = 0; i < 100; ++i) mixed[i][i < 50 ? i % 2 : 0] = 0.0;
  const auto is_mixed = inception_score(mixed);
  EXPECT_NEAR(is_mixed.mean, 1.5, 1e-9);
  EXPECT_NEAR(is_mixed.std, 0.5, 1e-9);  // population std
}

TEST(KernelInceptionDistance, UnbiasedMmdByHand) {
  // With subset size = N every subset is the whole set, so the value is exact:
  // x = {0, 1}, y = {2, 3} in d = 1: k(a,b) = (ab + 1)³.
  const auto x = at::tensor({0.0, 1.0}).view({2, 1}), y = at::tensor({2.0, 3.0}).view({2, 1});
  const double kxx = 2 * std::pow(0 * 1 + 1.0, 3) / 2;                  // off-diagonal mean
  const double kyy = 2 * std::pow(2 * 3 + 1.0, 3) / 2;
  const double kxy = (std::pow(1.0, 3) + std::pow(1.0, 3) + std::pow(3.0, 3) + std::pow(4.0, 3)) / 4;
  const auto kid = kernel_inception_distance(x, y, 5, 2);
  EXPECT_NEAR(kid.mean, kxx + kyy - 2 * kxy, 1e-4);
  EXPECT_NEAR(kid.std, 0.0, 1e-6);
  // Two samples of one distribution: near zero (unbiased), and seeded.
  const auto a = at::randn({400, 8}), b = at::randn({400, 8});
  const auto k1 = kernel_inception_distance(a, b, 10, 100, 7), k2 = kernel_inception_distance(a, b, 10, 100, 7);
  EXPECT_EQ(k1.mean, k2.mean);
  EXPECT_LT(std::abs(k1.mean), 0.05);
  EXPECT_GT(kernel_inception_distance(a, b + 1.0, 10, 100, 7).mean, 0.5);
  EXPECT_THROW(kernel_inception_distance(a, b, 1, 1000), std::invalid_argument);
}

// torch-fidelity's KID (metrics.md §4) in numpy, on features numpy draws: the first subsets'
// indices must be RandomState(2020)'s own, and KID the numpy value to float32 rounding.
TEST(KernelInceptionDistance, DrawsTorchFidelitysSubsetsAndMatchesItsValue) {
  const std::string path = std::filesystem::temp_directory_path().string() + "/gansweep-kid-" +
                           std::to_string(::getpid()) + ".npz";
  const std::string script =
      "import numpy as np\n"
      "x = np.random.RandomState(1).randn(300, 16).astype(np.float32)\n"
      "y = (np.random.RandomState(2).randn(250, 16) * 1.2 + 0.3).astype(np.float32)\n"
      "rng, m, values, first = np.random.RandomState(2020), 100, [], []\n"
      "for i in range(7):\n"
      "    a = rng.choice(len(x), m, replace=False); b = rng.choice(len(y), m, replace=False)\n"
      "    first += [a, b] if i == 0 else []\n"
      "    k = lambda p, q: (p @ q.T / p.shape[1] + 1) ** 3\n"
      "    kxx, kyy, kxy = k(x[a], x[a]), k(y[b], y[b]), k(x[a], y[b])\n"
      "    off = kxx.sum() - np.diagonal(kxx).sum() + kyy.sum() - np.diagonal(kyy).sum()\n"
      "    values.append(off / (m * (m - 1)) - 2 * kxy.sum() / (m * m))\n"
      "np.savez('" + path + "', x=x, y=y, first_x=first[0], first_y=first[1],\n"
      "         kid=np.array([np.mean(values), np.std(values)]))\n";
  const std::string script_path = path + ".py";
  std::ofstream(script_path) << script;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script_path).c_str()), 0) << script;
  auto arrays = read_npz(path);

  NumpyRandomState rng(2020);
  const auto first_x = rng.choice_without_replacement(300, 100), first_y = rng.choice_without_replacement(250, 100);
  EXPECT_TRUE(at::equal(at::tensor(first_x, at::kLong), arrays["first_x"]));
  EXPECT_TRUE(at::equal(at::tensor(first_y, at::kLong), arrays["first_y"]));

  const auto kid = kernel_inception_distance(arrays["x"], arrays["y"], 7, 100);
  const double mean = arrays["kid"][0].item<double>(), std = arrays["kid"][1].item<double>();
  EXPECT_GT(mean, 0.05);  // the sets differ: a value well away from zero to compare
  EXPECT_NEAR(kid.mean, mean, 1e-5 * std::abs(mean));
  EXPECT_NEAR(kid.std, std, 1e-4 * std);
  EXPECT_THROW(rng.choice_without_replacement(10, 11), std::invalid_argument);
  std::filesystem::remove(path);
  std::filesystem::remove(script_path);
}

TEST(Npz, ReadsWhatNumpyWroteCompressedAndInFortranOrder) {
  // np.savez_compressed(mu=arange(3, float32), sigma=asfortranarray(arange(9.).reshape(3,3)))
  const auto arrays = read_npz(std::string(GANSWEEP_FIXTURES) + "/numpy_savez_compressed_fortran.npz");
  ASSERT_EQ(arrays.size(), 2u);
  EXPECT_EQ(arrays.at("mu").scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(arrays.at("sigma"), at::arange(9, at::kDouble).view({3, 3})));
  const auto stats = read_stats_npz(std::string(GANSWEEP_FIXTURES) + "/numpy_savez_compressed_fortran.npz");
  EXPECT_EQ(stats.mu.scalar_type(), at::kDouble);
}

TEST(Npz, WritesWhatNumpyReads) {
  const std::string path = (std::filesystem::temp_directory_path() / "gansweep-stats.npz").string();
  FeatureStats s = feature_stats(formula_features(50, 5, 0.3, 0.7, 0.2, 1.0));
  write_stats_npz(path, s);
  const auto back = read_stats_npz(path);
  EXPECT_TRUE(at::equal(back.mu, s.mu));
  EXPECT_TRUE(at::equal(back.sigma, s.sigma));
  const std::string check = "/usr/bin/python3 -c \"import numpy as n; f = n.load('" + path +
                            "'); assert f['mu'].shape == (5,) and f['sigma'].shape == (5, 5); "
                            "assert abs(f['sigma'][1, 2] - " + std::to_string(s.sigma[1][2].item<double>()) +
                            ") < 1e-5\"";
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
}

// numpy.savez stores every member with Zip64 extra fields; a flipped byte or a cut-off copy
// must be refused by name, never read as other numbers.
TEST(Npz, ReadsNumpySavezAndRefusesCorruptOrTruncatedCopies) {
  const std::string dir = std::filesystem::temp_directory_path().string();
  const std::string path = dir + "/gansweep-savez-" + std::to_string(::getpid()) + ".npz";
  const std::string write = "/usr/bin/python3 -c \"import numpy as n; n.savez('" + path +
                            "', mu=n.arange(5.), sigma=n.eye(5) * 2)\"";
  ASSERT_EQ(std::system(write.c_str()), 0) << write;
  const auto stats = read_stats_npz(path);
  EXPECT_TRUE(at::equal(stats.mu, at::arange(5, at::kDouble)));
  EXPECT_TRUE(at::equal(stats.sigma, at::eye(5, at::kDouble) * 2));

  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto refusal = [&](const std::string& contents) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
    try {
      read_npz(path);
    } catch (const NpzError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      return std::string(e.what());
    }
    return std::string("read without error");
  };
  std::string corrupt = bytes;
  const size_t sigma_data = corrupt.find("sigma.npy") + 200;  // inside sigma's data, past its .npy header
  corrupt[sigma_data] = char(corrupt[sigma_data] ^ 0x40);
  EXPECT_NE(refusal(corrupt).find("sigma.npy is corrupt (CRC-32 mismatch)"), std::string::npos);
  EXPECT_NE(refusal(bytes.substr(0, bytes.size() / 2)).find("truncated"), std::string::npos);
  std::filesystem::remove(path);
}

TEST(Npz, BadFilesNameTheFileAndTheProblem) {
  const std::string dir = std::filesystem::temp_directory_path().string();
  const std::string junk = dir + "/gansweep-junk.npz";
  std::ofstream(junk) << "not a zip";
  try {
    read_npz(junk);
    FAIL();
  } catch (const NpzError& e) {
    EXPECT_NE(std::string(e.what()).find(junk), std::string::npos) << e.what();
  }
  const std::string no_sigma = dir + "/gansweep-nosigma.npz";
  write_npz(no_sigma, {{"mu", at::zeros({3}, at::kDouble)}});
  try {
    read_stats_npz(no_sigma);
    FAIL();
  } catch (const NpzError& e) {
    EXPECT_NE(std::string(e.what()).find("no 'sigma' array"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gansweep
