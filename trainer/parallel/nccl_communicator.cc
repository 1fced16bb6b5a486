// The NCCL backend: CUDA tensors, collectives on the default stream. NCCL is bootstrapped
// through the control communicator (MPI): rank 0 creates the unique id, everyone receives
// it, ncclCommInitRank, a barrier. Uses only the CUDA runtime's C API, so it compiles and
// links against /usr/local/cuda with a CPU-only LibTorch; it runs only with a CUDA LibTorch.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>

#include "trainer/parallel/backends.h"
#include "trainer/parallel/stall.h"

namespace gansweep {
namespace {

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return ncclFloat32;
    case torch::kDouble: return ncclFloat64;
    case torch::kLong: return ncclInt64;
    case torch::kInt: return ncclInt32;
    case torch::kByte: return ncclUint8;
    default: throw ParallelError(std::string("nccl: no NCCL type for tensors of ") + c10::toString(t.scalar_type()));
  }
}

void check_cuda(cudaError_t code, const std::string& what) {
  if (code != cudaSuccess) throw ParallelError("nccl: " + what + ": " + cudaGetErrorString(code));
}

void check_nccl(ncclResult_t code, const std::string& what) {
  if (code != ncclSuccess) throw ParallelError("nccl: " + what + ": " + ncclGetErrorString(code));
}

// This rank's GPU: its local rank among the visible devices (CUDA_VISIBLE_DEVICES).
int local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return 0;
}

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> control, double timeout_seconds)
      : control_(std::move(control)), timeout_seconds_(timeout_seconds) {
    int devices = 0;
    const cudaError_t found = cudaGetDeviceCount(&devices);
    if (found != cudaSuccess || devices == 0)
      throw ParallelError(std::string("parallel.backend nccl needs a CUDA GPU, and none is usable here (") +
                          (found != cudaSuccess ? cudaGetErrorString(found) : "no device") +
                          "); use backend mpi or single on CPU machines");
    if (!torch::cuda::is_available())
      throw ParallelError("parallel.backend nccl: this LibTorch was built without CUDA; build the trainer with "
                          "-DGANSWEEP_TORCH_CUDA=ON against a CUDA LibTorch (docs/gpu.md)");
    device_index_ = local_rank() % devices;
    check_cuda(cudaSetDevice(device_index_), "cudaSetDevice(" + std::to_string(device_index_) + ")");
    ncclUniqueId id;
    std::string bytes;
    if (control_->rank() == 0) {
      check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
      bytes.assign(reinterpret_cast<const char*>(&id), sizeof id);
    }
    bytes = control_->broadcast_bytes(bytes, 0);
    std::memcpy(&id, bytes.data(), sizeof id);
    check_nccl(ncclCommInitRank(&comm_, control_->size(), id, control_->rank()), "ncclCommInitRank");
    control_->barrier();
  }

  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const override { return control_->rank(); }
  int size() const override { return control_->size(); }
  std::string backend() const override { return "nccl"; }
  torch::Device device() const override { return torch::Device(torch::kCUDA, device_index_); }

  void all_reduce(torch::Tensor& t, ReduceOp op) override {
    check_device(t);
    check_nccl(ncclAllReduce(t.data_ptr(), t.data_ptr(), size_t(t.numel()), nccl_type(t),
                             op == ReduceOp::average ? ncclAvg : ncclSum, comm_, nullptr),
               "allreduce");
    wait("allreduce");
  }

  void broadcast(torch::Tensor& t, int root) override {
    check_device(t);
    check_nccl(ncclBroadcast(t.data_ptr(), t.data_ptr(), size_t(t.numel()), nccl_type(t), root, comm_, nullptr),
               "broadcast");
    wait("broadcast");
  }

  torch::Tensor all_gather(const torch::Tensor& t) override {
    check_device(t);
    std::vector<int64_t> shape{size()};
    for (auto s : t.sizes()) shape.push_back(s);
    auto out = torch::empty(shape, t.options());
    check_nccl(ncclAllGather(t.data_ptr(), out.data_ptr(), size_t(t.numel()), nccl_type(t), comm_, nullptr),
               "allgather");
    wait("allgather");
    return out;
  }

  void barrier() override { control_->barrier(); }
  std::string broadcast_bytes(const std::string& bytes, int root) override {
    return control_->broadcast_bytes(bytes, root);
  }

  [[noreturn]] void stalled(const std::string& what, double waited_seconds) override {
    ncclCommAbort(comm_);  // frees the GPU from the collective that will never complete
    comm_ = nullptr;
    control_->set_on_stall(on_stall_);
    control_->stalled("NCCL " + what, waited_seconds);
    std::_Exit(kStallExitCode);  // not reached: the control communicator ends the process
  }

 private:
  void check_device(const torch::Tensor& t) const {
    if (!t.is_cuda() || t.get_device() != device_index_ || !t.is_contiguous())
      throw ParallelError("nccl: collectives take contiguous tensors on this rank's GPU (cuda:" +
                          std::to_string(device_index_) + ")");
  }

  // The legacy default stream, which LibTorch's kernels also use unless told otherwise.
  void wait(const char* what) {
    wait_until_done(
        [&] {
          ncclResult_t async = ncclSuccess;
          ncclCommGetAsyncError(comm_, &async);
          check_nccl(async, what);
          const cudaError_t state = cudaStreamQuery(nullptr);
          if (state == cudaErrorNotReady) return false;
          check_cuda(state, what);
          return true;
        },
        what, timeout_seconds_, [this](const std::string& w, double s) { stalled(w, s); });
  }

  std::unique_ptr<Communicator> control_;
  double timeout_seconds_;
  int device_index_ = 0;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> control, double timeout_seconds) {
  return std::make_unique<NcclCommunicator>(std::move(control), timeout_seconds);
}

}  // namespace gansweep
