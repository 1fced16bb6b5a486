// The status and cancel calls of sweepctl against a live coordinator (proto/coordinator.proto).
#include <grpcpp/grpcpp.h>

#include <chrono>

#include "proto/coordinator.grpc.pb.h"
#include "sweepctl/status.h"

namespace gansweep::sweepctl {
namespace {

// Bounded, so a coordinator that is down gives an error within seconds, not a hang.
constexpr auto kDeadline = std::chrono::seconds(10);

class Client {
 public:
  explicit Client(const std::string& address)
      : address_(address), stub_(v1::Coordinator::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

  template <typename Request, typename Reply, typename Call>
  Reply call(const Request& request, Call method) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kDeadline);
    Reply reply;
    const grpc::Status status = ((*stub_).*method)(&context, request, &reply);
    if (!status.ok())
      throw std::runtime_error("coordinator at " + address_ + ": " + status.error_message() +
                               (status.error_code() == grpc::StatusCode::UNAVAILABLE ? " (is it running there?)" : ""));
    return reply;
  }

 private:
  std::string address_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
};

SweepInfo sweep_info(const v1::SweepSummary& s) {
  SweepInfo info;
  info.id = s.id();
  info.name = s.name();
  info.version = s.version();
  info.status = s.status();
  info.priority = s.priority();
  info.created = s.created();
  for (const auto& [state, count] : s.job_counts()) info.job_counts[state] = count;
  info.total_jobs = s.total_jobs();
  return info;
}

}  // namespace

Status status_from_coordinator(const std::string& address, const std::string& sweep) {
  Client client(address);
  Status status;
  status.source = "coordinator at " + address;
  std::vector<std::pair<std::string, int>> names;
  if (sweep.empty()) {
    const auto list = client.call<v1::ListSweepsRequest, v1::ListSweepsReply>({}, &v1::Coordinator::Stub::ListSweeps);
    for (const auto& s : list.sweeps()) names.emplace_back(s.name(), s.version());
  } else {
    names.push_back(parse_sweep_name(sweep));
  }
  for (const auto& [name, version] : names) {
    v1::GetSweepRequest request;
    request.set_name(name);
    request.set_version(version);
    const auto reply = client.call<v1::GetSweepRequest, v1::GetSweepReply>(request, &v1::Coordinator::Stub::GetSweep);
    SweepStatus s;
    s.info = sweep_info(reply.sweep());
    for (const auto& job : reply.jobs()) {
      if (job.status() == "running") s.running.push_back({job.id(), job.key(), job.host(), -1, ""});
      if (job.status() == "failed")
        s.failed.push_back({job.id(), job.key(), "", -1, job.last_error().substr(0, job.last_error().find('\n'))});
    }
    // The protocol carries no attempt times: a rate needs two samples (--watch) or --db.
    s.rate_note = "measured while watching (--watch), or read from the database (--db)";
    status.sweeps.push_back(std::move(s));
  }
  const auto workers = client.call<v1::ListWorkersRequest, v1::ListWorkersReply>({}, &v1::Coordinator::Stub::ListWorkers);
  for (const auto& w : workers.workers()) {
    std::map<std::string, int> models;
    for (const auto& d : w.devices()) ++models[d.model()];
    std::string devices;
    for (const auto& [model, count] : models) devices += (devices.empty() ? "" : ", ") + std::to_string(count) + " x " + model;
    status.workers.push_back({w.name(), w.host(), devices.empty() ? "no devices" : devices, w.last_heartbeat(),
                              w.running_attempts(), {}});
  }
  return status;
}

std::string cancel(const std::string& address, const std::string& target) {
  Client client(address);
  if (!target.empty() && target.find_first_not_of("0123456789") == std::string::npos) {
    v1::CancelJobRequest request;
    request.set_job_id(std::stoll(target));
    const auto reply = client.call<v1::CancelJobRequest, v1::CancelReply>(request, &v1::Coordinator::Stub::CancelJob);
    return reply.jobs_cancelled() ? "job " + target + " cancelled; a running trainer stops at its next heartbeat"
                                  : "job " + target + " was not queued or running: nothing to cancel";
  }
  const auto [name, version] = parse_sweep_name(target);
  v1::CancelSweepRequest request;
  request.set_name(name);
  request.set_version(version);
  const auto reply = client.call<v1::CancelSweepRequest, v1::CancelReply>(request, &v1::Coordinator::Stub::CancelSweep);
  return "sweep " + target + " cancelled: " + std::to_string(reply.jobs_cancelled()) +
         " queued or running jobs; running trainers stop at their next heartbeat";
}

}  // namespace gansweep::sweepctl
