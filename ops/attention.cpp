#include "ops/attention.h"

#include <cmath>

#include "ops/common.h"
#include "ops/kernels/attention.h"
#include "ops/kernels/binary.h"
#include "ops/kernels/linalg.h"
#include "ops/linalg.h"

namespace cudaseg::ops {

Kernel<kernels::AttentionSoftmaxFn> kernels::attention_softmax("attention_softmax");
Kernel<kernels::SoftmaxBackwardRowsFn> kernels::softmax_backward_rows("attention_softmax_backward");
Kernel<kernels::AttentionFusedFn> kernels::attention_fused("scaled_dot_product_attention_fused");
Kernel<kernels::AttentionFusedBackwardFn> kernels::attention_fused_backward(
    "scaled_dot_product_attention_fused_backward");

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

// Validates the operands; returns the broadcast scores shape [B..., Lq, Lk].
Shape check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& mask) {
  check_defined(kOp, "query", q);
  check_defined(kOp, "key", k);
  check_defined(kOp, "value", v);
  check_same_device(kOp, {{"query", &q}, {"key", &k}, {"value", &v}, {"bias", &bias}, {"mask", &mask}});
  check_same_dtype(kOp, {{"query", &q}, {"key", &k}, {"value", &v}, {"bias", &bias}});
  check_float(kOp, "query", q);
  CUDASEG_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, kOp,
                ": query, key and value need at least 2 dims, got ", shape_str(q.shape()), ", ",
                shape_str(k.shape()), ", ", shape_str(v.shape()));
  const int64_t lq = q.size(-2), lk = k.size(-2), d = q.size(-1);
  CUDASEG_CHECK(k.size(-1) == d, kOp, ": query ", shape_str(q.shape()), " and key ", shape_str(k.shape()),
                " differ in the embedding dim (", d, " vs ", k.size(-1), ")");
  CUDASEG_CHECK(v.size(-2) == lk, kOp, ": key ", shape_str(k.shape()), " and value ", shape_str(v.shape()),
                " differ in sequence length (", lk, " vs ", v.size(-2), ")");
  if (mask.defined())
    CUDASEG_CHECK(mask.dtype() == DType::boolean, kOp, ": mask must be bool (true = keep), got ",
                  dtype_name(mask.dtype()), " ", shape_str(mask.shape()), "; pass a float mask as bias");
  Shape scores_shape = broadcast_shapes(kOp, broadcast_shapes(kOp, batch_of(q), batch_of(k)), batch_of(v));
  scores_shape.insert(scores_shape.end(), {lq, lk});
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"bias", &bias}, {"mask", &mask}}) {
    if (!t->defined()) continue;
    const auto fail = [&, name = name, t = t] {
      CUDASEG_FAIL(kOp, ": ", name, " ", shape_str(t->shape()), " does not broadcast to the scores ",
                   shape_str(scores_shape), " of query ", shape_str(q.shape()), " and key ", shape_str(k.shape()));
    };
    Shape s;
    try {
      s = broadcast_shapes(kOp, scores_shape, t->shape());
    } catch (const Error&) {
      fail();
    }
    if (s[s.size() - 2] != lq || s.back() != lk) fail();
    scores_shape = s;
  }
  return scores_shape;
}

double resolve_scale(const Tensor& q, std::optional<double> scale) {
  return scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
}

// `shape` with its last two dims replaced.
Shape with_matrix(const Shape& shape, int64_t rows, int64_t cols) {
  Shape s(shape.begin(), shape.end() - 2);
  s.insert(s.end(), {rows, cols});
  return s;
}

Tensor reduce_to(const Tensor& x, const Shape& shape) { return kernels::sum_to(x.device(), x, shape); }

// x * s (ops::mul's kernel) in place: x is a fresh contiguous product.
Tensor scaled(const Tensor& x, double s) {
  kernels::affine_scalar(x.device(), x, s, 0.0, x);
  return x;
}

// The operands expanded to the batch dims of the scores, as the fused kernels take them.
struct Expanded {
  Tensor q, k, v, bias, mask;
  Shape out_shape;
};
Expanded expanded(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& mask,
                  const Shape& scores_shape) {
  const int64_t lq = q.size(-2), lk = k.size(-2);
  return {q.expand(with_matrix(scores_shape, lq, q.size(-1))), k.expand(with_matrix(scores_shape, lk, k.size(-1))),
          v.expand(with_matrix(scores_shape, lk, v.size(-1))), bias.defined() ? bias.expand(scores_shape) : bias,
          mask.defined() ? mask.expand(scores_shape) : mask, with_matrix(scores_shape, lq, v.size(-1))};
}

bool fused_forward_available(const Tensor& q, const Tensor& v) {
  return q.defined() && v.defined() && kernels::attention_fused.has(q.device().type) && q.dim() >= 2 &&
         v.dim() >= 2 && q.size(-1) <= kernels::kAttentionMaxHeadDim &&
         v.size(-1) <= kernels::kAttentionMaxHeadDim;
}

void check_fused(const Tensor& q, const Tensor& v) {
  CUDASEG_CHECK(attention_fused_available(q, v), kOp, ": the fused implementation needs CUDA tensors with head "
                "dims up to 128, got query ", shape_str(q.shape()), " and value ", shape_str(v.shape()), " on ",
                q.device().str());
}

}  // namespace

AttentionForward scaled_dot_product_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                      const Tensor& bias, const Tensor& mask,
                                                      std::optional<double> scale) {
  const Shape scores_shape = check_attention(q, k, v, bias, mask);
  const Tensor eb = bias.defined() ? bias.expand(scores_shape) : bias;
  const Tensor em = mask.defined() ? mask.expand(scores_shape) : mask;
  AttentionForward f;
  f.scale = resolve_scale(q, scale);
  f.probs = matmul(q, k.transpose(-1, -2));
  if (f.probs.shape() != scores_shape) f.probs = f.probs.expand(scores_shape).contiguous();
  kernels::attention_softmax(q.device(), f.probs, eb, em, f.scale);
  f.out = matmul(f.probs, v.expand(with_matrix(scores_shape, k.size(-2), v.size(-1))));
  return f;
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias,
                                    const Tensor& mask, std::optional<double> scale) {
  // Without autograd nothing needs the probabilities: one fused kernel, no
  // [Lq, Lk] buffer, on every device that has its forward (CPU and CUDA).
  if (fused_forward_available(q, v)) {
    const Expanded e = expanded(q, k, v, bias, mask, check_attention(q, k, v, bias, mask));
    Tensor out = Tensor::empty(e.out_shape, q.dtype(), q.device());
    kernels::attention_fused(q.device(), e.q, e.k, e.v, e.bias, e.mask, resolve_scale(q, scale), out, Tensor());
    return out;
  }
  return scaled_dot_product_attention_forward(q, k, v, bias, mask, scale).out;
}

bool attention_fused_available(const Tensor& q, const Tensor& v) {
  return fused_forward_available(q, v) && kernels::attention_fused_backward.has(q.device().type);
}

AttentionFusedForward scaled_dot_product_attention_fused_forward(const Tensor& q, const Tensor& k,
                                                                 const Tensor& v, const Tensor& bias,
                                                                 const Tensor& mask, std::optional<double> scale) {
  const Shape scores_shape = check_attention(q, k, v, bias, mask);
  check_fused(q, v);
  AttentionFusedForward f;
  f.scale = resolve_scale(q, scale);
  const Expanded e = expanded(q, k, v, bias, mask, scores_shape);
  Shape rows(scores_shape.begin(), scores_shape.end() - 1);
  f.out = Tensor::empty(e.out_shape, q.dtype(), q.device());
  f.logsumexp = Tensor::empty(rows, q.dtype() == DType::f64 ? DType::f64 : DType::f32, q.device());
  kernels::attention_fused(q.device(), e.q, e.k, e.v, e.bias, e.mask, f.scale, f.out, f.logsumexp);
  return f;
}

AttentionGrads scaled_dot_product_attention_fused_backward(const Tensor& grad, const Tensor& q, const Tensor& k,
                                                           const Tensor& v, const Tensor& bias, const Tensor& mask,
                                                           const Tensor& out, const Tensor& logsumexp,
                                                           double scale, AttentionNeeds needs) {
  const Shape scores_shape = check_attention(q, k, v, bias, mask);
  check_fused(q, v);
  AttentionGrads g;
  const Expanded e = expanded(q, k, v, bias, mask, scores_shape);
  const auto grad_buffer = [&](bool need, const Tensor& like) {
    return need ? Tensor::empty(like.shape(), q.dtype(), q.device()) : Tensor();
  };
  const Tensor dq = grad_buffer(needs.q, e.q), dk = grad_buffer(needs.k, e.k), dv = grad_buffer(needs.v, e.v);
  const Tensor ds = needs.bias && bias.defined() ? Tensor::empty(scores_shape, q.dtype(), q.device()) : Tensor();
  kernels::attention_fused_backward(q.device(), grad, e.q, e.k, e.v, e.bias, e.mask, out, logsumexp, scale, dq, dk,
                                    dv, ds);
  if (dq.defined()) g.q = reduce_to(dq, q.shape());
  if (dk.defined()) g.k = reduce_to(dk, k.shape());
  if (dv.defined()) g.v = reduce_to(dv, v.shape());
  if (ds.defined()) g.bias = reduce_to(ds, bias.shape());
  return g;
}

AttentionGrads scaled_dot_product_attention_backward(const Tensor& grad, const Tensor& q, const Tensor& k,
                                                     const Tensor& v, const Tensor& probs, double scale,
                                                     const Shape& bias_shape, AttentionNeeds needs) {
  AttentionGrads out;
  if (needs.v) out.v = reduce_to(matmul(probs.transpose(-1, -2), grad), v.shape());
  if (!needs.q && !needs.k && !needs.bias) return out;
  // dL/dscores = softmax backward of dL/dprobs = grad @ v^T.
  Tensor ds = matmul(grad, v.transpose(-1, -2));
  if (!ds.is_contiguous() || ds.shape() != probs.shape()) ds = ds.expand(probs.shape()).contiguous();
  kernels::softmax_backward_rows(ds.device(), probs, ds);
  if (needs.bias) out.bias = reduce_to(ds, bias_shape);
  if (needs.q) out.q = reduce_to(scaled(matmul(ds, k), scale), q.shape());
  if (needs.k) out.k = reduce_to(scaled(matmul(ds.transpose(-1, -2), q), scale), k.shape());
  return out;
}

}  // namespace cudaseg::ops
