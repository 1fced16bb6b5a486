#include "metrics/statistics.h"

#include <cmath>
#include <stdexcept>

#include "metrics/numpy_random.h"

namespace gansweep {

FeatureStats feature_stats(const at::Tensor& features) {
  if (features.dim() != 2 || features.size(0) < 2)
    throw std::invalid_argument("feature_stats: need an N x d matrix with N >= 2");
  const auto x = features.to(at::kDouble);
  const auto mu = x.mean(0);
  const auto centred = x - mu;
  return {mu, at::mm(centred.t(), centred) / double(x.size(0) - 1), x.size(0)};
}

FrechetResult frechet_distance(const FeatureStats& a, const FeatureStats& b) {
  if (a.mu.numel() != b.mu.numel())
    throw std::invalid_argument("frechet_distance: feature dimensions differ (" + std::to_string(a.mu.numel()) +
                                " vs " + std::to_string(b.mu.numel()) + ")");
  const int64_t d = a.mu.numel();
  FrechetResult result;
  if ((a.count > 0 && a.count <= d) || (b.count > 0 && b.count <= d))
    result.warning = "covariance is singular (" + std::to_string(std::min(a.count, b.count)) + " samples for " +
                     std::to_string(d) + " dimensions): FID is finite but biased; use at least " +
                     std::to_string(d + 1) + " samples (10,000 recommended)";
  const auto s1 = a.sigma.to(at::kDouble), s2 = b.sigma.to(at::kDouble);
  // Σ₁Σ₂ is similar to a symmetric PSD matrix whose eigenvalues' square roots sum to the
  // trace: Lᵀ Σ₂ L with Σ₁ = L Lᵀ (Cholesky, fast) when Σ₁ is positive definite, else
  // S Σ₂ S with S = Σ₁^½ from an eigendecomposition (eigenvalues clipped at 0).
  const auto [chol, info] = at::linalg_cholesky_ex(s1);
  at::Tensor m;
  if (info.item<int64_t>() == 0) {
    m = at::mm(at::mm(chol.t(), s2), chol);
  } else {
    const auto [d1, u1] = at::linalg_eigh((s1 + s1.t()) / 2);
    const auto root1 = at::mm(u1 * d1.clamp_min(0).sqrt(), u1.t());
    m = at::mm(at::mm(root1, s2), root1);
  }
  m = (m + m.t()) / 2;
  const double trace_root = at::linalg_eigvalsh(m).clamp_min(0).sqrt().sum().item<double>();
  const auto diff = a.mu.to(at::kDouble) - b.mu.to(at::kDouble);
  result.distance = diff.dot(diff).item<double>() + s1.trace().item<double>() + s2.trace().item<double>() -
                    2 * trace_root;
  return result;
}

MeanStd inception_score(const at::Tensor& logits, int splits) {
  if (logits.dim() != 2 || logits.size(0) < splits)
    throw std::invalid_argument("inception_score: need N x C logits with N >= splits");
  const auto log_p = at::log_softmax(logits.to(at::kDouble), 1);
  const int64_t n = logits.size(0);
  std::vector<double> scores;
  for (int k = 0; k < splits; ++k) {
    const int64_t begin = k * n / splits, end = (k + 1) * n / splits;
    const auto part = log_p.slice(0, begin, end), p = part.exp();
    const auto log_mean = at::log(p.mean(0));
    // p·(log p − log p̄), taking 0·log 0 = 0 where a probability underflows to zero.
    const auto kl = at::where(p > 0, p * (part - log_mean), at::zeros_like(p)).sum(1);
    scores.push_back(std::exp(kl.mean().item<double>()));
  }
  const auto t = at::tensor(scores, at::kDouble);
  return {t.mean().item<double>(), t.std(/*unbiased=*/false).item<double>()};
}

namespace {

at::Tensor cubic_kernel(const at::Tensor& x, const at::Tensor& y) {
  return (at::mm(x, y.t()) / double(x.size(1)) + 1).pow(3);
}

// Unbiased MMD²: off-diagonal means of K_xx and K_yy minus twice the mean of K_xy.
double mmd2_unbiased(const at::Tensor& x, const at::Tensor& y) {
  const double m = double(x.size(0));
  const auto kxx = cubic_kernel(x, x), kyy = cubic_kernel(y, y), kxy = cubic_kernel(x, y);
  const double off_xx = (kxx.sum() - kxx.diagonal().sum()).item<double>();
  const double off_yy = (kyy.sum() - kyy.diagonal().sum()).item<double>();
  return (off_xx + off_yy) / (m * (m - 1)) - 2 * kxy.sum().item<double>() / (m * m);
}

}  // namespace

MeanStd kernel_inception_distance(const at::Tensor& real, const at::Tensor& fake, int subsets,
                                  int64_t subset_size, uint32_t seed) {
  if (real.size(0) < subset_size || fake.size(0) < subset_size)
    throw std::invalid_argument("kernel_inception_distance: subset size " + std::to_string(subset_size) +
                                " exceeds the samples (" + std::to_string(real.size(0)) + " real, " +
                                std::to_string(fake.size(0)) + " generated)");
  NumpyRandomState rng(seed);
  const auto x = real.to(at::kFloat), y = fake.to(at::kFloat);
  std::vector<double> values;
  for (int s = 0; s < subsets; ++s) {  // torch-fidelity's order: the real subset, then the generated
    const auto ix = rng.choice_without_replacement(x.size(0), subset_size);
    const auto iy = rng.choice_without_replacement(y.size(0), subset_size);
    values.push_back(mmd2_unbiased(x.index_select(0, at::tensor(ix, at::kLong)),
                                   y.index_select(0, at::tensor(iy, at::kLong))));
  }
  const auto t = at::tensor(values, at::kDouble);
  return {t.mean().item<double>(), t.std(/*unbiased=*/false).item<double>()};
}

}  // namespace gansweep
