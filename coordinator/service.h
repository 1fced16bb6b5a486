// The gRPC service over the store (proto/coordinator.proto). One mutex serializes the
// store: the coordinator is the database's only writer and holds one connection.
#pragma once

#include <mutex>

#include "coordinator/store.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/protocol.h"

namespace gansweep {

class CoordinatorService final : public gansweep::v1::Coordinator::Service {
 public:
  CoordinatorService(Store& store, int lease_seconds) : store_(store), lease_seconds_(lease_seconds) {}

  // Requeues expired leases; the coordinator's reaper thread calls it.
  std::vector<int64_t> reap();
  // True once no job of an active sweep is queued or running.
  bool all_sweeps_settled();

  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest*, v1::RegisterReply*) override;
  grpc::Status AcquireJob(grpc::ServerContext*, const v1::AcquireJobRequest*, v1::AcquireJobReply*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*, v1::HeartbeatReply*) override;
  grpc::Status ReportProgress(grpc::ServerContext*, const v1::ReportProgressRequest*,
                              v1::ReportProgressReply*) override;
  grpc::Status FinishJob(grpc::ServerContext*, const v1::FinishJobRequest*, v1::FinishJobReply*) override;
  grpc::Status SubmitSweep(grpc::ServerContext*, const v1::SubmitSweepRequest*, v1::SubmitSweepReply*) override;
  grpc::Status ListSweeps(grpc::ServerContext*, const v1::ListSweepsRequest*, v1::ListSweepsReply*) override;
  grpc::Status GetSweep(grpc::ServerContext*, const v1::GetSweepRequest*, v1::GetSweepReply*) override;
  grpc::Status CancelSweep(grpc::ServerContext*, const v1::CancelSweepRequest*, v1::CancelReply*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*, v1::CancelReply*) override;
  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*, v1::ListWorkersReply*) override;

 private:
  std::mutex mutex_;
  Store& store_;
  int lease_seconds_;
};

}  // namespace gansweep
