#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>
#include <stb/stb_image_write.h>

namespace {

namespace fs = std::filesystem;

struct Output {
  int code;
  std::map<std::string, double> values;  // from the JSON lines
  std::string text;
};

Output run(const std::string& args) {
  const std::string command = std::string(GANSWEEP_FID_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  Output out{-1, {}, ""};
  char buf[4096];
  while (fgets(buf, sizeof buf, pipe)) out.text += buf;
  out.code = WEXITSTATUS(pclose(pipe));
  std::istringstream lines(out.text);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') {
      const auto j = nlohmann::json::parse(line);
      out.values[j["metric"]] = j["value"];
    }
  return out;
}

void write_images(const std::string& dir, int count, int size, int seed, int brightness) {
  fs::create_directories(dir);
  std::mt19937 rng(seed);
  for (int i = 0; i < count; ++i) {
    std::vector<unsigned char> rgb(size_t(size * size * 3));
    for (auto& v : rgb) v = (unsigned char)std::min(255, int(rng() % 128) + brightness);
    ASSERT_TRUE(stbi_write_png((dir + "/" + std::to_string(i) + ".png").c_str(), size, size, 3, rgb.data(), size * 3));
  }
}

class FidCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Per process: ctest runs each test of this suite as its own process, concurrently.
    dir_ = (fs::temp_directory_path() / ("gansweep-fid-command-" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    write_images(dir_ + "/a", 12, 32, 1, 0);
    write_images(dir_ + "/b", 12, 32, 2, 100);
    const std::string cmd = std::string(GANSWEEP_RANDOM_WEIGHTS_BINARY) + " " + dir_ + "/w.pth 9 > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static std::string dir_;
};
std::string FidCommand::dir_;

TEST_F(FidCommand, FoldersAndSavedStatisticsGiveTheSameFid) {
  const auto both = run(dir_ + "/a " + dir_ + "/b --weights " + dir_ + "/w.pth --is --kid --batch-size 5");
  ASSERT_EQ(both.code, 0) << both.text;
  ASSERT_TRUE(both.values.count("fid") && both.values.count("is_mean") && both.values.count("kid_mean")) << both.text;
  EXPECT_GT(both.values.at("fid"), 0.0);
  EXPECT_NE(both.text.find("FID: "), std::string::npos);
  EXPECT_NE(both.text.find("singular"), std::string::npos);  // 12 images for 2048 dimensions

  const auto saved = run("--save-stats " + dir_ + "/b " + dir_ + "/b.npz --weights " + dir_ + "/w.pth");
  ASSERT_EQ(saved.code, 0) << saved.text;
  const auto mixed = run(dir_ + "/a " + dir_ + "/b.npz --weights " + dir_ + "/w.pth");
  ASSERT_EQ(mixed.code, 0) << mixed.text;
  EXPECT_NEAR(mixed.values.at("fid"), both.values.at("fid"), 1e-6 * both.values.at("fid"));
  const auto self = run(dir_ + "/a " + dir_ + "/a --weights " + dir_ + "/w.pth");
  EXPECT_NEAR(self.values.at("fid"), 0.0, 1e-3);
}

TEST_F(FidCommand, BadInputsExitNonZeroNamingTheProblem) {
  write_images(dir_ + "/mixed", 2, 32, 3, 0);
  write_images(dir_ + "/mixed-big", 1, 48, 4, 0);
  fs::copy_file(dir_ + "/mixed-big/0.png", dir_ + "/mixed/9.png");
  auto out = run(dir_ + "/a " + dir_ + "/mixed --weights " + dir_ + "/w.pth");
  EXPECT_EQ(out.code, 1);
  EXPECT_NE(out.text.find("9.png: 48x48"), std::string::npos) << out.text;
  out = run(dir_ + "/a " + dir_ + "/b --weights " + dir_ + "/w.pth --weights-sha256 00000000");
  EXPECT_EQ(out.code, 1);
  EXPECT_NE(out.text.find("does not match"), std::string::npos) << out.text;
  out = run(dir_ + "/a " + dir_ + "/nothing --weights " + dir_ + "/w.pth");
  EXPECT_EQ(out.code, 1);
  EXPECT_NE(out.text.find("neither a folder of images nor an .npz"), std::string::npos) << out.text;
}

}  // namespace
