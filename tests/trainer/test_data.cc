#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <stb/stb_image_write.h>

#include "fixtures.h"
#include "trainer/data/file_io.h"
#include "trainer/data/image_set.h"
#include "trainer/data/resize.h"

namespace gansweep {
namespace {

using testing::temp_dir;
namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

int ramp(int i, int y, int x) { return (i * 5 + y * 28 + x) % 256; }

TEST(Resize, NearestMatchesPilSourceIndex) {
  // 28 -> 32: output x takes source floor((x + 0.5) * 28 / 32).
  Image in{28, 1, 1, {}};
  for (int x = 0; x < 28; ++x) in.data.push_back(uint8_t(x * 9));
  const Image out = resize_nearest_pil(in, 32, 1);
  for (int x = 0; x < 32; ++x) EXPECT_EQ(out.at(x, 0, 0), in.at(int((x + 0.5) * 0.875), 0, 0)) << x;
  EXPECT_EQ(out.at(0, 0, 0), 0);
  EXPECT_EQ(out.at(1, 0, 0), 9);   // floor(1.3125) = 1
  EXPECT_EQ(out.at(3, 0, 0), 27);  // floor(3.0625) = 3
  EXPECT_EQ(out.at(4, 0, 0), 27);  // floor(3.9375) = 3: a repeated column
}

TEST(Resize, PilBilinearIsAntialiasedWithHandComputedWeights) {
  // 4 -> 2: the triangle filter is widened to support 2. Output 0 sees pixels 0..2 with
  // weights 3/7, 3/7, 1/7; output 1 sees pixels 1..3 with 1/7, 3/7, 3/7.
  Image in{4, 1, 1, {0, 80, 160, 240}};
  const Image out = resize_bilinear_pil(in, 2, 1);
  EXPECT_EQ(out.at(0, 0, 0), 57);   // 400/7 = 57.14
  EXPECT_EQ(out.at(1, 0, 0), 183);  // 1280/7 = 182.86
  // 96 -> 48 interior pixels: (p[2x-1] + 3 p[2x] + 3 p[2x+1] + p[2x+2]) / 8.
  Image wide{96, 1, 1, {}};
  for (int x = 0; x < 96; ++x) wide.data.push_back(uint8_t((x * x) % 251));
  const Image half = resize_bilinear_pil(wide, 48, 1);
  for (int x = 1; x < 47; ++x) {
    const double v = (wide.at(2 * x - 1, 0, 0) + 3.0 * wide.at(2 * x, 0, 0) + 3.0 * wide.at(2 * x + 1, 0, 0) +
                      wide.at(2 * x + 2, 0, 0)) / 8;
    EXPECT_NEAR(half.at(x, 0, 0), v, 0.5 + 1e-9) << x;
  }
}

TEST(Resize, OpenCvLinearUsesHalfPixelCentres) {
  Image in{4, 1, 1, {0, 100, 200, 250}};
  const Image out = resize_linear_cv(in, 2, 1);  // sources 0.5 and 2.5
  EXPECT_EQ(out.at(0, 0, 0), 50);
  EXPECT_EQ(out.at(1, 0, 0), 225);
}

TEST(Idx, ReadsPlainAndGzipAsNearest32x32Rgb) {
  const std::string dir = temp_dir("idx");
  const auto bytes = testing::idx_images(5, 28, 28, ramp);
  testing::write_bytes(dir + "/plain-idx3-ubyte", bytes);
  testing::write_gzip(dir + "/train-images-idx3-ubyte.gz", bytes);
  const ImageSet plain = read_idx(dir + "/plain-idx3-ubyte", 0);
  const ImageSet gz = read_idx(dir, 0);  // a folder: finds train-images-idx3-ubyte.gz
  EXPECT_EQ(plain.pixels, gz.pixels);
  ASSERT_EQ(plain.count, 5);
  EXPECT_EQ(plain.height, 32);
  EXPECT_EQ(plain.width, 32);
  for (int i : {0, 4})
    for (int y : {0, 13, 31})
      for (int x : {0, 7, 31}) {
        const int expected = ramp(i, int((y + 0.5) * 0.875), int((x + 0.5) * 0.875));
        for (int c = 0; c < 3; ++c) EXPECT_EQ(plain.image(i)[(c * 32 + y) * 32 + x], expected);
      }
  EXPECT_EQ(read_idx(dir, 2).count, 2);
}

TEST(Idx, BadFilesGetErrorsNamingFileAndProblem) {
  const std::string dir = temp_dir("idx-bad");
  auto bytes = testing::idx_images(3, 28, 28, ramp);
  bytes.resize(bytes.size() - 100);
  testing::write_bytes(dir + "/truncated", bytes);
  EXPECT_NE(error_of([&] { read_idx(dir + "/truncated", 0); }).find(dir + "/truncated: header says 3 images"),
            std::string::npos);
  bytes = testing::idx_images(3, 28, 28, ramp);
  bytes[3] = 1;  // a label file's magic
  testing::write_bytes(dir + "/labels", bytes);
  EXPECT_NE(error_of([&] { read_idx(dir + "/labels", 0); }).find("label file"), std::string::npos);
  bytes[2] = 9;
  testing::write_bytes(dir + "/garbage", bytes);
  EXPECT_NE(error_of([&] { read_idx(dir + "/garbage", 0); }).find("bad IDX magic"), std::string::npos);
  testing::write_bytes(dir + "/broken.gz", {0x1f, 0x8b, 8, 0, 1, 2, 3});
  EXPECT_NE(error_of([&] { read_idx(dir + "/broken.gz", 0); }).find("broken.gz"), std::string::npos);
  EXPECT_NE(error_of([&] { read_idx(dir + "/nothing-here", 0); }).find("no such file"), std::string::npos);
  EXPECT_NE(error_of([&] { read_idx(dir, 0); }).find("none of train-images-idx3-ubyte.gz"), std::string::npos);
}

TEST(Idx, ReadsTheRealFashionMnistFiles) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  ASSERT_TRUE(fs::exists(dir + "/train-images-idx3-ubyte.gz")) << "install the Debian package dataset-fashion-mnist";
  const ImageSet all = read_idx(dir, 0);
  EXPECT_EQ(all.count, 60000);
  ASSERT_EQ(all.labels.size(), 60000u);  // from train-labels-idx1-ubyte.gz
  EXPECT_EQ(all.labels[0], 9);           // the first training image is an ankle boot
  EXPECT_EQ(*std::max_element(all.labels.begin(), all.labels.end()), 9);
  const ImageSet test = read_idx(dir + "/t10k-images-idx3-ubyte.gz", 1000);
  EXPECT_EQ(test.count, 1000);
  // Fashion-MNIST: dark backgrounds, bright garments. Corners are black in nearly every image.
  double corner = 0, total = 0;
  for (int64_t i = 0; i < all.count; i += 100) {
    corner += all.image(i)[0];
    for (int64_t p = 0; p < 1024; ++p) total += all.image(i)[p];
  }
  EXPECT_LT(corner / 600, 2.0);
  EXPECT_GT(total / (600 * 1024), 40.0);
  EXPECT_LT(total / (600 * 1024), 120.0);
}

TEST(Cifar10, ReadsRecordsAsNchwAndValidates) {
  const std::string dir = temp_dir("cifar");
  for (int b = 1; b <= 5; ++b) testing::write_bytes(dir + "/data_batch_" + std::to_string(b) + ".bin",
                                                    testing::cifar_records({1, 2, 3}));
  const ImageSet set = read_cifar10(dir, 0);
  ASSERT_EQ(set.count, 15);
  EXPECT_EQ(set.labels, (std::vector<int64_t>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}));
  EXPECT_EQ(set.image(1)[(2 * 32 + 4) * 32 + 5], (1 + 14 + 12 + 5) % 256);  // image 1, B, y 4, x 5
  EXPECT_EQ(read_cifar10(dir, 4).count, 4);

  auto bad = testing::cifar_records({1, 2});
  bad.pop_back();
  testing::write_bytes(dir + "/short.bin", bad);
  EXPECT_NE(error_of([&] { read_cifar10(dir + "/short.bin", 0); }).find("not a multiple of the CIFAR-10 record size"),
            std::string::npos);
  testing::write_bytes(dir + "/c100.bin", testing::cifar_records({1, 42}));
  EXPECT_NE(error_of([&] { read_cifar10(dir + "/c100.bin", 0); }).find("label 42"), std::string::npos);
  fs::remove(dir + "/data_batch_3.bin");
  EXPECT_NE(error_of([&] { read_cifar10(dir, 0); }).find("data_batch_3.bin"), std::string::npos);
}

TEST(Stl10, TransposesColumnMajorImagesAndHalvesThem) {
  const std::string dir = temp_dir("stl");
  // Stored column-major per channel: byte (c, x, y). Value depends on the column x only.
  std::vector<unsigned char> bytes;
  for (int i = 0; i < 2; ++i)
    for (int c = 0; c < 3; ++c)
      for (int x = 0; x < 96; ++x)
        for (int y = 0; y < 96; ++y) bytes.push_back((unsigned char)(c == 0 ? x * 2 : c == 1 ? 100 : 50 + i));
  testing::write_bytes(dir + "/train_X.bin", bytes);
  const ImageSet set = read_stl10(dir, 0);
  ASSERT_EQ(set.count, 2);
  ASSERT_EQ(set.width, 48);
  for (int y : {0, 20, 47}) {
    // Red is 2x: output column x averages columns 2x-1..2x+2 with 1,3,3,1 -> 2*(2x+0.5) = 4x+1.
    EXPECT_EQ(set.image(0)[y * 48 + 10], 41);
    EXPECT_EQ(set.image(0)[(48 + y) * 48 + 10], 100);
    EXPECT_EQ(set.image(1)[(96 + y) * 48 + 30], 51);
  }
  bytes.resize(bytes.size() - 7);
  testing::write_bytes(dir + "/train_X.bin", bytes);
  EXPECT_NE(error_of([&] { read_stl10(dir, 0); }).find("27648"), std::string::npos);
}

void write_png(const std::string& path, int w, int h, const std::function<std::array<int, 3>(int, int)>& color) {
  std::vector<uint8_t> rgb;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int v : color(x, y)) rgb.push_back(uint8_t(v));
  ASSERT_TRUE(stbi_write_png(path.c_str(), w, h, 3, rgb.data(), w * 3));
}

TEST(Cat, CropsAlignedFacesAndTakesReadyCrops) {
  const std::string dir = temp_dir("cat");
  // R encodes x, G encodes y, so the crop's position can be read from its pixels.
  write_png(dir + "/00000001_000.png", 200, 200, [](int x, int y) { return std::array<int, 3>{x, y, 7}; });
  // Eyes level at (80,100) and (120,100); ear span from x=40 (left ear 1) to x=160 (right ear 3).
  std::ofstream(dir + "/00000001_000.png.cat") << "9 80 100 120 100 100 130 40 60 50 40 60 60 140 60 150 40 160 60 ";
  const ImageSet one = read_cat(dir, 0);
  ASSERT_EQ(one.count, 1);
  // Box: width 120 from x = 100 - 60 = 40; top at y = 100 - 2*120/5 = 52; resized 120 -> 64.
  EXPECT_EQ(one.image(0)[0], 40);                   // R at (0,0): source x 40.44
  EXPECT_EQ(one.image(0)[4096], 52);                // G at (0,0): source y 52.44
  EXPECT_EQ(one.image(0)[63], 159);                 // R at (63,0): source x 158.56
  EXPECT_EQ(one.image(0)[4096 + 63 * 64], 171);     // G at (0,63): source y 170.56
  EXPECT_EQ(one.image(0)[2 * 4096 + 100], 7);

  // A ready 64x64 crop (no annotation) is taken as it is.
  write_png(dir + "/ready.png", 64, 64, [](int x, int y) { return std::array<int, 3>{x + y, 3, 200}; });
  const ImageSet two = read_cat(dir, 0);
  ASSERT_EQ(two.count, 2);
  EXPECT_EQ(two.image(1)[5 * 64 + 9], 14);
  EXPECT_EQ(two.image(1)[2 * 4096 + 77], 200);

  // Ears 40 px apart: the crop is under 64 px and is dropped, as the reference's size filter.
  const std::string small = temp_dir("cat-small");
  write_png(small + "/a.png", 200, 200, [](int x, int y) { return std::array<int, 3>{x, y, 0}; });
  std::ofstream(small + "/a.png.cat") << "9 90 100 110 100 100 120 80 60 85 50 90 60 110 60 115 50 120 60";
  EXPECT_NE(error_of([&] { read_cat(small, 0); }).find("no cat face"), std::string::npos);
  std::ofstream(small + "/a.png.cat") << "9 90 100 110";
  EXPECT_NE(error_of([&] { read_cat(small, 0); }).find("a.png.cat: annotation has fewer than 9 points"),
            std::string::npos);
  testing::write_bytes(small + "/a.png", {1, 2, 3, 4});
  EXPECT_NE(error_of([&] { read_cat(small, 0); }).find("a.png: cannot decode image"), std::string::npos);
}

TEST(Synthetic, IsSeededAndIndependentOfCount) {
  const ImageSet a = make_synthetic(48, 10, 3), b = make_synthetic(48, 4, 3), c = make_synthetic(48, 4, 4);
  EXPECT_EQ(a.height, 48);
  EXPECT_TRUE(std::equal(b.pixels.begin(), b.pixels.end(), a.pixels.begin()));
  EXPECT_NE(b.pixels, c.pixels);
  EXPECT_NE(std::vector<uint8_t>(a.image(0), a.image(1)), std::vector<uint8_t>(a.image(1), a.image(2)));
}

TEST(LoadDataset, AppliesTheLimitAndTheArchitectureSize) {
  DatasetSpec spec;
  spec.format = DatasetFormat::synthetic;
  spec.image_size = 64;
  spec.synthetic_count = 50;
  spec.limit = 20;
  EXPECT_EQ(load_dataset(spec, 1).count, 20);
  EXPECT_EQ(image_size_for(spec), 64);
  spec.format = DatasetFormat::stl10;
  EXPECT_EQ(image_size_for(spec), 48);
  spec.format = DatasetFormat::idx;
  EXPECT_EQ(image_size_for(spec), 32);
}

}  // namespace
}  // namespace gansweep
