#include "ops/attention.h"

#include <cmath>

#include "ops/binary.h"
#include "ops/common.h"
#include "ops/cpu/attention.h"
#include "ops/linalg.h"
#include "ops/reduce.h"

namespace cudaseg::ops {
namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

}  // namespace

AttentionForward scaled_dot_product_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                      const Tensor& bias, const Tensor& mask,
                                                      std::optional<double> scale) {
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
  Shape batch = broadcast_shapes(kOp, broadcast_shapes(kOp, batch_of(q), batch_of(k)), batch_of(v));
  Shape scores_shape = batch;
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
  batch.assign(scores_shape.begin(), scores_shape.end() - 2);
  if (!q.device().is_cpu()) no_kernel(kOp, q);

  AttentionForward f;
  f.scale = scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(d));
  f.probs = matmul(q, k.transpose(-1, -2));
  if (f.probs.shape() != scores_shape) f.probs = f.probs.expand(scores_shape).contiguous();
  cpu::attention_softmax(f.probs, bias.defined() ? bias.expand(scores_shape) : bias,
                         mask.defined() ? mask.expand(scores_shape) : mask, f.scale);
  Shape vshape = batch;
  vshape.insert(vshape.end(), {lk, v.size(-1)});
  f.out = matmul(f.probs, v.expand(vshape));
  return f;
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias,
                                    const Tensor& mask, std::optional<double> scale) {
  return scaled_dot_product_attention_forward(q, k, v, bias, mask, scale).out;
}

AttentionGrads scaled_dot_product_attention_backward(const Tensor& grad, const Tensor& q, const Tensor& k,
                                                     const Tensor& v, const Tensor& probs, double scale,
                                                     const Shape& bias_shape, AttentionNeeds needs) {
  AttentionGrads out;
  if (needs.v) out.v = sum_to(matmul(probs.transpose(-1, -2), grad), v.shape());
  if (!needs.q && !needs.k && !needs.bias) return out;
  // dL/dscores = softmax backward of dL/dprobs = grad @ v^T.
  Tensor ds = matmul(grad, v.transpose(-1, -2));
  if (!ds.is_contiguous() || ds.shape() != probs.shape()) ds = ds.expand(probs.shape()).contiguous();
  cpu::softmax_backward_rows(probs, ds);
  if (needs.bias) out.bias = sum_to(ds, bias_shape);
  if (needs.q) out.q = sum_to(mul(matmul(ds, k), scale), q.shape());
  if (needs.k) out.k = sum_to(mul(matmul(ds.transpose(-1, -2), q), scale), k.shape());
  return out;
}

}  // namespace cudaseg::ops
