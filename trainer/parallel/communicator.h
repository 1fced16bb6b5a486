// Data-parallel collectives for the trainer: one interface, three backends.
//   single: one process, every collective is the identity;
//   mpi:    CPU tensors, MPI non-blocking collectives (launched by mpirun);
//   nccl:   CUDA tensors, NCCL collectives, bootstrapped and watched over through MPI.
// Every rank must issue the same collectives in the same order. Each collective waits at
// most `timeout_seconds`; then the ranks still alive find out which ranks never arrived,
// report it through on_stall (the lowest live rank only) and the job ends (MPI_Abort), so a
// dead or hung rank never hangs the worker.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

namespace gansweep {

class ParallelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ReduceOp { sum, average };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;
  // Where this rank's tensors live: CPU, or its own GPU with nccl.
  virtual torch::Device device() const { return torch::kCPU; }

  // In place, over all ranks; `t` is contiguous and on device().
  virtual void all_reduce(torch::Tensor& t, ReduceOp op) = 0;
  // In place: every rank ends with root's values.
  virtual void broadcast(torch::Tensor& t, int root) = 0;
  // Every rank's `t` (same shape on all ranks) stacked along a new dim 0, in rank order.
  virtual torch::Tensor all_gather(const torch::Tensor& t) = 0;
  virtual void barrier() = 0;
  // Root's bytes on every rank (checkpoints, through the CPU).
  virtual std::string broadcast_bytes(const std::string& bytes, int root) = 0;

  // Called, on the lowest live rank only, with the message naming the ranks that never
  // reached a stalled collective, just before the job is aborted.
  void set_on_stall(std::function<void(const std::string&)> f) { on_stall_ = std::move(f); }
  // A collective (`what`) has waited past the timeout: finds the live ranks, reports, and
  // ends every rank of the job. Never returns.
  [[noreturn]] virtual void stalled(const std::string& what, double waited_seconds);

 protected:
  std::function<void(const std::string&)> on_stall_;
};

struct ParallelOptions {
  std::string backend = "auto";  // auto | single | mpi | nccl
  double timeout_seconds = 300;  // longest wait in one collective before the job is ended
};

// The communicator for this process. auto: nccl when launched with several ranks and CUDA
// devices are visible and usable, mpi when launched by mpirun, else single. Throws
// ParallelError with a clear message when the backend cannot start (e.g. nccl without GPU).
std::unique_ptr<Communicator> make_communicator(const ParallelOptions& options);

// True when this process was started by mpirun (or another MPI launcher).
bool launched_by_mpi();

// The rows [begin, end) of `total` that rank `rank` of `size` handles: contiguous, in rank
// order, sizes differing by at most one.
std::pair<int64_t, int64_t> shard_range(int64_t total, int rank, int size);

}  // namespace gansweep
