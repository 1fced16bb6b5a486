#include "worker/worker.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "proto/coordinator.grpc.pb.h"
#include "proto/protocol.h"
#include "trainer/contract/events.h"
#include "worker/launcher.h"

namespace gansweep {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// How long a drain waits for trainers to checkpoint and for the coordinator to take their
// finish, before the worker exits anyway.
constexpr int kDrainSeconds = 120;
constexpr int kPreemptedExit = 3;  // the trainer's exit code after a checkpoint-and-stop

struct RunningJob {
  v1::JobLease lease;
  std::unique_ptr<ChildProcess> child;
  std::vector<std::string> unsent;  // event lines not yet acknowledged by the coordinator
  std::string failure_reason;       // from the trainer's failed event
  bool preempted = false;           // its failed event says it checkpointed and stopped
  int stop_signal = SIGTERM;        // SIGUSR1 for mpirun, which forwards it to every rank
  std::string stderr_path;
  std::optional<int> exit_code;
  bool superseded = false;          // the coordinator no longer takes this attempt's reports
};

std::string hostname() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

// Model and memory from nvidia-smi when it is there.
v1::Device describe_gpu(int index) {
  v1::Device device;
  device.set_index(index);
  device.set_model("gpu");
  const std::string command = "nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits -i " +
                              std::to_string(index) + " 2>/dev/null";
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char line[512] = {};
    if (std::fgets(line, sizeof line, pipe)) {
      std::string text = line;
      const size_t comma = text.rfind(',');
      if (comma != std::string::npos) {
        device.set_model(text.substr(0, comma));
        try {
          device.set_memory_bytes(std::stoll(text.substr(comma + 1)) * 1024 * 1024);  // MiB
        } catch (const std::exception&) {
        }
      }
    }
    ::pclose(pipe);
  }
  return device;
}

// Reconnects within seconds when the coordinator comes back (gRPC's default backoff grows
// to two minutes).
std::shared_ptr<grpc::Channel> channel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

void set_deadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

std::string join(const std::vector<int>& values) {
  std::string out;
  for (int v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

class Worker {
 public:
  Worker(const WorkerOptions& options, const std::atomic<bool>& stop)
      : options_(options),
        stop_(stop),
        stub_(v1::Coordinator::NewStub(channel(options.coordinator))) {
    if (options_.gpus.empty())
      for (int i = 0; i < options_.cpu_ranks; ++i) devices_.push_back(i);
    else
      devices_ = options_.gpus;
    if (options_.host.empty()) options_.host = hostname();
    if (options_.name.empty()) options_.name = options_.host;
  }

  int run() {
    if (!register_worker()) return 1;
    auto next_heartbeat = Clock::now();
    bool draining = false;
    Clock::time_point drain_deadline;
    while (true) {
      if (stop_ && !draining) {
        draining = true;
        drain_deadline = Clock::now() + std::chrono::seconds(kDrainSeconds);
        log("SIGTERM: stopping " + std::to_string(jobs_.size()) + " trainers (they checkpoint and exit 3)");
        for (auto& job : jobs_) job->child->signal(job->stop_signal);
      }
      relay_events();
      finish_ended_jobs();
      if (Clock::now() >= next_heartbeat) {
        heartbeat();
        next_heartbeat = Clock::now() + std::chrono::seconds(std::max(1, lease_seconds_ / 3));
      }
      if (draining && jobs_.empty()) {
        log("drained");
        return 0;
      }
      if (draining && Clock::now() > drain_deadline) {
        // The coordinator stayed away: the unfinished attempts come back when their leases expire.
        log("drain: " + std::to_string(jobs_.size()) + " attempts not finished after " +
            std::to_string(kDrainSeconds) + " s; exiting");
        return 0;
      }
      if (!draining) acquire_jobs();
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.poll_ms));
    }
  }

 private:
  void log(const std::string& message) { std::cout << "worker " << options_.name << ": " << message << std::endl; }

  // Retries with backoff while the coordinator is away; a refusal ends the worker.
  bool register_worker() {
    v1::RegisterRequest request;
    request.set_protocol_version(kProtocolVersion);
    request.set_name(options_.name);
    request.set_host(options_.host);
    for (int d : devices_) {
      if (options_.gpus.empty()) {
        v1::Device cpu;
        cpu.set_index(d);
        cpu.set_model("cpu");
        *request.add_devices() = cpu;
      } else {
        *request.add_devices() = describe_gpu(d);
      }
    }
    request.set_cores(int(std::thread::hardware_concurrency()));
    auto& versions = *request.mutable_software_versions();
    versions["gansweep"] = GANSWEEP_VERSION;
    versions["protocol"] = std::to_string(kProtocolVersion);
    versions["grpc"] = grpc::Version();
    int backoff_ms = 200;
    while (!stop_) {
      grpc::ClientContext context;
      set_deadline(context);
      v1::RegisterReply reply;
      const grpc::Status status = stub_->Register(&context, request, &reply);
      if (status.ok()) {
        worker_id_ = reply.worker_id();
        lease_seconds_ = reply.lease_seconds();
        log("registered as worker " + std::to_string(worker_id_) + " on " + options_.host + " with " +
            std::to_string(devices_.size()) + " devices");
        return true;
      }
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
          status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        std::cerr << "worker " << options_.name << ": registration refused: " << status.error_message() << std::endl;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min(backoff_ms * 2, 10'000);
    }
    return false;
  }

  std::vector<int> free_devices() const {
    std::vector<int> free;
    for (int d : devices_) {
      bool used = false;
      for (const auto& job : jobs_)
        for (int held : job->lease.devices()) used |= held == d;
      if (!used) free.push_back(d);
    }
    return free;
  }

  void acquire_jobs() {
    for (std::vector<int> free = free_devices(); !free.empty(); free = free_devices()) {
      v1::AcquireJobRequest request;
      request.set_worker_id(worker_id_);
      for (int d : free) request.add_free_devices(d);
      grpc::ClientContext context;
      set_deadline(context);
      v1::AcquireJobReply reply;
      const grpc::Status status = stub_->AcquireJob(&context, request, &reply);
      if (!status.ok() || !reply.has_job()) return;
      launch(reply.lease());
    }
  }

  void launch(const v1::JobLease& lease) {
    auto job = std::make_unique<RunningJob>();
    job->lease = lease;
    const fs::path dir = fs::absolute(fs::path(options_.work_dir) / "jobs" / lease.job_key());
    fs::create_directories(dir);
    // resume: a requeued job continues from the checkpoint this machine wrote.
    nlohmann::json spec = nlohmann::json::parse(lease.spec_json());
    spec["output_dir"] = dir.string();
    spec["resume"] = true;
    const fs::path spec_path = dir / "job.json";
    std::ofstream(spec_path) << spec.dump(2) << "\n";
    job->stderr_path = (dir / "trainer.stderr").string();

    const std::vector<int> devices(lease.devices().begin(), lease.devices().end());
    LaunchSpec launch;
    if (devices.size() > 1) {
      // One rank per device. --oversubscribe: CPU ranks may outnumber the cores Open MPI
      // counts; root must say so explicitly.
      launch.argv = {options_.mpirun, "-np", std::to_string(devices.size()), "--oversubscribe"};
      if (::geteuid() == 0) launch.argv.push_back("--allow-run-as-root");
      for (const std::string& arg : {options_.trainer, std::string("--job"), spec_path.string()}) launch.argv.push_back(arg);
      job->stop_signal = SIGUSR1;  // a SIGTERM makes mpirun kill the ranks a second later
    } else {
      launch.argv = {options_.trainer, "--job", spec_path.string()};
    }
    // Each job sees only its own GPUs; a CPU job sees none.
    launch.env["CUDA_VISIBLE_DEVICES"] = options_.gpus.empty() ? "" : join(devices);
    launch.stderr_path = job->stderr_path;
    try {
      job->child = ChildProcess::start(launch);
    } catch (const std::exception& e) {
      log(std::string("cannot start the trainer: ") + e.what());
      finish(*job, 4, "failed", {e.what()});
      return;
    }
    log("attempt " + std::to_string(lease.attempt_id()) + ": job " + lease.job_key() + " on devices [" +
        join(devices) + "], pid " + std::to_string(job->child->pid()));
    jobs_.push_back(std::move(job));
  }

  // Sends each job's unsent event lines; replays are harmless (the store keys them by job,
  // step and name), so lines are dropped only once acknowledged.
  void relay_events() {
    for (auto& job : jobs_) {
      for (auto& line : job->child->take_lines()) {
        try {
          note_event(*job, event_from_json(nlohmann::json::parse(line)));
          job->unsent.push_back(std::move(line));
        } catch (const std::exception&) {
          log("not an event, not relayed: " + line.substr(0, 200));
        }
      }
      send_unsent(*job);
    }
  }

  // Sends in batches, so a long outage's backlog stays far below gRPC's message limit.
  bool send_unsent(RunningJob& job) {
    constexpr size_t kBatchLines = 500;
    while (!job.unsent.empty() && !job.superseded) {
      const size_t count = std::min(kBatchLines, job.unsent.size());
      v1::ReportProgressRequest request;
      request.set_attempt_id(job.lease.attempt_id());
      for (size_t i = 0; i < count; ++i) request.add_event_lines(job.unsent[i]);
      grpc::ClientContext context;
      set_deadline(context);
      v1::ReportProgressReply reply;
      const grpc::Status status = stub_->ReportProgress(&context, request, &reply);
      if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        // Another attempt owns the job now: this trainer's work no longer counts.
        log("attempt " + std::to_string(job.lease.attempt_id()) + " superseded: " + status.error_message());
        job.superseded = true;
        job.unsent.clear();
        job.child->signal(job.stop_signal);
        return true;
      }
      if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        // Resending a batch the coordinator cannot read would block every later one.
        log("report refused, " + std::to_string(count) + " lines dropped: " + status.error_message());
      } else if (!status.ok()) {
        return false;  // coordinator away: kept for the next try
      }
      job.unsent.erase(job.unsent.begin(), job.unsent.begin() + long(count));
    }
    return true;
  }

  void finish_ended_jobs() {
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      RunningJob& job = **it;
      if (!job.exit_code) job.exit_code = job.child->poll();
      if (!job.exit_code) {
        ++it;
        continue;
      }
      // Events first: once the attempt is finished its reports are refused.
      for (auto& line : job.child->take_lines()) job.unsent.push_back(std::move(line));
      keep_only_events(job);
      if (*job.exit_code != 0 && job.failure_reason.empty()) {
        // Ended without saying why (killed, crashed, or a rank died under mpirun): the
        // stream still ends with a failed event, naming the rank when mpirun did.
        Event failed;
        failed.type = EventType::failed;
        failed.job_id = job.lease.job_key();
        failed.reason = reason_without_event(*job.exit_code, last_lines(job.stderr_path, options_.error_lines));
        failed.retryable = true;
        job.failure_reason = failed.reason;
        job.unsent.push_back(to_json(failed).dump());
      }
      if (!send_unsent(job)) {
        ++it;
        continue;
      }
      // mpirun exits 1 when signalled whatever its ranks return: the event says preempted.
      const int code = job.preempted && *job.exit_code != 0 ? kPreemptedExit : *job.exit_code;
      const std::string status = code == 0 ? "finished" : code == 3 ? "preempted"
                                 : code > 128 ? "killed by signal " + std::to_string(code - 128) : "failed";
      std::vector<std::string> errors;
      if (code != 0) {
        if (!job.failure_reason.empty()) errors.push_back(job.failure_reason);
        for (auto& line : last_lines(job.stderr_path, options_.error_lines)) errors.push_back(line);
      }
      if (!job.superseded && !finish(job, code, status, errors)) {
        ++it;  // coordinator away: finished again on the next pass
        continue;
      }
      it = jobs_.erase(it);
    }
  }

  static void note_event(RunningJob& job, const Event& event) {
    if (event.type != EventType::failed) return;
    job.failure_reason = event.reason;
    job.preempted = event.preempted;
  }

  // Keeps only event lines among those read after the child ended.
  void keep_only_events(RunningJob& job) {
    std::vector<std::string> events;
    for (auto& line : job.unsent) {
      try {
        note_event(job, event_from_json(nlohmann::json::parse(line)));
        events.push_back(std::move(line));
      } catch (const std::exception&) {
      }
    }
    job.unsent = std::move(events);
  }

  bool finish(RunningJob& job, int code, const std::string& status, const std::vector<std::string>& errors) {
    v1::FinishJobRequest request;
    request.set_attempt_id(job.lease.attempt_id());
    request.set_exit_code(code);
    request.set_status(status);
    for (const auto& line : errors) request.add_last_error_lines(line);
    grpc::ClientContext context;
    set_deadline(context);
    v1::FinishJobReply reply;
    const grpc::Status rpc = stub_->FinishJob(&context, request, &reply);
    if (rpc.error_code() == grpc::StatusCode::UNAVAILABLE || rpc.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      return false;
    log("attempt " + std::to_string(job.lease.attempt_id()) + ": job " + job.lease.job_key() + " " + status +
        " (exit " + std::to_string(code) + ") -> " + (rpc.ok() ? reply.job_status() : rpc.error_message()));
    return true;
  }

  void heartbeat() {
    v1::HeartbeatRequest request;
    request.set_worker_id(worker_id_);
    for (const auto& job : jobs_)
      // Also ended trainers whose finish has not gone through yet: their leases must hold.
      if (!job->superseded) request.add_attempt_ids(job->lease.attempt_id());
    grpc::ClientContext context;
    set_deadline(context);
    v1::HeartbeatReply reply;
    if (!stub_->Heartbeat(&context, request, &reply).ok()) return;  // away: the next beat tries again
    for (int64_t stop : reply.stop())
      for (auto& job : jobs_)
        if (job->lease.attempt_id() == stop && !job->exit_code) {
          log("attempt " + std::to_string(stop) + ": cancelled or superseded, stopping its trainer");
          job->child->signal(job->stop_signal);
        }
  }

  WorkerOptions options_;
  const std::atomic<bool>& stop_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  std::vector<int> devices_;
  int64_t worker_id_ = 0;
  int lease_seconds_ = 60;
  std::vector<std::unique_ptr<RunningJob>> jobs_;
};

}  // namespace

int run_worker(const WorkerOptions& options, const std::atomic<bool>& stop) {
  return Worker(options, stop).run();
}

}  // namespace gansweep
