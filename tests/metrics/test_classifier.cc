#include <gtest/gtest.h>

#include <filesystem>

#include <unistd.h>

#include "metrics/classifier.h"

namespace gansweep {
namespace {

// Two classes a classifier must tell apart: dark images with a bright top half, and the reverse.
std::pair<torch::Tensor, torch::Tensor> two_class_images(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto images = torch::randint(0, 60, {n, 3, 32, 32}, torch::kUInt8);
  const auto labels = torch::arange(n, torch::kLong) % 2;
  for (int64_t i = 0; i < n; ++i) images[i].narrow(1, labels[i].item<int64_t>() ? 16 : 0, 16).add_(180);
  return {images, labels};
}

TEST(ClassifierBackbone, LearnsTheLabelsAndIsCachedByContent) {
  const std::string cache = (std::filesystem::temp_directory_path() / "gansweep-classifier-cache").string();
  std::filesystem::remove_all(cache);
  const auto [images, labels] = two_class_images(200, 1);
  ClassifierTraining training;
  training.min_steps = 40;
  training.batch_size = 50;
  const ClassifierBackbone a(images, labels, "two-halves", cache, training);
  EXPECT_GT(a.train_accuracy(), 0.95);
  EXPECT_EQ(a.name(), "classifier/two-halves");
  const auto out = a.extract(images.slice(0, 0, 7));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{7, 128}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{7, 2}));
  // Loaded from the cache: the same weights, so the same hash and features.
  const ClassifierBackbone b(images, labels, "two-halves", cache, training);
  EXPECT_EQ(a.weights_sha256(), b.weights_sha256());
  EXPECT_TRUE(torch::equal(b.extract(images.slice(0, 0, 7)).features, out.features));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(cache), std::filesystem::directory_iterator()), 1);
  EXPECT_THROW(ClassifierBackbone(images, torch::Tensor(), "unlabelled", cache, training), std::invalid_argument);
}

// The weights hash labels every metric, so the weights must not depend on the threads that
// trained them (a worker's job and an mpirun rank, bound to one core, run different counts).
TEST(ClassifierBackbone, TrainsTheSameWeightsOnAnyNumberOfThreads) {
  const std::string cache = (std::filesystem::temp_directory_path() /
                             ("gansweep-classifier-threads-" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(cache);
  const auto [images, labels] = two_class_images(200, 2);
  ClassifierTraining training;
  training.min_steps = 20;
  training.batch_size = 50;
  const int threads_before = torch::get_num_threads();
  torch::set_num_threads(2);
  const ClassifierBackbone two(images, labels, "two-threads", cache + "/two", training);
  EXPECT_EQ(torch::get_num_threads(), 2);  // restored after training
  torch::set_num_threads(1);
  const ClassifierBackbone one(images, labels, "two-threads", cache + "/one", training);
  torch::set_num_threads(threads_before);
  EXPECT_EQ(one.weights_sha256(), two.weights_sha256());
  std::filesystem::remove_all(cache);
}

}  // namespace
}  // namespace gansweep
