// Metrics speed, C++ side (bench/bench_metrics.sh runs it next to the Python reference):
// FID Inception forward passes per second on 299x299 batches, and the Fréchet distance of
// two 2048-d statistics, which it also writes to an .npz so scipy can compute the same value.
#include <chrono>
#include <iostream>

#include <nlohmann/json.hpp>

#include "metrics/inception.h"
#include "metrics/npz.h"
#include "metrics/statistics.h"
#include "metrics/weights.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: bench_metrics BATCH BATCHES STATS_OUT_DIR\n";
    return 2;
  }
  using Clock = std::chrono::steady_clock;
  const int64_t batch = std::stoll(argv[1]), batches = std::stoll(argv[2]);
  const std::string dir = argv[3];

  gansweep::FidInception net;
  gansweep::randomize_inception(*net, 1);
  net->fold_batch_norm();  // as the evaluator runs it
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({batch, 3, 299, 299}) * 2 - 1;
  net->forward_normalized(x);  // warm-up
  auto start = Clock::now();
  for (int64_t i = 0; i < batches; ++i) net->forward_normalized(x);
  const double inception_s = std::chrono::duration<double>(Clock::now() - start).count();

  // Two well-conditioned 2048-d statistics from 4096 correlated random features each.
  torch::manual_seed(2);
  const auto mix = torch::randn({2048, 2048}, torch::kDouble) / 45.0;
  const auto a = gansweep::feature_stats(torch::randn({4096, 2048}, torch::kDouble).mm(mix));
  const auto b = gansweep::feature_stats((torch::randn({4096, 2048}, torch::kDouble) + 0.1).mm(mix));
  gansweep::write_stats_npz(dir + "/a.npz", a);
  gansweep::write_stats_npz(dir + "/b.npz", b);
  start = Clock::now();
  const double fid = gansweep::frechet_distance(a, b).distance;
  const double fid_s = std::chrono::duration<double>(Clock::now() - start).count();

  std::cout << nlohmann::json{{"implementation", "c++"},
                              {"images_per_second", double(batch * batches) / inception_s},
                              {"fid", fid},
                              {"fid_seconds", fid_s},
                              {"threads", torch::get_num_threads()}}
                   .dump()
            << "\n";
  return 0;
}
