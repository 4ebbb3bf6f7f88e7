#include "nn/sync_batch_norm.h"

#include <cmath>

#include "autograd/engine.h"
#include "ops/ops.h"
#include "runtime/error.h"

namespace cudaseg::nn {
namespace {

thread_local AllReduceSum sync_reducer;

std::vector<int64_t> reduced_dims(const Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

// [C] -> [1, C, 1, ...] to broadcast against x.
Tensor per_channel(const Tensor& v, const Tensor& x) {
  Shape shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = x.size(1);
  return v.view(shape);
}

// Sums the [k, C] rows of per-channel sums over the ranks, in float64 on the
// host whatever x's dtype and device: the sums of a large batch keep their
// digits, and the collective sees one dtype.
Tensor reduce_rows(const std::vector<Tensor>& rows, const AllReduceSum& all_reduce_sum) {
  std::vector<Tensor> host;
  for (const Tensor& r : rows) host.push_back(r.to(Device::cpu(), DType::f64));
  Tensor packed = ops::stack(host, 0).contiguous();
  all_reduce_sum(packed);
  return packed;
}

struct SyncBatchNormBackward : autograd::Node {
  const char* name() const override { return "SyncBatchNormBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const Tensor& dy = g[0];
    const Tensor xmu = saved_xmu.unpack(*this), invstd = saved_invstd.unpack(*this);
    const Tensor w = saved_weight.unpack(*this);
    const std::vector<int64_t> dims = reduced_dims(dy);
    const Tensor sum_dy = ops::sum(dy, dims);
    const Tensor sum_dy_xmu = ops::sum(ops::mul(dy, xmu), dims);
    Tensor grad_weight, grad_bias;
    if (w.defined()) {
      grad_weight = ops::mul(sum_dy_xmu, invstd);
      grad_bias = sum_dy;
    }
    const Tensor global = ops::div(reduce_rows({sum_dy, sum_dy_xmu}, reducer), count).to(dy.device(), dy.dtype());
    const Tensor mean_dy = global.select(0, 0), mean_dy_xmu = global.select(0, 1);
    const Tensor scale = w.defined() ? ops::mul(invstd, w) : invstd;
    Tensor grad_x = ops::sub(dy, per_channel(mean_dy, dy));
    grad_x = ops::sub(grad_x, ops::mul(xmu, per_channel(ops::mul(ops::mul(invstd, invstd), mean_dy_xmu), dy)));
    grad_x = ops::mul(grad_x, per_channel(scale, dy));
    return {grad_x, grad_weight, grad_bias};
  }
  void release_saved() override {
    saved_xmu.reset();
    saved_invstd.reset();
    saved_weight.reset();
  }
  autograd::SavedTensor saved_xmu, saved_invstd, saved_weight;
  double count = 0;
  AllReduceSum reducer;
};

}  // namespace

SyncBatchNormGuard::SyncBatchNormGuard(AllReduceSum all_reduce_sum) : previous_(std::move(sync_reducer)) {
  sync_reducer = std::move(all_reduce_sum);
}
SyncBatchNormGuard::~SyncBatchNormGuard() { sync_reducer = std::move(previous_); }

const AllReduceSum* batch_norm_sync() { return sync_reducer ? &sync_reducer : nullptr; }

Tensor sync_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, double momentum, double eps, const AllReduceSum& all_reduce_sum) {
  CUDASEG_CHECK(x.dim() >= 2, "sync_batch_norm: input must be [N, C, *], got ", shape_str(x.shape()));
  const int64_t channels = x.size(1);
  const std::vector<int64_t> dims = reduced_dims(x);
  Tensor out, xmu, invstd;
  double count = 0;
  {
    autograd::NoGradGuard no_grad;
    const Tensor local_count = Tensor::full({channels}, static_cast<double>(x.numel() / channels), DType::f64);
    const Tensor first = reduce_rows({ops::sum(x, dims), local_count}, all_reduce_sum);
    count = first.select(0, 1).select(0, 0).item();
    CUDASEG_CHECK(count > 1, "sync_batch_norm: expected more than 1 value per channel over all ranks when ",
                  "training, got input ", shape_str(x.shape()));
    const Tensor mean = ops::div(first.select(0, 0), count).to(x.device(), x.dtype());
    xmu = ops::sub(x, per_channel(mean, x));
    const Tensor var =
        ops::div(reduce_rows({ops::sum(ops::mul(xmu, xmu), dims)}, all_reduce_sum).select(0, 0), count)
            .to(x.device(), x.dtype());
    invstd = ops::rsqrt(ops::add(var, eps));
    out = ops::mul(xmu, per_channel(invstd, x));
    if (weight.defined()) out = ops::add(ops::mul(out, per_channel(weight, x)), per_channel(bias, x));
    if (running_mean.defined()) {
      Tensor rm = running_mean, rv = running_var;  // handles on the buffers
      rm.copy_(ops::add(ops::mul(running_mean, 1.0 - momentum), ops::mul(mean, momentum)));
      rv.copy_(ops::add(ops::mul(running_var, 1.0 - momentum), ops::mul(var, momentum * count / (count - 1.0))));
    }
  }
  if (autograd::any_requires_grad({&x, &weight, &bias})) {
    auto node = std::make_shared<SyncBatchNormBackward>();
    node->saved_xmu = autograd::SavedTensor(xmu);
    node->saved_invstd = autograd::SavedTensor(invstd);
    node->saved_weight = autograd::SavedTensor(weight);
    node->count = count;
    node->reducer = all_reduce_sum;
    autograd::record(node, {&x, &weight, &bias}, {&out});
  }
  return out;
}

}  // namespace cudaseg::nn
