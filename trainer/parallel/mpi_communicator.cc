// The MPI backend: CPU tensors, non-blocking collectives waited on with a deadline.
// The C API only: Open MPI's deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstring>
#include <set>
#include <sstream>
#include <thread>

#include "trainer/parallel/backends.h"
#include "trainer/parallel/stall.h"

namespace gansweep {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    case torch::kLong: return MPI_INT64_T;
    case torch::kInt: return MPI_INT32_T;
    case torch::kByte: return MPI_UINT8_T;
    default: throw ParallelError(std::string("mpi: no MPI type for tensors of ") + c10::toString(t.scalar_type()));
  }
}

int count_of(const torch::Tensor& t) {
  if (t.numel() > INT_MAX) throw ParallelError("mpi: a tensor of " + std::to_string(t.numel()) + " elements is too large for one collective");
  return int(t.numel());
}

void check_cpu(const torch::Tensor& t) {
  if (!t.device().is_cpu() || !t.is_contiguous())
    throw ParallelError("mpi: collectives take contiguous CPU tensors");
}

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(double timeout_seconds) : timeout_seconds_(timeout_seconds) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        throw ParallelError("mpi: MPI_Init_thread failed");
      owns_mpi_ = true;
    }
    // Errors come back as codes, never as an abort inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_dup(MPI_COMM_WORLD, &data_);
    MPI_Comm_dup(MPI_COMM_WORLD, &control_);  // the stall protocol never mixes with data traffic
    MPI_Comm_rank(data_, &rank_);
    MPI_Comm_size(data_, &size_);
  }

  ~MpiCommunicator() override {
    MPI_Comm_free(&data_);
    MPI_Comm_free(&control_);
    if (owns_mpi_) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce(torch::Tensor& t, ReduceOp op) override {
    check_cpu(t);
    MPI_Request request;
    check(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), count_of(t), mpi_type(t), MPI_SUM, data_, &request), "allreduce");
    wait(request, "allreduce");
    if (op == ReduceOp::average) t.div_(size_);
  }

  void broadcast(torch::Tensor& t, int root) override {
    check_cpu(t);
    MPI_Request request;
    check(MPI_Ibcast(t.data_ptr(), count_of(t), mpi_type(t), root, data_, &request), "broadcast");
    wait(request, "broadcast");
  }

  torch::Tensor all_gather(const torch::Tensor& t) override {
    check_cpu(t);
    std::vector<int64_t> shape{size_};
    for (auto s : t.sizes()) shape.push_back(s);
    auto out = torch::empty(shape, t.options());
    MPI_Request request;
    check(MPI_Iallgather(t.data_ptr(), count_of(t), mpi_type(t), out.data_ptr(), count_of(t), mpi_type(t), data_, &request),
          "allgather");
    wait(request, "allgather");
    return out;
  }

  void barrier() override {
    MPI_Request request;
    check(MPI_Ibarrier(data_, &request), "barrier");
    wait(request, "barrier");
  }

  std::string broadcast_bytes(const std::string& bytes, int root) override {
    auto length = torch::tensor({int64_t(bytes.size())}, torch::kLong);
    broadcast(length, root);
    const int64_t n = length.item<int64_t>();
    auto buffer = torch::empty({n}, torch::kByte);
    if (rank_ == root) std::memcpy(buffer.data_ptr(), bytes.data(), bytes.size());
    broadcast(buffer, root);
    return std::string(static_cast<const char*>(buffer.data_ptr()), size_t(n));
  }

  // The ranks still alive tell each other so; the lowest of them reports.
  [[noreturn]] void stalled(const std::string& what, double waited_seconds) override {
    const int kAliveTag = 7301;
    int me = rank_;
    std::vector<MPI_Request> sends(size_t(size_), MPI_REQUEST_NULL);
    for (int r = 0; r < size_; ++r)
      if (r != rank_) MPI_Isend(&me, 1, MPI_INT, r, kAliveTag, control_, &sends[size_t(r)]);
    std::set<int> alive{rank_};
    // Live ranks time out within about the same interval; wait that long for their word.
    const auto grace = std::chrono::duration<double>(std::min(10.0, std::max(2.0, timeout_seconds_ / 2)));
    const auto until = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < until && int(alive.size()) < size_) {
      int flag = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, kAliveTag, control_, &flag, &status);
      if (flag) {
        int from = 0;
        MPI_Recv(&from, 1, MPI_INT, status.MPI_SOURCE, kAliveTag, control_, MPI_STATUS_IGNORE);
        alive.insert(from);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    std::ostringstream missing;
    for (int r = 0; r < size_; ++r)
      if (!alive.count(r)) missing << (missing.tellp() > 0 ? ", " : "") << r;
    std::ostringstream message;
    if (missing.tellp() > 0)
      message << "rank " << missing.str() << " did not reach the " << what << " within " << waited_seconds
              << " s (dead or hung); the job was ended";
    else
      message << "every rank is alive but the " << what << " did not complete within " << waited_seconds
              << " s (ranks out of step); the job was ended";
    if (*alive.begin() == rank_ && on_stall_) on_stall_(message.str());
    MPI_Abort(MPI_COMM_WORLD, kStallExitCode);
    std::abort();  // MPI_Abort does not return
  }

 private:
  void check(int code, const char* what) const {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw ParallelError(std::string("mpi ") + what + ": " + std::string(text, size_t(length)));
  }

  void wait(MPI_Request& request, const char* what) {
    wait_until_done(
        [&] {
          int done = 0;
          check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
          return done != 0;
        },
        what, timeout_seconds_, [this](const std::string& w, double s) { stalled(w, s); });
  }

  double timeout_seconds_;
  bool owns_mpi_ = false;
  MPI_Comm data_ = MPI_COMM_NULL, control_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(double timeout_seconds) {
  return std::make_unique<MpiCommunicator>(timeout_seconds);
}

}  // namespace gansweep
