// A results database built through the store API, as a coordinator would have written it,
// with numbers a reader can check by hand (fixture.cc says how each is made).
//
//   paper    dataset {cifar10, mnist} x loss {ls, rahinge, rmcos} x seed {1, 2, 3}, 4 epochs.
//            Final FID = base (cifar10 30, mnist 10) + loss (ls 6, rahinge 3, rmcos 0) + (seed - 2).
//            cifar10/ls/seed 2 reports a non-finite final FID; mnist/rahinge/seed 3 failed;
//            mnist/rmcos/seed 2 is running (2 epochs reported); mnist/rmcos/seed 3 is queued.
//            cifar10/ls/seed 1 reports KID from the classifier backbone, the others inception.
//   margins  rmcos, dataset {cifar10, mnist} x margin {0.0, 0.15, 0.3} x seed {1, 2},
//            iterations schedule (steps 10..40), FID also of the first 16 and 32 samples.
//   variance rmcos on mnist, seeds 1-4, placement every-worker: each seed once on host alpha
//            (NVIDIA A100-SXM4-80GB) and once on host beta (NVIDIA GeForce RTX 3090).
#pragma once

#include <cstdint>
#include <string>

namespace gansweep::test {

constexpr int64_t kFixtureStart = 1700000000;  // Unix seconds of the first lease
constexpr int64_t kFixtureNow = 1700000000 + 40 * 600;  // after every event of the fixture
constexpr const char* kInceptionSha = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b";
constexpr const char* kClassifierSha = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

// Builds dir/results.db and the sample grid PNGs under dir/grids; returns the database path.
// The grid of the paper sweep's job 2 is recorded at a path that does not exist.
std::string build_fixture(const std::string& dir);

// Writes a width x height RGB PNG (a colour gradient) without any library.
void write_png(const std::string& path, int width, int height);

}  // namespace gansweep::test

namespace gansweep::test {

// A fresh folder for one test case (ctest runs the cases as concurrent processes).
std::string test_dir();
// Removes it, unless GANSWEEP_KEEP_TEST_DIR=1 (to look at the plots a test drew).
void remove_test_dir(const std::string& dir);
std::string read_file(const std::string& path);

// Compares `actual` with tests/sweepctl/golden/NAME; GANSWEEP_UPDATE_GOLDEN=1 rewrites it.
// Returns a message describing the difference, empty when equal.
std::string compare_golden(const std::string& name, const std::string& actual);

}  // namespace gansweep::test
