#include <gtest/gtest.h>

#include <filesystem>

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

}  // namespace
}  // namespace gansweep
