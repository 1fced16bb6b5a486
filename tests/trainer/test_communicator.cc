// The communicator as one process sees it; collectives across ranks are tested under
// mpirun in test_parallel.cc.
#include <gtest/gtest.h>

#include <cstdlib>

#include "trainer/parallel/communicator.h"
#include "trainer/parallel/sync.h"

namespace gansweep {
namespace {

TEST(ShardRange, ContiguousInRankOrderCoveringEveryRowOnce) {
  EXPECT_EQ(shard_range(8, 0, 2), (std::pair<int64_t, int64_t>{0, 4}));
  EXPECT_EQ(shard_range(8, 1, 2), (std::pair<int64_t, int64_t>{4, 8}));
  // 14 rows over 4 ranks: 4, 4, 3, 3.
  EXPECT_EQ(shard_range(14, 0, 4), (std::pair<int64_t, int64_t>{0, 4}));
  EXPECT_EQ(shard_range(14, 1, 4), (std::pair<int64_t, int64_t>{4, 8}));
  EXPECT_EQ(shard_range(14, 2, 4), (std::pair<int64_t, int64_t>{8, 11}));
  EXPECT_EQ(shard_range(14, 3, 4), (std::pair<int64_t, int64_t>{11, 14}));
  EXPECT_EQ(shard_range(1, 1, 2), (std::pair<int64_t, int64_t>{1, 1}));  // a rank may get none
}

TEST(Communicator, OneProcessIsTheSingleBackendAndEveryCollectiveIsTheIdentity) {
  const auto comm = make_communicator({"auto", 10});
  EXPECT_EQ(comm->backend(), "single");
  EXPECT_EQ(comm->size(), 1);
  auto t = torch::tensor({1.0, 2.0});
  comm->all_reduce(t, ReduceOp::average);
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.0, 2.0})));
  EXPECT_EQ(comm->broadcast_bytes("abc", 0), "abc");
  EXPECT_TRUE(torch::equal(gather_rows(t, *comm), t));
  // The global mean of one rank is the mean, gradient included.
  auto x = torch::tensor({1.0, 3.0}, torch::requires_grad());
  global_mean(x, *comm).backward();
  EXPECT_TRUE(torch::allclose(x.grad(), torch::tensor({0.5, 0.5})));
}

TEST(Communicator, NcclWithoutAGpuFailsWithAClearMessage) {
  try {
    make_communicator({"nccl", 10});
    FAIL() << "expected an error: this machine has no GPU";
  } catch (const ParallelError& e) {
    const std::string message = e.what();
#ifdef GANSWEEP_WITH_NCCL
    EXPECT_NE(message.find("parallel.backend nccl needs a CUDA GPU, and none is usable here"), std::string::npos)
        << message;
#else
    EXPECT_NE(message.find("built without NCCL"), std::string::npos) << message;
#endif
  }
}

TEST(Communicator, AnUnknownBackendIsNamed) {
  try {
    make_communicator({"gloo", 10});
    FAIL() << "expected an error";
  } catch (const ParallelError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown backend 'gloo'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gansweep
