#include "metrics/classifier.h"

#include <ATen/CPUGeneratorImpl.h>

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "metrics/weights.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;

// Conv 3x3 → BN → ReLU (→ max pool 2), appended to `net`.
void add_conv_block(torch::nn::Sequential& net, int64_t in, int64_t out, bool pool) {
  net->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
  net->push_back(torch::nn::BatchNorm2d(out));
  net->push_back(torch::nn::ReLU());
  if (pool) net->push_back(torch::nn::MaxPool2d(2));
}

// The same [-1, 1] scaling the GANs train on.
torch::Tensor normalize(const torch::Tensor& images) { return images.to(torch::kFloat).div(127.5).sub(1); }

// The classifier's SHA-256 labels every metric it gives, so its weights must not depend on
// the threads that trained them: ATen and OpenBLAS split their sums differently for other
// thread counts (1 and 2 OpenBLAS threads train different weights, and mpirun, which binds a
// rank to one core, changes OpenBLAS's count). Training runs on one thread of each, then the
// counts are restored. OpenBLAS's controls are looked up at run time: other LibTorch builds
// (MKL, a GPU wheel) have none, and there ATen's count governs.
class OneComputeThread {
 public:
  OneComputeThread() : torch_threads_(torch::get_num_threads()) {
    get_openblas_ = reinterpret_cast<Get>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    set_openblas_ = reinterpret_cast<Set>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (get_openblas_ && set_openblas_) {
      openblas_threads_ = get_openblas_();
      set_openblas_(1);
    }
    torch::set_num_threads(1);
  }
  ~OneComputeThread() {
    torch::set_num_threads(torch_threads_);
    if (get_openblas_ && set_openblas_) set_openblas_(openblas_threads_);
  }
  OneComputeThread(const OneComputeThread&) = delete;
  OneComputeThread& operator=(const OneComputeThread&) = delete;

 private:
  using Get = int (*)();
  using Set = void (*)(int);
  int torch_threads_, openblas_threads_ = 1;
  Get get_openblas_ = nullptr;
  Set set_openblas_ = nullptr;
};

// A short content key: labels decide what the classifier learns.
std::string labels_key(const torch::Tensor& labels) {
  const auto l = labels.to(torch::kLong);
  const auto weights = torch::arange(1, l.numel() + 1, torch::kLong) % 1000003;
  return std::to_string((l * weights).sum().item<int64_t>() % 1000000007);
}

}  // namespace

ClassifierNetImpl::ClassifierNetImpl(int64_t classes) {
  torch::nn::Sequential body;
  add_conv_block(body, 3, 32, true);
  add_conv_block(body, 32, 64, true);
  add_conv_block(body, 64, 128, false);
  body->push_back(torch::nn::AdaptiveAvgPool2d(1));
  body->push_back(torch::nn::Flatten());
  body_ = register_module("body", body);
  hidden_ = register_module("hidden", torch::nn::Linear(128, 128));
  out_ = register_module("out", torch::nn::Linear(128, classes));
}

std::pair<torch::Tensor, torch::Tensor> ClassifierNetImpl::forward(const torch::Tensor& x) {
  const auto features = torch::relu(hidden_->forward(body_->forward(x)));
  return {features, out_->forward(features)};
}

ClassifierBackbone::ClassifierBackbone(const torch::Tensor& images, const torch::Tensor& labels,
                                       const std::string& dataset, const std::string& cache_dir,
                                       const ClassifierTraining& training)
    : dataset_(dataset) {
  if (!labels.defined() || labels.numel() != images.size(0))
    throw std::invalid_argument("dataset " + dataset + " has no labels: the classifier backbone trains on them");
  const int64_t classes = labels.max().item<int64_t>() + 1;
  const int64_t n = images.size(0);
  const fs::path path = fs::path(cache_dir) / ("classifier-" + dataset + "-" + std::to_string(n) + "-" +
                                               labels_key(labels) + ".pt");
  torch::manual_seed(training.seed);
  net_ = ClassifierNet(classes);
  if (fs::exists(path)) {
    torch::load(net_, path.string());
  } else {
    const OneComputeThread one_thread;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(training.seed);
    torch::optim::Adam opt(net_->parameters(), torch::optim::AdamOptions(1e-3));
    const int64_t per_epoch = std::max<int64_t>(1, n / training.batch_size);
    const int64_t steps = std::max(training.min_steps, training.epochs * per_epoch);
    net_->train();
    torch::Tensor order;
    for (int64_t step = 0; step < steps; ++step) {
      if (step % per_epoch == 0) order = torch::randperm(n, gen, torch::kLong);
      const auto idx = order.narrow(0, (step % per_epoch) * std::min(training.batch_size, n), std::min(training.batch_size, n));
      opt.zero_grad();
      const auto loss = torch::cross_entropy_loss(net_->forward(normalize(images.index_select(0, idx))).second,
                                                  labels.index_select(0, idx).to(torch::kLong));
      loss.backward();
      opt.step();
    }
    fs::create_directories(cache_dir);
    // A per-process name: two trainers may fill the same cache at once; the rename is atomic.
    // Saved through a stream: a file name would be recorded inside the archive, and the
    // weights hash of equal weights would differ from process to process.
    const std::string tmp = path.string() + "." + std::to_string(::getpid()) + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary);
      torch::save(net_, out);
      if (!out.flush()) throw std::runtime_error("cannot write the classifier cache " + tmp);
    }
    fs::rename(tmp, path);
  }
  net_->eval();
  sha256_ = sha256_file(path.string());
  const auto predicted = extract(images).logits.argmax(1);
  accuracy_ = predicted.eq(labels.to(torch::kLong)).to(torch::kDouble).mean().item<double>();
}

BackboneOutput ClassifierBackbone::extract(const torch::Tensor& images) const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> features, logits;
  for (int64_t begin = 0; begin < images.size(0); begin += 500) {
    const auto [f, l] = net_->forward(normalize(images.slice(0, begin, begin + 500)));
    features.push_back(f);
    logits.push_back(l);
  }
  return {torch::cat(features), torch::cat(logits)};
}

}  // namespace gansweep
