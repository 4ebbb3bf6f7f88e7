// Matrix products on CUDA: every product is one cuBLAS strided-batched GEMM
// (or a few, when the batch dims cannot be stepped with a single stride),
// and broadcast reductions are GEMMs against a ones vector. No kernels of
// our own: cuBLAS picks the tiling, and its results are deterministic for a
// given device and problem.
#include <algorithm>
#include <vector>

#include "cuda/blas.h"
#include "cuda/blas_lt.h"
#include "ops/kernels/linalg.h"

namespace cudaseg::cuda {
namespace {

using ops::LinearAct;
using ops::kernels::BlasMat;

// cuBLAS insists on ld >= 1 even for an empty operand; blas_mat's leading
// dimension already covers the stored columns.
BlasMat mat_of(const Tensor& t) {
  BlasMat m = ops::kernels::blas_mat(t);
  m.ld = std::max<int64_t>(m.ld, 1);
  return m;
}

// True when dims [from, to) of `sizes` are stepped by one stride in
// `strides` (dims of size 1 ignored); *step is that stride.
bool single_stride(const Shape& sizes, const Shape& strides, size_t from, size_t to, int64_t* step) {
  *step = 0;
  int64_t expect = -1;  // the stride the next outer non-1 dim must have
  for (size_t d = to; d-- > from;) {
    if (sizes[d] == 1) continue;
    if (expect < 0) {
      *step = strides[d];
    } else if (strides[d] != expect) {
      return false;
    }
    expect = strides[d] * sizes[d];
  }
  return true;
}

}  // namespace

void batched_matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t nd = out.dim();
  const int64_t n = out.size(nd - 2), p = out.size(nd - 1), m = a.size(nd - 1);
  const BlasMat ma = mat_of(a), mb = mat_of(b);
  const Shape batch(out.shape().begin(), out.shape().end() - 2);
  const Shape sa(a.strides().begin(), a.strides().end() - 2), sb(b.strides().begin(), b.strides().end() - 2);
  const Shape so(out.strides().begin(), out.strides().end() - 2);
  // The longest suffix of batch dims each operand steps with one stride goes
  // to one strided-batched call; the leading dims left over loop on the host.
  size_t split = batch.size();
  int64_t step_a = 0, step_b = 0, step_o = 0;
  for (size_t s = 0; s <= batch.size(); ++s) {
    if (single_stride(batch, sa, s, batch.size(), &step_a) && single_stride(batch, sb, s, batch.size(), &step_b) &&
        single_stride(batch, so, s, batch.size(), &step_o)) {
      split = s;
      break;
    }
  }
  int64_t inner = 1, outer = 1;
  for (size_t d = 0; d < batch.size(); ++d) (d < split ? outer : inner) *= batch[d];
  const size_t item = out.itemsize();
  const auto* pa = static_cast<const char*>(a.raw_data());
  const auto* pb = static_cast<const char*>(b.raw_data());
  auto* po = static_cast<char*>(out.raw_data());
  for (int64_t o = 0; o < outer; ++o) {
    int64_t rest = o, oa = 0, ob = 0, oo = 0;
    for (size_t d = split; d-- > 0;) {
      const int64_t idx = rest % batch[d];
      rest /= batch[d];
      oa += idx * sa[d];
      ob += idx * sb[d];
      oo += idx * so[d];
    }
    GemmArgs g;
    g.trans_a = ma.trans;
    g.trans_b = mb.trans;
    g.m = n;
    g.n = p;
    g.k = m;
    g.a = pa + oa * static_cast<int64_t>(item);
    g.lda = ma.ld;
    g.stride_a = step_a;
    g.b = pb + ob * static_cast<int64_t>(item);
    g.ldb = mb.ld;
    g.stride_b = step_b;
    g.c = po + oo * static_cast<int64_t>(item);
    g.ldc = std::max<int64_t>(p, 1);
    g.stride_c = step_o;
    g.batch = inner;
    gemm(out.dtype(), out.device().index, g, "matmul");
  }
}

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out) {
  const int64_t rows = x.size(0), in = x.size(1), outf = weight.size(0);
  // beta = 1 over a broadcast copy of the bias adds it inside the GEMM.
  if (bias.defined()) Tensor(out).copy_(bias.expand(out.shape()));
  const BlasMat mx = mat_of(x), mw = mat_of(weight);
  GemmArgs g;
  g.trans_a = mx.trans;
  g.trans_b = !mw.trans;  // weight is [out, in]: the product needs its transpose
  g.m = rows;
  g.n = outf;
  g.k = in;
  g.a = x.raw_data();
  g.lda = mx.ld;
  g.b = weight.raw_data();
  g.ldb = mw.ld;
  g.c = out.raw_data();
  g.ldc = std::max<int64_t>(outf, 1);
  g.beta = bias.defined() ? 1.0 : 0.0;
  gemm(out.dtype(), out.device().index, g, "linear");
}

// act(x @ weight^T + bias): cuBLASLt with the bias and activation in its
// epilogue when it takes the problem; otherwise the GEMM (over a copy of the
// bias), then the activation in place.
void linear_act(const Tensor& x, const Tensor& weight, const Tensor& bias, LinearAct act, const Tensor& out) {
  const bool epilogue = bias.defined() || act == LinearAct::relu || act == LinearAct::gelu_tanh;
  const LtActivation lt = act == LinearAct::relu        ? LtActivation::relu
                          : act == LinearAct::gelu_tanh ? LtActivation::gelu_tanh
                                                        : LtActivation::none;
  bool applied = false;  // whether the activation already ran
  if (epilogue && x.is_contiguous() && weight.is_contiguous() && linear_lt(x, weight, bias, lt, out)) {
    applied = lt != LtActivation::none;
  } else {
    linear(x, ops::kernels::blas_ready(weight), bias, out);
  }
  if (applied || act == LinearAct::none) return;
  // Elementwise, so in place is safe.
  ops::kernels::activation(out.device(), ops::kernels::linear_activation(act), out, out);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t nd = x.dim(), lead = nd - static_cast<int64_t>(shape.size());
  CUDASEG_CHECK(lead >= 0, "sum_to: target ", shape_str(shape), " has more dims than input ", x.str());
  // Reduced dims first, kept dims last: x becomes a [count, kept] matrix
  // (no copy when the reduced dims already lead, the usual batch broadcast).
  std::vector<int64_t> order, kept_dims;
  int64_t count = 1, kept = 1;
  for (int64_t d = 0; d < nd; ++d) {
    const bool reduced = d < lead || (shape[d - lead] == 1 && x.size(d) != 1);
    if (!reduced)
      CUDASEG_CHECK(shape[d - lead] == x.size(d), "sum_to: input ", x.str(), " does not broadcast from ",
                    shape_str(shape));
    if (reduced) {
      order.push_back(d);
      count *= x.size(d);
    } else {
      kept_dims.push_back(d);
      kept *= x.size(d);
    }
  }
  order.insert(order.end(), kept_dims.begin(), kept_dims.end());
  Tensor out = Tensor::empty({kept}, x.dtype(), x.device());
  if (count == 0 || kept == 0) {
    out.fill_(0.0);
    return out.view(shape);
  }
  const Tensor rows = x.permute(order).contiguous();
  const Tensor ones = Tensor::ones({count}, x.dtype(), x.device());
  GemmArgs g;
  g.m = 1;
  g.n = kept;
  g.k = count;
  g.a = ones.raw_data();
  g.lda = count;
  g.b = rows.raw_data();
  g.ldb = kept;
  g.c = out.raw_data();
  g.ldc = kept;
  gemm(x.dtype(), x.device().index, g, "sum_to");
  return out.view(shape);
}

CUDASEG_REGISTER_KERNEL(ops::kernels::batched_matmul, cuda, batched_matmul)
CUDASEG_REGISTER_KERNEL(ops::kernels::linear, cuda, linear_act)
CUDASEG_REGISTER_KERNEL(ops::kernels::sum_to, cuda, sum_to)

}  // namespace cudaseg::cuda
