#include "trainer/parallel/sync.h"

namespace gansweep {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

Communicator* comm_of(AutogradContext* ctx) {
  return reinterpret_cast<Communicator*>(ctx->saved_data["comm"].toInt());
}

struct GlobalMean : torch::autograd::Function<GlobalMean> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, Communicator* comm) {
    auto packed = torch::stack({x.sum().to(torch::kDouble), torch::scalar_tensor(double(x.numel()), torch::kDouble).to(x.device())});
    comm->all_reduce(packed, ReduceOp::sum);
    const double count = packed[1].item<double>();
    ctx->saved_data["comm"] = int64_t(reinterpret_cast<intptr_t>(comm));
    ctx->saved_data["count"] = count;
    ctx->saved_data["sizes"] = x.sizes().vec();
    return (packed[0] / count).to(x.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto g = grads[0].reshape({1}).to(torch::kDouble).contiguous();
    comm_of(ctx)->all_reduce(g, ReduceOp::sum);
    const double count = ctx->saved_data["count"].toDouble();
    const auto sizes = ctx->saved_data["sizes"].toIntVector();
    return {(g / count).to(grads[0].scalar_type()).expand(sizes).contiguous(), Tensor()};
  }
};

// y = (x − μ)/sqrt(σ² + ε)·γ + β with μ, σ² over the global batch (two passes, as
// LibTorch's own batch norm, so the rounding stays close to one process).
struct SyncBatchNorm : torch::autograd::Function<SyncBatchNorm> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight, const Tensor& bias,
                        torch::nn::BatchNorm2dImpl* bn, Communicator* comm) {
    const int64_t channels = x.size(1);
    auto sums = torch::cat({x.sum({0, 2, 3}), torch::full({1}, double(x.numel() / channels), x.options())});
    comm->all_reduce(sums, ReduceOp::sum);
    const double count = sums[channels].item<double>();
    const auto mean = sums.narrow(0, 0, channels) / count;
    const auto centered = x - mean.view({1, -1, 1, 1});
    auto squares = centered.square().sum({0, 2, 3}).contiguous();
    comm->all_reduce(squares, ReduceOp::sum);
    const auto var = squares / count;
    const double eps = bn->options.eps();
    const auto invstd = (var + eps).rsqrt();
    const auto xhat = centered * invstd.view({1, -1, 1, 1});
    {
      torch::NoGradGuard no_grad;
      const double momentum = bn->options.momentum().value();
      bn->running_mean.mul_(1 - momentum).add_(mean, momentum);
      bn->running_var.mul_(1 - momentum).add_(var * (count / (count - 1)), momentum);  // unbiased, as PyTorch
      bn->num_batches_tracked.add_(1);
    }
    ctx->save_for_backward({xhat, invstd, weight});
    ctx->saved_data["comm"] = int64_t(reinterpret_cast<intptr_t>(comm));
    ctx->saved_data["count"] = count;
    return xhat * weight.view({1, -1, 1, 1}) + bias.view({1, -1, 1, 1});
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &xhat = saved[0], &invstd = saved[1], &weight = saved[2];
    const auto dy = grads[0].contiguous();
    const int64_t channels = dy.size(1);
    const auto sum_dy = dy.sum({0, 2, 3});
    const auto sum_dy_xhat = (dy * xhat).sum({0, 2, 3});
    // γ and β get this rank's sums; average_gradients then averages them like any weight.
    auto both = torch::cat({sum_dy, sum_dy_xhat});
    comm_of(ctx)->all_reduce(both, ReduceOp::sum);
    const double count = ctx->saved_data["count"].toDouble();
    const auto mean_dy = (both.narrow(0, 0, channels) / count).view({1, -1, 1, 1});
    const auto mean_dy_xhat = (both.narrow(0, channels, channels) / count).view({1, -1, 1, 1});
    const auto dx = (dy - mean_dy - xhat * mean_dy_xhat) * (invstd * weight).view({1, -1, 1, 1});
    return {dx, sum_dy_xhat, sum_dy, Tensor(), Tensor()};
  }
};

}  // namespace

Tensor global_mean(const Tensor& x, Communicator& comm) {
  if (comm.size() == 1) return x.mean();
  return GlobalMean::apply(x, &comm);
}

Tensor sync_batch_norm(const Tensor& x, torch::nn::BatchNorm2dImpl& bn, Communicator& comm) {
  if (comm.size() == 1 || !bn.is_training()) return bn.forward(x);
  return SyncBatchNorm::apply(x, bn.weight, bn.bias, &bn, &comm);
}

void average_gradients(const std::vector<Tensor>& params, Communicator& comm, int64_t bucket_bytes) {
  if (comm.size() == 1) return;
  size_t first = 0;
  while (first < params.size()) {
    // A bucket: consecutive parameters of one dtype, up to bucket_bytes (at least one).
    size_t last = first + 1;
    int64_t bytes = params[first].numel() * int64_t(params[first].element_size());
    while (last < params.size() && params[last].scalar_type() == params[first].scalar_type() &&
           bytes + params[last].numel() * int64_t(params[last].element_size()) <= bucket_bytes) {
      bytes += params[last].numel() * int64_t(params[last].element_size());
      ++last;
    }
    std::vector<Tensor> flat;
    for (size_t i = first; i < last; ++i) {
      auto& grad = params[i].mutable_grad();
      if (!grad.defined()) grad = torch::zeros_like(params[i]);
      flat.push_back(grad.reshape({-1}));
    }
    auto bucket = torch::cat(flat);
    comm.all_reduce(bucket, ReduceOp::average);
    int64_t offset = 0;
    for (size_t i = first; i < last; ++i) {
      auto& grad = params[i].mutable_grad();
      grad.view({-1}).copy_(bucket.narrow(0, offset, grad.numel()));
      offset += grad.numel();
    }
    first = last;
  }
}

void broadcast_module(torch::nn::Module& module, Communicator& comm, int root) {
  if (comm.size() == 1) return;
  torch::NoGradGuard no_grad;
  for (auto& t : module.parameters()) {
    auto data = t.detach();
    comm.broadcast(data, root);
  }
  for (auto& t : module.buffers()) {
    auto data = t.detach();
    comm.broadcast(data, root);
  }
}

Tensor gather_rows(const Tensor& local, Communicator& comm) {
  if (comm.size() == 1) return local;
  const auto counts = comm.all_gather(torch::tensor({local.size(0)}, torch::kLong).to(local.device())).cpu();
  const int64_t most = counts.max().item<int64_t>();
  auto padded = local.contiguous();
  if (local.size(0) < most) {
    std::vector<int64_t> shape = local.sizes().vec();
    shape[0] = most - local.size(0);
    padded = torch::cat({local, torch::zeros(shape, local.options())});
  }
  const auto all = comm.all_gather(padded);
  std::vector<Tensor> parts;
  for (int r = 0; r < comm.size(); ++r) parts.push_back(all[r].narrow(0, 0, counts[r][0].item<int64_t>()));
  return torch::cat(parts);
}

Tensor state_fingerprint(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  std::vector<Tensor> sums;
  for (auto& t : module.parameters()) sums.push_back(t.to(torch::kDouble).sum().reshape({1}));
  for (auto& t : module.buffers()) sums.push_back(t.to(torch::kDouble).sum().reshape({1}));
  return torch::cat(sums);
}

}  // namespace gansweep
