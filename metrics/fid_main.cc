// fid: FID (and on request IS, KID) between two inputs, each a folder of images or an .npz
// of statistics, like pytorch-fid's command line. Prints a readable line and a JSON line per
// metric.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <stb/stb_image.h>

#include "metrics/evaluator.h"
#include "metrics/npz.h"
#include "metrics/weights.h"

namespace {

namespace fs = std::filesystem;
using namespace gansweep;

bool is_npz(const std::string& path) { return fs::path(path).extension() == ".npz"; }

// All images of a folder (sorted by name) as uint8 (N, 3, H, W); they must share one size.
torch::Tensor read_image_folder(const std::string& folder) {
  if (!fs::is_directory(folder)) throw std::runtime_error(folder + ": neither a folder of images nor an .npz file");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error(folder + ": no .png/.jpg images");
  std::vector<torch::Tensor> images;
  for (const auto& file : files) {
    int w = 0, h = 0, c = 0;
    unsigned char* data = stbi_load(file.c_str(), &w, &h, &c, 3);
    if (!data) throw std::runtime_error(file.string() + ": cannot decode (" + stbi_failure_reason() + ")");
    images.push_back(torch::from_blob(data, {h, w, 3}, torch::kUInt8).permute({2, 0, 1}).clone());
    stbi_image_free(data);
    if (images.back().sizes() != images.front().sizes())
      throw std::runtime_error(file.string() + ": " + std::to_string(w) + "x" + std::to_string(h) +
                               ", but the folder's first image is " + std::to_string(images.front().size(2)) + "x" +
                               std::to_string(images.front().size(1)) + " (all images must share one size)");
  }
  return torch::stack(images);
}

void report(const std::string& metric, double value, const std::string& label, const Backbone& net) {
  std::cout << label << ": " << value << "\n"
            << nlohmann::json{{"metric", metric}, {"value", value}, {"backbone", net.name()},
                              {"weights_sha256", net.weights_sha256()}}
                   .dump()
            << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fid: Frechet Inception Distance between two folders of images or .npz statistics"};
  std::vector<std::string> inputs;
  std::string weights, sha256, preprocess = "tensorflow";
  bool want_is = false, want_kid = false, save_stats = false;
  int64_t batch_size = 50;
  int threads = 0;
  app.add_option("inputs", inputs, "two folders of images or .npz files (mu, sigma)")->expected(2)->required();
  app.add_option("--weights", weights, "FID Inception weights, zip-format state dict (docs/metrics.md)")->required();
  app.add_option("--weights-sha256", sha256, "expected SHA-256 (or prefix) of the weights file");
  app.add_option("--preprocess", preprocess, "tensorflow (TF1 resize, the paper's) or pytorch-fid")
      ->check(CLI::IsMember({"tensorflow", "pytorch-fid"}));
  app.add_flag("--is", want_is, "also the Inception Score of the first input");
  app.add_flag("--kid", want_kid, "also the Kernel Inception Distance (both inputs must be folders)");
  app.add_flag("--save-stats", save_stats, "as pytorch-fid: write the statistics of the folder (first input) to the .npz (second)");
  app.add_option("--batch-size", batch_size, "images per forward pass")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "intra-op threads (0: LibTorch's default)")->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) torch::set_num_threads(threads);

  try {
    const InceptionBackbone net(InceptionConfig{
        weights, sha256, preprocess == "pytorch-fid" ? Preprocess::pytorch_fid : Preprocess::tensorflow, batch_size});
    if (inputs.size() != 2) throw std::runtime_error("two inputs are needed");
    if (save_stats) {
      write_stats_npz(inputs[1], feature_stats(net.extract(read_image_folder(inputs[0])).features));
      std::cout << "statistics of " << inputs[0] << " written to " << inputs[1] << "\n";
      return 0;
    }
    std::vector<FeatureStats> stats;
    std::vector<BackboneOutput> features;
    for (const auto& input : inputs) {
      if (is_npz(input)) {
        stats.push_back(read_stats_npz(input));
        features.push_back({});
      } else {
        features.push_back(net.extract(read_image_folder(input)));
        stats.push_back(feature_stats(features.back().features));
      }
    }
    const auto fid = frechet_distance(stats[0], stats[1]);
    if (!fid.warning.empty()) std::cerr << "fid: warning: " << fid.warning << "\n";
    report("fid", fid.distance, "FID", net);
    if (want_is) {
      if (!features[0].logits.defined()) throw std::runtime_error("--is needs images as the first input");
      const auto is = inception_score(features[0].logits, 10);
      report("is_mean", is.mean, "IS", net);
      report("is_std", is.std, "IS std", net);
    }
    if (want_kid) {
      if (!features[0].features.defined() || !features[1].features.defined())
        throw std::runtime_error("--kid needs two folders of images");
      const int64_t subset = std::min<int64_t>({1000, features[0].features.size(0), features[1].features.size(0)});
      const auto kid = kernel_inception_distance(features[1].features, features[0].features, 100, subset);
      report("kid_mean", kid.mean, "KID", net);
      report("kid_std", kid.std, "KID std", net);
    }
  } catch (const std::exception& e) {
    std::cerr << "fid: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
