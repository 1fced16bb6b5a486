// The backends behind make_communicator (communicator.h); each is compiled only when its
// library was found (GANSWEEP_WITH_MPI, GANSWEEP_WITH_NCCL).
#pragma once

#include <memory>

#include "trainer/parallel/communicator.h"

namespace gansweep {

// Collectives are the identity; the one rank never waits.
class SingleProcessCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce(torch::Tensor&, ReduceOp) override {}
  void broadcast(torch::Tensor&, int) override {}
  torch::Tensor all_gather(const torch::Tensor& t) override { return t.unsqueeze(0).clone(); }
  void barrier() override {}
  std::string broadcast_bytes(const std::string& bytes, int) override { return bytes; }
};

#ifdef GANSWEEP_WITH_MPI
// Initializes MPI (finalized when the communicator is destroyed).
std::unique_ptr<Communicator> make_mpi_communicator(double timeout_seconds);
#endif

#ifdef GANSWEEP_WITH_NCCL
// `control` (MPI, or single for one rank) bootstraps NCCL, carries bytes and barriers, and
// finds the missing ranks when a collective stalls.
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> control, double timeout_seconds);
#endif

}  // namespace gansweep
