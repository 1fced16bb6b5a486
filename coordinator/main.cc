// coordinator --sweep FILE [--db results.db] [--listen 127.0.0.1:PORT] [--lease-seconds N]
//             [--exit-when-done] [--allow-new-version]
//             [--local-workers N [--trainer PATH] [--worker PATH] [--work-dir DIR]]
// Submits the sweep (re-running the same file resumes it), serves the gRPC service and
// reaps expired leases until SIGTERM/SIGINT, or until every sweep settles. With
// --local-workers it runs the whole sweep on this machine and prints the result table.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "coordinator/service.h"
#include "coordinator/store.h"
#include "coordinator/sweep.h"
#include "worker/launcher.h"

namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

constexpr const char* kUsage =
    "usage: coordinator --sweep FILE [--db results.db] [--listen 127.0.0.1:50051] [--lease-seconds 60]\n"
    "                   [--exit-when-done] [--allow-new-version]\n"
    "                   [--local-workers N [--trainer PATH] [--worker PATH] [--work-dir DIR]]\n";

// The worker binary built next to this one (build/coordinator/ and build/worker/), else PATH.
std::string default_worker_binary(const char* argv0) {
  std::error_code error;
  const fs::path self = fs::canonical("/proc/self/exe", error);
  const fs::path sibling = error ? fs::path(argv0).parent_path() : self.parent_path();
  const fs::path built = sibling.parent_path() / "worker" / "worker";
  return fs::exists(built) ? built.string() : "worker";
}

std::string format_value(const std::optional<double>& value) {
  if (!value) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(4) << *value;
  return out.str();
}

// One line per job: status and the last value of each metric.
void print_results(gansweep::Store& store, int64_t sweep_id) {
  const char* columns[] = {"fid", "is_mean", "kid_mean", "loss_d", "loss_g"};
  std::cout << std::left << std::setw(48) << "job" << std::setw(10) << "status";
  for (const char* c : columns) std::cout << std::setw(11) << c;
  std::cout << "\n";
  for (const auto& job : store.list_jobs(sweep_id)) {
    const auto values = store.final_metrics(job.id);
    std::cout << std::setw(48) << job.key << std::setw(10) << job.status;
    for (const char* c : columns) {
      const auto found = values.find(c);
      std::cout << std::setw(11) << format_value(found == values.end() ? std::nullopt : found->second);
    }
    std::cout << "\n";
  }
  std::cout << std::flush;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sweep_path, db_path = "results.db", listen;
  std::string trainer = "trainer", worker_binary = default_worker_binary(argv[0]), work_dir;
  int lease_seconds = 60, local_workers = 0;
  bool exit_when_done = false, allow_new_version = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    try {
      if (arg == "--sweep") sweep_path = value();
      else if (arg == "--db") db_path = value();
      else if (arg == "--listen") listen = value();
      else if (arg == "--lease-seconds") lease_seconds = std::stoi(value());
      else if (arg == "--exit-when-done") exit_when_done = true;
      else if (arg == "--allow-new-version") allow_new_version = true;
      else if (arg == "--local-workers") local_workers = std::stoi(value());
      else if (arg == "--trainer") trainer = value();
      else if (arg == "--worker") worker_binary = value();
      else if (arg == "--work-dir") work_dir = value();
      else if (arg == "--help") { std::cout << kUsage; return 0; }
      else throw std::invalid_argument("unknown option " + arg);
    } catch (const std::exception& e) {
      std::cerr << "coordinator: " << e.what() << "\n" << kUsage;
      return 2;
    }
  }
  if (lease_seconds < 1 || local_workers < 0) {
    std::cerr << "coordinator: --lease-seconds must be at least 1 and --local-workers at least 0\n";
    return 2;
  }
  if (local_workers > 0) {
    if (sweep_path.empty()) {
      std::cerr << "coordinator: --local-workers needs --sweep\n";
      return 2;
    }
    exit_when_done = true;
    if (listen.empty()) listen = "127.0.0.1:0";  // local workers only: any free port
    if (work_dir.empty()) work_dir = (fs::absolute(db_path).parent_path() / "gansweep-work").string();
  }
  if (listen.empty()) listen = "127.0.0.1:50051";

  try {
    gansweep::Store store = gansweep::Store::open(db_path);
    int64_t sweep_id = 0;
    if (!sweep_path.empty()) {
      const auto result = store.submit_sweep(gansweep::load_sweep(sweep_path), allow_new_version);
      sweep_id = result.sweep_id;
      std::cout << "sweep " << sweep_path << ": version " << result.version << ", " << result.jobs << " jobs"
                << (result.created ? " (stored)" : " (already stored: resuming)") << std::endl;
    }

    // Attempts that ran on while the coordinator was away get a fresh lease to heartbeat in.
    if (const int64_t renewed = store.renew_running_leases(lease_seconds, int64_t(std::time(nullptr))))
      std::cout << renewed << " running attempts renewed until their workers heartbeat" << std::endl;

    gansweep::CoordinatorService service(store, lease_seconds);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server || port == 0) {
      std::cerr << "coordinator: cannot listen on " << listen << "\n";
      return 1;
    }
    const std::string address = listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port);
    // Tests read this line to find a port chosen with :0.
    std::cout << "listening on " << address << std::endl;

    std::vector<std::unique_ptr<gansweep::ChildProcess>> workers;
    for (int i = 0; i < local_workers; ++i) {
      // One work dir for all: a job requeued onto another local worker resumes its checkpoint.
      const std::string name = "local" + std::to_string(i + 1);
      fs::create_directories(work_dir);
      gansweep::LaunchSpec spec;
      spec.argv = {worker_binary, "--coordinator", address, "--cpu-ranks", "1", "--name", name,
                   "--work-dir", work_dir, "--trainer", trainer, "--poll-ms", "200"};
      spec.stderr_path = (fs::path(work_dir) / (name + ".stderr")).string();
      workers.push_back(gansweep::ChildProcess::start(spec));
    }

    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    while (!g_stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      for (auto& worker : workers)
        for (const auto& line : worker->take_lines()) std::cout << line << "\n";
      std::cout << std::flush;
      for (int64_t attempt : service.reap())
        std::cout << "attempt " << attempt << ": lease expired, job requeued or failed" << std::endl;
      if (exit_when_done && service.all_sweeps_settled()) break;
    }
    // Local workers drain (their trainers checkpoint) while the server still answers them.
    for (auto& worker : workers) worker->signal(SIGTERM);
    for (auto& worker : workers)
      for (int i = 0; i < 600 && !worker->poll(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (auto& worker : workers)
      for (const auto& line : worker->take_lines()) std::cout << line << "\n";
    workers.clear();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));

    if (local_workers > 0) {
      print_results(store, sweep_id);
      for (const auto& job : store.list_jobs(sweep_id))
        if (job.status != "done") return 1;
    }
    std::cout << "coordinator stopped" << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "coordinator: " << e.what() << "\n";
    return 1;
  }
}
