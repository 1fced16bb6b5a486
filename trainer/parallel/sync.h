// What makes k ranks train exactly like one process on the global batch: global means,
// synchronized batch norm, averaged gradients, identical starting state, gathered outputs.
// Each rank's loss is the mean over its shard; with equal shards the average of those is
// the global mean, so averaging the gradients gives the global gradient. Cross-rank terms
// (a batch mean inside a loss, BN statistics) are made global here, in forward and backward.
#pragma once

#include <torch/torch.h>

#include "trainer/parallel/communicator.h"

namespace gansweep {

// The mean of `x` over every rank's elements, differentiable: the backward sums the
// incoming gradients of all ranks, as the derivative of the global loss requires.
torch::Tensor global_mean(const torch::Tensor& x, Communicator& comm);

// BatchNorm2d in training mode with batch statistics over all ranks (as SyncBatchNorm):
// the same output, gradients and running statistics as one process on the whole batch.
torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm2dImpl& bn, Communicator& comm);

// Averages the gradients of `params` over all ranks, fused into buckets of about
// `bucket_bytes` (one collective per bucket instead of one per tensor). A parameter without
// a gradient counts as zero.
void average_gradients(const std::vector<torch::Tensor>& params, Communicator& comm, int64_t bucket_bytes);

// Root's parameters and buffers on every rank.
void broadcast_module(torch::nn::Module& module, Communicator& comm, int root = 0);

// Every rank's rows (counts may differ by rank), concatenated in rank order.
torch::Tensor gather_rows(const torch::Tensor& local, Communicator& comm);

// A fingerprint of the module's parameters and buffers: equal on all ranks while they agree.
torch::Tensor state_fingerprint(torch::nn::Module& module);

}  // namespace gansweep
