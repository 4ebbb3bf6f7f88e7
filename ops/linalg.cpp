#include "ops/linalg.h"

#include "ops/activation.h"
#include "ops/common.h"
#include "ops/kernels/linalg.h"

namespace cudaseg::ops {

Kernel<kernels::BatchedMatmulFn> kernels::batched_matmul("matmul");
Kernel<kernels::LinearFn> kernels::linear("linear");
Kernel<kernels::SumToFn> kernels::sum_to("sum_to");

namespace {

using kernels::blas_ready;

void check_operands(const char* op, const char* an, const Tensor& a, const char* bn, const Tensor& b) {
  check_defined(op, an, a);
  check_defined(op, bn, b);
  check_same_device(op, {{an, &a}, {bn, &b}});
  check_same_dtype(op, {{an, &a}, {bn, &b}});
  check_float(op, an, a);
}

Tensor reduce_to(const Tensor& x, const Shape& shape) { return kernels::sum_to(x.device(), x, shape); }

// a [..., n, m] @ b [..., m, p], both at least 2-D, batch dims broadcast.
Tensor batched(const char* op, const Tensor& a, const Tensor& b) {
  const int64_t m = a.size(-1);
  CUDASEG_CHECK(b.size(-2) == m, op, ": inner dims differ: ", shape_str(a.shape()), " @ ", shape_str(b.shape()),
                " (", m, " vs ", b.size(-2), ")");
  const Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape shape = broadcast_shapes(op, ba, bb);
  Shape sa = shape, sb = shape;
  sa.insert(sa.end(), {a.size(-2), m});
  sb.insert(sb.end(), {m, b.size(-1)});
  shape.insert(shape.end(), {a.size(-2), b.size(-1)});
  if (m == 0) return Tensor::zeros(shape, a.dtype(), a.device());
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  kernels::batched_matmul(a.device(), blas_ready(a).expand(sa), blas_ready(b).expand(sb), out);
  return out;
}

// `out` after the activation: the op applied to it (a new tensor), or `out` itself.
Tensor activate(const Tensor& out, LinearAct act) {
  switch (act) {
    case LinearAct::relu: return relu(out);
    case LinearAct::gelu: return gelu(out);
    case LinearAct::gelu_tanh: return gelu(out, "tanh");
    default: return out;
  }
}


}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_operands("matmul", "input", a, "other", b);
  CUDASEG_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dim, got ",
                shape_str(a.shape()), " and ", shape_str(b.shape()));
  const bool a_vec = a.dim() == 1, b_vec = b.dim() == 1;
  const Tensor a2 = a_vec ? a.unsqueeze(0) : a;
  const Tensor b2 = b_vec ? b.unsqueeze(1) : b;
  CUDASEG_CHECK(a2.size(-1) == b2.size(-2), "matmul: inner dims differ: ", shape_str(a.shape()), " @ ",
                shape_str(b.shape()), " (", a2.size(-1), " vs ", b2.size(-2), ")");
  Tensor out = batched("matmul", a2, b2);
  if (b_vec) out = out.squeeze(-1);
  if (a_vec) out = out.squeeze(out.dim() - (b_vec ? 1 : 2));
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_operands("bmm", "input", a, "mat2", b);
  check_dim("bmm", "input", a, 3);
  check_dim("bmm", "mat2", b, 3);
  CUDASEG_CHECK(a.size(0) == b.size(0), "bmm: batch sizes differ: ", shape_str(a.shape()), " and ",
                shape_str(b.shape()));
  return batched("bmm", a, b);
}

Tensor linear_act(const Tensor& x, const Tensor& weight, const Tensor& bias, LinearAct act) {
  check_operands("linear", "input", x, "weight", weight);
  check_same_device("linear", {{"input", &x}, {"bias", &bias}});
  check_same_dtype("linear", {{"input", &x}, {"bias", &bias}});
  check_dim("linear", "weight", weight, 2);
  CUDASEG_CHECK(x.dim() >= 1, "linear: input must have at least 1 dim, got ", shape_str(x.shape()));
  const int64_t in = weight.size(1), outf = weight.size(0);
  CUDASEG_CHECK(x.size(-1) == in, "linear: input ", shape_str(x.shape()), " has ", x.size(-1),
                " features but weight ", shape_str(weight.shape()), " expects ", in);
  if (bias.defined())
    CUDASEG_CHECK(bias.dim() == 1 && bias.size(0) == outf, "linear: bias ", shape_str(bias.shape()),
                  " must be [", outf, "] for weight ", shape_str(weight.shape()));
  Shape shape = x.shape();
  shape.back() = outf;
  const Tensor x2 = blas_ready(x.reshape({-1, in}));
  Tensor out = Tensor::empty({x2.size(0), outf}, x.dtype(), x.device());
  const Tensor b = bias.defined() ? bias.contiguous() : bias;
  if (in > 0) {
    kernels::linear(x.device(), x2, weight, b, act, out);
    return out.view(shape);
  }
  out.fill_(0.0);
  if (bias.defined()) out.copy_(bias.expand(out.shape()));
  return activate(out, act).view(shape);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return linear_act(x, weight, bias, LinearAct::none);
}

MatmulGrads matmul_backward(const Tensor& grad, const Tensor& a, const Tensor& b, bool need_a, bool need_b) {
  // Work on the promoted (at least 2-D) operands, then drop what promotion added.
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  const Shape ba(a2.shape().begin(), a2.shape().end() - 2), bb(b2.shape().begin(), b2.shape().end() - 2);
  Shape gshape = broadcast_shapes("matmul_backward", ba, bb);
  gshape.insert(gshape.end(), {a2.size(-2), b2.size(-1)});
  const Tensor g = grad.reshape(gshape);
  MatmulGrads out;
  if (need_a) out.a = reduce_to(matmul(g, b2.transpose(-1, -2)), a2.shape()).reshape(a.shape());
  if (need_b) out.b = reduce_to(matmul(a2.transpose(-1, -2), g), b2.shape()).reshape(b.shape());
  return out;
}

LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, bool need_input,
                            bool need_weight, bool need_bias) {
  const int64_t outf = weight.size(0), in = weight.size(1);
  const Tensor g2 = grad.reshape({-1, outf});
  LinearGrads out;
  if (need_input) out.input = matmul(g2, weight).view(x.shape());
  if (need_weight) out.weight = matmul(g2.transpose(0, 1), x.reshape({-1, in}));
  if (need_bias) out.bias = reduce_to(g2, {outf});
  return out;
}

}  // namespace cudaseg::ops
