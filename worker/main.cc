// worker --coordinator HOST:PORT (--gpus 0,1 | --cpu-ranks N) [--name NAME] [--host HOST]
//        [--work-dir DIR] [--trainer PATH] [--mpirun PATH] [--poll-ms N]
#include <atomic>
#include <csignal>
#include <iostream>
#include <sstream>
#include <string>

#include "worker/worker.h"

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

constexpr const char* kUsage =
    "usage: worker --coordinator HOST:PORT (--gpus 0,1 | --cpu-ranks N) [--name NAME] [--host HOST]\n"
    "              [--work-dir DIR] [--trainer PATH] [--mpirun PATH] [--poll-ms N]\n";

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> values;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    size_t used = 0;
    const int value = std::stoi(item, &used);
    if (used != item.size() || value < 0) throw std::invalid_argument("bad device index '" + item + "'");
    values.push_back(value);
  }
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  gansweep::WorkerOptions options;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
        return argv[++i];
      };
      if (arg == "--coordinator") options.coordinator = value();
      else if (arg == "--gpus") options.gpus = parse_list(value());
      else if (arg == "--cpu-ranks") options.cpu_ranks = std::stoi(value());
      else if (arg == "--name") options.name = value();
      else if (arg == "--host") options.host = value();
      else if (arg == "--work-dir") options.work_dir = value();
      else if (arg == "--trainer") options.trainer = value();
      else if (arg == "--mpirun") options.mpirun = value();
      else if (arg == "--poll-ms") options.poll_ms = std::stoi(value());
      else if (arg == "--help") { std::cout << kUsage; return 0; }
      else throw std::invalid_argument("unknown option " + arg);
    }
    if (options.coordinator.empty()) throw std::invalid_argument("--coordinator is required");
    if (options.gpus.empty() == (options.cpu_ranks <= 0))
      throw std::invalid_argument("give either --gpus or --cpu-ranks N (N >= 1)");
    if (options.poll_ms < 1) throw std::invalid_argument("--poll-ms must be at least 1");
  } catch (const std::exception& e) {
    std::cerr << "worker: " << e.what() << "\n" << kUsage;
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  return gansweep::run_worker(options, g_stop);
}
