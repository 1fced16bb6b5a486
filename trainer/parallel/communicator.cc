#include "trainer/parallel/communicator.h"

#include <cstdlib>

#include "trainer/parallel/backends.h"
#include "trainer/parallel/stall.h"

namespace gansweep {

bool launched_by_mpi() {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx-based launchers set PMIX_RANK.
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr;
}

std::pair<int64_t, int64_t> shard_range(int64_t total, int rank, int size) {
  const int64_t base = total / size, extra = total % size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

void Communicator::stalled(const std::string& what, double waited_seconds) {
  // One rank: nobody else to ask; the device itself did not finish.
  if (on_stall_)
    on_stall_("the " + what + " did not complete within " + std::to_string(waited_seconds) + " s; the job was ended");
  std::_Exit(kStallExitCode);
}

namespace {

bool cuda_devices_visible() {
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  return (visible == nullptr || *visible != '\0') && torch::cuda::is_available();
}

std::unique_ptr<Communicator> make_control(const ParallelOptions& options, const std::string& backend) {
  if (!launched_by_mpi()) return std::make_unique<SingleProcessCommunicator>();
#ifdef GANSWEEP_WITH_MPI
  return make_mpi_communicator(options.timeout_seconds);
#else
  (void)options;
  throw ParallelError("parallel.backend " + backend +
                      ": this trainer was built without MPI (GANSWEEP_WITH_MPI), so it cannot run under mpirun");
#endif
}

}  // namespace

std::unique_ptr<Communicator> make_communicator(const ParallelOptions& options) {
  std::string backend = options.backend;
  if (backend == "auto") backend = cuda_devices_visible() ? "nccl" : launched_by_mpi() ? "mpi" : "single";
  if (backend == "single") {
    if (launched_by_mpi() && std::getenv("OMPI_COMM_WORLD_SIZE") && std::string(std::getenv("OMPI_COMM_WORLD_SIZE")) != "1")
      throw ParallelError("parallel.backend single: this trainer was launched as one of several MPI ranks");
    return std::make_unique<SingleProcessCommunicator>();
  }
  if (backend == "mpi") {
    if (!launched_by_mpi()) return std::make_unique<SingleProcessCommunicator>();  // one rank: nothing to share
    return make_control(options, backend);
  }
  if (backend == "nccl") {
#ifdef GANSWEEP_WITH_NCCL
    return make_nccl_communicator(make_control(options, backend), options.timeout_seconds);
#else
    throw ParallelError("parallel.backend nccl: this trainer was built without NCCL (GANSWEEP_WITH_NCCL); "
                        "see docs/gpu.md");
#endif
  }
  throw ParallelError("parallel.backend: unknown backend '" + backend + "' (valid: auto, single, mpi, nccl)");
}

}  // namespace gansweep
