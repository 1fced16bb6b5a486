#include "coordinator/service.h"

#include <ctime>

#include <nlohmann/json.hpp>

#include "coordinator/progress.h"
#include "coordinator/sweep.h"

namespace gansweep {
namespace {

int64_t now() { return int64_t(std::time(nullptr)); }

// Runs a store call under the lock and maps its errors to gRPC codes.
template <typename F>
grpc::Status guarded(std::mutex& mutex, F&& body) {
  std::lock_guard lock(mutex);
  try {
    body();
    return grpc::Status::OK;
  } catch (const StaleAttemptError& e) {
    return {grpc::StatusCode::FAILED_PRECONDITION, e.what()};
  } catch (const SweepError& e) {
    return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
  } catch (const StoreError& e) {
    return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
  } catch (const std::exception& e) {
    return {grpc::StatusCode::INTERNAL, e.what()};
  }
}

void fill_sweep(const SweepInfo& info, v1::SweepSummary* out) {
  out->set_id(info.id);
  out->set_name(info.name);
  out->set_version(info.version);
  out->set_status(info.status);
  out->set_priority(info.priority);
  out->set_created(info.created);
  for (const auto& [status, count] : info.job_counts) (*out->mutable_job_counts())[status] = count;
  out->set_total_jobs(info.total_jobs);
}

void fill_devices(const std::string& devices_json, google::protobuf::RepeatedPtrField<v1::Device>* out) {
  for (const auto& d : nlohmann::json::parse(devices_json)) {
    auto* device = out->Add();
    device->set_index(d.value("index", 0));
    device->set_model(d.value("model", ""));
    device->set_memory_bytes(d.value("memory_bytes", int64_t(0)));
  }
}

}  // namespace

std::vector<int64_t> CoordinatorService::reap() {
  std::lock_guard lock(mutex_);
  return store_.reap_expired(now());
}

bool CoordinatorService::all_sweeps_settled() {
  std::lock_guard lock(mutex_);
  for (const auto& sweep : store_.list_sweeps())
    if (sweep.status == "active" && (sweep.job_counts.count("queued") || sweep.job_counts.count("running")))
      return false;
  return true;
}

grpc::Status CoordinatorService::Register(grpc::ServerContext*, const v1::RegisterRequest* request,
                                          v1::RegisterReply* reply) {
  if (request->protocol_version() != kProtocolVersion)
    return {grpc::StatusCode::FAILED_PRECONDITION,
            "protocol version mismatch: worker '" + request->name() + "' speaks version " +
                std::to_string(request->protocol_version()) + ", this coordinator speaks version " +
                std::to_string(kProtocolVersion)};
  return guarded(mutex_, [&] {
    WorkerRegistration worker;
    worker.name = request->name();
    worker.host = request->host();
    worker.cores = request->cores();
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& d : request->devices())
      devices.push_back({{"index", d.index()}, {"model", d.model()}, {"memory_bytes", d.memory_bytes()}});
    worker.devices_json = devices.dump();
    nlohmann::json versions = nlohmann::json::object();
    for (const auto& [name, version] : request->software_versions()) versions[name] = version;
    worker.versions_json = versions.dump();
    reply->set_worker_id(store_.register_worker(worker, now()));
    reply->set_protocol_version(kProtocolVersion);
    reply->set_lease_seconds(lease_seconds_);
  });
}

grpc::Status CoordinatorService::AcquireJob(grpc::ServerContext*, const v1::AcquireJobRequest* request,
                                            v1::AcquireJobReply* reply) {
  return guarded(mutex_, [&] {
    const std::vector<int> free(request->free_devices().begin(), request->free_devices().end());
    const auto lease = store_.acquire(request->worker_id(), free, lease_seconds_, now());
    reply->set_has_job(bool(lease));
    if (!lease) return;
    auto* out = reply->mutable_lease();
    out->set_attempt_id(lease->attempt_id);
    out->set_job_id(lease->job_id);
    out->set_job_key(lease->job_key);
    out->set_spec_json(lease->spec_json);
    for (int d : lease->devices) out->add_devices(d);
    out->set_lease_expires_unix(lease->lease_expires);
  });
}

grpc::Status CoordinatorService::Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                                           v1::HeartbeatReply* reply) {
  return guarded(mutex_, [&] {
    const std::vector<int64_t> ids(request->attempt_ids().begin(), request->attempt_ids().end());
    const auto result = store_.heartbeat(request->worker_id(), ids, lease_seconds_, now());
    for (int64_t id : result.extended) reply->add_extended(id);
    for (int64_t id : result.stop) reply->add_stop(id);
    reply->set_lease_expires_unix(result.lease_expires);
  });
}

grpc::Status CoordinatorService::ReportProgress(grpc::ServerContext*, const v1::ReportProgressRequest* request,
                                                v1::ReportProgressReply* reply) {
  ProgressReport report;
  try {
    report = read_event_lines({request->event_lines().begin(), request->event_lines().end()});
  } catch (const std::exception& e) {
    return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
  }
  return guarded(mutex_, [&] {
    reply->set_metrics_added(store_.report_progress(request->attempt_id(), report.step, report.metrics, report.artifacts));
  });
}

grpc::Status CoordinatorService::FinishJob(grpc::ServerContext*, const v1::FinishJobRequest* request,
                                           v1::FinishJobReply* reply) {
  std::string last_error;
  for (const auto& line : request->last_error_lines()) last_error += (last_error.empty() ? "" : "\n") + line;
  return guarded(mutex_, [&] {
    reply->set_job_status(store_.finish_attempt(request->attempt_id(), request->exit_code(), last_error, now()));
  });
}

grpc::Status CoordinatorService::SubmitSweep(grpc::ServerContext*, const v1::SubmitSweepRequest* request,
                                             v1::SubmitSweepReply* reply) {
  return guarded(mutex_, [&] {
    const auto result = store_.submit_sweep(parse_sweep(request->yaml(), "submitted sweep"),
                                            request->allow_new_version());
    reply->set_sweep_id(result.sweep_id);
    reply->set_version(result.version);
    reply->set_created(result.created);
    reply->set_jobs(result.jobs);
  });
}

grpc::Status CoordinatorService::ListSweeps(grpc::ServerContext*, const v1::ListSweepsRequest*,
                                            v1::ListSweepsReply* reply) {
  return guarded(mutex_, [&] {
    for (const auto& info : store_.list_sweeps()) fill_sweep(info, reply->add_sweeps());
  });
}

grpc::Status CoordinatorService::GetSweep(grpc::ServerContext*, const v1::GetSweepRequest* request,
                                          v1::GetSweepReply* reply) {
  std::lock_guard lock(mutex_);
  const auto info = store_.get_sweep(request->name(), request->version());
  if (!info) return {grpc::StatusCode::NOT_FOUND, "no sweep named '" + request->name() + "'"};
  fill_sweep(*info, reply->mutable_sweep());
  for (const auto& job : store_.list_jobs(info->id)) {
    auto* out = reply->add_jobs();
    out->set_id(job.id);
    out->set_key(job.key);
    out->set_status(job.status);
    out->set_retries_left(job.retries_left);
    out->set_gpus(job.gpus);
    out->set_host(job.host);
    out->set_last_error(job.last_error);
  }
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::CancelSweep(grpc::ServerContext*, const v1::CancelSweepRequest* request,
                                             v1::CancelReply* reply) {
  std::lock_guard lock(mutex_);
  const auto info = store_.get_sweep(request->name(), request->version());
  if (!info) return {grpc::StatusCode::NOT_FOUND, "no sweep named '" + request->name() + "'"};
  reply->set_jobs_cancelled(store_.cancel_sweep(info->id));
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::CancelJob(grpc::ServerContext*, const v1::CancelJobRequest* request,
                                           v1::CancelReply* reply) {
  return guarded(mutex_, [&] { reply->set_jobs_cancelled(store_.cancel_job(request->job_id())); });
}

grpc::Status CoordinatorService::ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                                             v1::ListWorkersReply* reply) {
  return guarded(mutex_, [&] {
    for (const auto& info : store_.list_workers()) {
      auto* out = reply->add_workers();
      out->set_id(info.id);
      out->set_name(info.registration.name);
      out->set_host(info.registration.host);
      fill_devices(info.registration.devices_json, out->mutable_devices());
      out->set_cores(info.registration.cores);
      const auto versions = nlohmann::json::parse(info.registration.versions_json);  // outlives the loop
      for (const auto& [name, version] : versions.items())
        (*out->mutable_software_versions())[name] = version.is_string() ? version.get<std::string>() : version.dump();
      out->set_last_heartbeat(info.last_heartbeat);
      out->set_running_attempts(info.running_attempts);
    }
  });
}

}  // namespace gansweep
