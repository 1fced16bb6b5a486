#include "fixture.h"

#include <sqlite3.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/store.h"
#include "coordinator/sweep.h"

namespace gansweep::test {
namespace {

namespace fs = std::filesystem;

const char* kPaper = R"(name: paper
method: grid
parameters:
  dataset: {values: [cifar10, mnist]}
  loss: {values: [ls, rahinge, rmcos]}
  seed: {values: [1, 2, 3]}
train: {schedule: epochs, epochs: 4, batch_size: 8}
metrics: {samples: 64, backbone: inception, weights: /data/w.pth}
datasets:
  cifar10: {format: synthetic, image_size: 32}
  mnist: {format: synthetic, image_size: 32}
)";

const char* kMargins = R"(name: margins
method: grid
parameters:
  dataset: {values: [cifar10, mnist]}
  loss: {value: rmcos}
  margin: {values: [0.0, 0.15, 0.3]}
  seed: {values: [1, 2]}
train: {schedule: iterations, iterations: 40, eval_every: 10, batch_size: 8}
metrics: {samples: 64, backbone: inception, weights: /data/w.pth, fid_sample_counts: [16, 32]}
datasets:
  cifar10: {format: synthetic, image_size: 32}
  mnist: {format: synthetic, image_size: 32}
priority: 10
)";

const char* kVariance = R"(name: variance
method: grid
parameters:
  dataset: {value: mnist}
  loss: {value: rmcos}
  seed: {values: [1, 2, 3, 4]}
train: {schedule: epochs, epochs: 2, batch_size: 8}
metrics: {samples: 64, backbone: inception, weights: /data/w.pth}
datasets:
  mnist: {format: synthetic, image_size: 32}
placement: every-worker
priority: 10
)";

constexpr int kLease = 3600;

MetricRecord record(int64_t step, int64_t epoch, const std::string& name, double value,
                    const std::string& backbone = "inception", const std::string& sha = kInceptionSha, int64_t samples = 64) {
  MetricRecord r;
  r.step = step;
  r.epoch = epoch;
  r.name = name;
  r.value = value;
  r.backbone = backbone;
  r.weights_sha256 = sha;
  r.samples = samples;
  return r;
}

struct Params {
  std::string dataset, loss;
  double margin = 0;
  int seed = 0;
};

Params params(const std::string& spec_json) {
  const auto spec = nlohmann::json::parse(spec_json);
  return {spec["dataset"]["name"], spec["loss"], spec["margin"], spec["seed"]};
}

double base(const std::string& dataset) { return dataset == "cifar10" ? 30 : 10; }

// One eval event of the paper sweep, as the coordinator stores it.
std::vector<MetricRecord> paper_eval(const Params& p, int epoch, bool nan_fid) {
  const std::map<std::string, double> loss_fid = {{"ls", 6}, {"rahinge", 3}, {"rmcos", 0}};
  const std::map<std::string, double> loss_rank = {{"ls", 0}, {"rahinge", 1}, {"rmcos", 2}};
  const double final_fid = base(p.dataset) + loss_fid.at(p.loss) + (p.seed - 2);
  const double fid = nan_fid ? std::numeric_limits<double>::quiet_NaN() : final_fid + 40.0 / epoch - 10;
  const double is = 2 + 0.5 * loss_rank.at(p.loss) + 0.1 * p.seed + 0.25 * epoch + (p.dataset == "mnist" ? 1 : 0);
  const int64_t step = epoch * 10;
  // One job's KID comes from another feature network: it must never be averaged in.
  const bool classifier = p.dataset == "cifar10" && p.loss == "ls" && p.seed == 1;
  const std::string kid_backbone = classifier ? "classifier" : "inception";
  const std::string kid_sha = classifier ? kClassifierSha : kInceptionSha;
  return {record(step, epoch, "fid", fid),
          record(step, epoch, "is_mean", is),
          record(step, epoch, "is_std", 0.1),
          record(step, epoch, "kid_mean", final_fid / 1000 + 0.001 * (4 - epoch), kid_backbone, kid_sha),
          record(step, epoch, "kid_std", 0.001, kid_backbone, kid_sha),
          record(step, epoch, "loss_d", 1.0 / epoch),
          record(step, epoch, "loss_g", 2.0 / epoch)};
}

std::vector<MetricRecord> margins_eval(const Params& p, int64_t step) {
  const double final_fid = base(p.dataset) + 40 * std::abs(p.margin - 0.15) + (p.seed - 1.5);
  const double fid = final_fid + 100.0 / double(step) - 2.5;
  return {record(step, 0, "fid", fid),
          record(step, 0, "fid@16", fid + 8, "inception", kInceptionSha, 16),
          record(step, 0, "fid@32", fid + 3, "inception", kInceptionSha, 32),
          record(step, 0, "is_mean", 3 + p.margin),
          record(step, 0, "loss_d", 0.5),
          record(step, 0, "loss_g", 0.7)};
}

uint32_t crc32(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16 & 0xFF), char(v >> 8 & 0xFF), char(v & 0xFF)};
}

}  // namespace

void write_png(const std::string& path, int width, int height) {
  std::string raw;  // filter byte 0, then RGB
  for (int y = 0; y < height; ++y) {
    raw += '\0';
    for (int x = 0; x < width; ++x) {
      raw += char(255 * x / std::max(1, width - 1));
      raw += char(255 * y / std::max(1, height - 1));
      raw += char(160);
    }
  }
  // zlib with stored (uncompressed) deflate blocks: no library needed.
  std::string z = "\x78\x01";
  for (size_t at = 0; at < raw.size() || at == 0; at += 65535) {
    const size_t n = std::min<size_t>(65535, raw.size() - at);
    z += char(at + n >= raw.size() ? 1 : 0);
    z += char(n & 0xFF);
    z += char(n >> 8);
    z += char(~n & 0xFF);
    z += char((~n >> 8) & 0xFF);
    z += raw.substr(at, n);
    if (at + n >= raw.size()) break;
  }
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  z += be32(b << 16 | a);
  auto chunk = [](const std::string& type, const std::string& data) {
    return be32(uint32_t(data.size())) + type + data + be32(crc32(type + data));
  };
  std::string ihdr = be32(uint32_t(width)) + be32(uint32_t(height));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, no interlace
  std::ofstream(path, std::ios::binary) << std::string("\x89PNG\r\n\x1a\n", 8) << chunk("IHDR", ihdr)
                                        << chunk("IDAT", z) << chunk("IEND", "");
}

std::string build_fixture(const std::string& dir) {
  fs::create_directories(fs::path(dir) / "grids");
  const std::string db_path = (fs::path(dir) / "results.db").string();
  int64_t now = kFixtureStart;
  std::vector<std::pair<int64_t, std::string>> grids;  // job id -> sample grid path
  {
    Store store = Store::open(db_path);
    const int64_t alpha = store.register_worker(
        {"alpha-0", "alpha",
         R"([{"index":0,"model":"NVIDIA A100-SXM4-80GB","memory_bytes":85899345920},)"
         R"({"index":1,"model":"NVIDIA A100-SXM4-80GB","memory_bytes":85899345920}])",
         32, R"({"gansweep":"0.1.0","cuda":"12.1"})"},
        now);
    const int64_t beta = store.register_worker(
        {"beta-0", "beta", R"([{"index":0,"model":"NVIDIA GeForce RTX 3090","memory_bytes":25769803776}])", 16,
         R"({"gansweep":"0.1.0","cuda":"12.2"})"},
        now);
    // The paper job left running holds one of alpha's devices; alpha offers both.
    auto devices = [&](int64_t worker) { return worker == alpha ? std::vector<int>{0, 1} : std::vector<int>{0}; };

    // paper: 18 jobs in file order; the 17th is left running, the 18th queued.
    store.submit_sweep(parse_sweep(kPaper, "paper.yaml"));
    int64_t running_attempt = 0;
    for (int i = 0; i < 17; ++i) {
      const int64_t worker = i % 2 ? beta : alpha;
      const auto lease = store.acquire(worker, devices(worker), kLease, now);
      if (!lease) throw std::runtime_error("fixture: no lease for paper job " + std::to_string(i + 1));
      const Params p = params(lease->spec_json);
      const bool running = i == 16, failed = p.dataset == "mnist" && p.loss == "rahinge" && p.seed == 3;
      const int epochs = running ? 2 : failed ? 1 : 4;
      for (int epoch = 1; epoch <= epochs; ++epoch) {
        const bool nan_fid = p.dataset == "cifar10" && p.loss == "ls" && p.seed == 2 && epoch == 4;
        store.report_progress(lease->attempt_id, epoch * 10, paper_eval(p, epoch, nan_fid));
      }
      if (i < 3) {
        grids.emplace_back(lease->job_id, (fs::path(dir) / "grids" / ("job" + std::to_string(lease->job_id) + "_step20.png")).string());
        grids.emplace_back(lease->job_id, (fs::path(dir) / "grids" / ("job" + std::to_string(lease->job_id) + "_step40.png")).string());
      }
      now += 600;
      if (running) {
        running_attempt = lease->attempt_id;
        continue;
      }
      store.finish_attempt(lease->attempt_id, failed ? kExitBadInput : kExitFinished,
                           failed ? "dataset failed to load\ndataset file /data/missing.bin not found" : "", now);
    }

    // margins: 12 jobs, alternating machines.
    store.submit_sweep(parse_sweep(kMargins, "margins.yaml"));
    for (int i = 0; i < 12; ++i) {
      const int64_t worker = i % 2 ? beta : alpha;
      const auto lease = store.acquire(worker, devices(worker), kLease, now);
      if (!lease) throw std::runtime_error("fixture: no lease for margins job " + std::to_string(i + 1));
      const Params p = params(lease->spec_json);
      for (int64_t step = 10; step <= 40; step += 10) store.report_progress(lease->attempt_id, step, margins_eval(p, step));
      now += 300;
      store.finish_attempt(lease->attempt_id, kExitFinished, "", now);
    }

    // variance: every seed on alpha, then every seed again on beta (its own copies).
    store.submit_sweep(parse_sweep(kVariance, "variance.yaml"));
    for (const int64_t worker : {alpha, beta})
      for (int i = 0; i < 4; ++i) {
        const auto lease = store.acquire(worker, devices(worker), kLease, now);
        if (!lease) throw std::runtime_error("fixture: no lease for variance job " + std::to_string(i + 1));
        const Params p = params(lease->spec_json);
        const double final_fid = 10 + 0.3 * p.seed + (worker == beta ? 1.5 : 0);
        for (int epoch = 1; epoch <= 2; ++epoch)
          store.report_progress(lease->attempt_id, epoch * 10,
                                {record(epoch * 10, epoch, "fid", final_fid + (epoch == 1 ? 5 : 0))});
        now += 120;
        store.finish_attempt(lease->attempt_id, kExitFinished, "", now);
      }

    store.heartbeat(alpha, {running_attempt}, kLease, kFixtureNow - 30);
    store.heartbeat(beta, {}, kLease, kFixtureNow - 45);
  }

  // The store has no call for artifacts (the coordinator does not record them yet), so the
  // fixture writes its sample grids as one would: kind, path on the worker, step.
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  for (size_t i = 0; i < grids.size(); ++i) {
    const auto& [job, path] = grids[i];
    const int step = i % 2 ? 40 : 20;
    const bool missing = i == 3;  // the second job's latest grid is not on this machine
    if (!missing) write_png(path, 96 + 8 * int(i), 96);
    const std::string sql = "INSERT INTO artifacts(job_id, kind, path, step) VALUES (" + std::to_string(job) +
                            ", 'sample_grid', '" + (missing ? "/nonexistent/worker/path/step40.png" : path) + "', " +
                            std::to_string(step) + ")";
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("fixture: ") + sqlite3_errmsg(db));
  }
  sqlite3_close_v2(db);
  return db_path;
}

}  // namespace gansweep::test

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace gansweep::test {

std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::temp_directory_path() /
                       ("gansweep-sweepctl-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void remove_test_dir(const std::string& dir) {
  if (const char* keep = std::getenv("GANSWEEP_KEEP_TEST_DIR"); keep && std::string(keep) == "1") {
    std::cerr << "kept " << dir << "\n";
    return;
  }
  fs::remove_all(dir);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string compare_golden(const std::string& name, const std::string& actual) {
  const fs::path path = fs::path(GANSWEEP_GOLDEN_DIR) / name;
  if (const char* update = std::getenv("GANSWEEP_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    return "";
  }
  if (!fs::exists(path)) return "golden file " + path.string() + " is missing (GANSWEEP_UPDATE_GOLDEN=1 writes it)";
  const std::string expected = read_file(path.string());
  if (expected == actual) return "";
  return "differs from " + path.string() + " (GANSWEEP_UPDATE_GOLDEN=1 rewrites it)\n--- expected\n" + expected +
         "\n--- actual\n" + actual;
}

}  // namespace gansweep::test
