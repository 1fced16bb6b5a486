// FID, IS and KID from network features (shared/reference/metrics.md §2-§4), in float64
// where the reference tools are.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <ATen/ATen.h>

namespace gansweep {

// Mean and unbiased covariance (np.cov, rowvar=False) of N x d features, float64.
struct FeatureStats {
  at::Tensor mu;     // (d)
  at::Tensor sigma;  // (d, d)
  int64_t count = 0;
};

FeatureStats feature_stats(const at::Tensor& features);

struct FrechetResult {
  double distance = 0;
  std::string warning;  // non-empty when the statistics are rank-deficient (N <= d)
};

// ‖μ₁−μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^½, with tr (Σ₁Σ₂)^½ = Σ √λ(Lᵀ Σ₂ L), Σ₁ = L Lᵀ
// (or S Σ₂ S, S = Σ₁^½, when Σ₁ is singular): symmetric eigenvalues only, finite even for
// singular covariances (never NaN).
// Throws std::invalid_argument when the dimensions differ.
FrechetResult frechet_distance(const FeatureStats& a, const FeatureStats& b);

struct MeanStd {
  double mean = 0, std = 0;  // std is the population std (ddof 0), as the reference tools
};

// Inception Score from unbiased logits (N x C): softmax in float64, `splits` contiguous
// splits [k·N/splits, (k+1)·N/splits), IS_k = exp(mean KL(p(y|x) ‖ p̄(y))).
MeanStd inception_score(const at::Tensor& logits, int splits = 10);

// Kernel Inception Distance: unbiased MMD² with the cubic kernel (xᵀy/d + 1)³ in float32,
// over `subsets` random subsets of `subset_size` rows of each set (without replacement),
// drawn as torch-fidelity draws them: numpy's RandomState(seed).choice, real then generated,
// so the subsets are torch-fidelity's own. Throws std::invalid_argument when a set has
// fewer rows than subset_size.
MeanStd kernel_inception_distance(const at::Tensor& real, const at::Tensor& fake, int subsets = 100,
                                  int64_t subset_size = 1000, uint32_t seed = 2020);

}  // namespace gansweep
