#include "autograd/attention.h"

#include "autograd/engine.h"
#include "ops/attention.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

ops::AttentionNeeds needs_of(const std::vector<autograd::Edge>& edges) {
  ops::AttentionNeeds needs;
  needs.q = edges[0].valid();
  needs.k = edges[1].valid();
  needs.v = edges[2].valid();
  needs.bias = edges.size() == 4 && edges[3].valid();
  return needs;
}

std::vector<Tensor> grads_of(ops::AttentionGrads&& r, size_t inputs) {
  std::vector<Tensor> out = {std::move(r.q), std::move(r.k), std::move(r.v)};
  if (inputs == 4) out.push_back(std::move(r.bias));
  return out;
}

// The materialised path: keeps the probabilities [B..., Lq, Lk].
struct AttentionBackward : Node {
  const char* name() const override { return "ScaledDotProductAttentionBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return grads_of(ops::scaled_dot_product_attention_backward(g[0], q.unpack(*this), k.unpack(*this),
                                                                v.unpack(*this), probs.unpack(*this), scale,
                                                                bias_shape, needs_of(next_edges)),
                    next_edges.size());
  }
  void release_saved() override {
    q.reset();
    k.reset();
    v.reset();
    probs.reset();
  }
  SavedTensor q, k, v, probs;
  double scale = 1.0;
  Shape bias_shape;
};

// The fused path (CUDA): keeps the output and the row logsumexp; the
// backward recomputes the probabilities.
struct FusedAttentionBackward : Node {
  const char* name() const override { return "ScaledDotProductFusedAttentionBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return grads_of(ops::scaled_dot_product_attention_fused_backward(
                        g[0], q.unpack(*this), k.unpack(*this), v.unpack(*this), bias.unpack(*this),
                        mask.unpack(*this), out.unpack(*this), logsumexp.unpack(*this), scale, needs_of(next_edges)),
                    next_edges.size());
  }
  void release_saved() override {
    for (SavedTensor* t : {&q, &k, &v, &bias, &mask, &out, &logsumexp}) t->reset();
  }
  SavedTensor q, k, v, bias, mask, out, logsumexp;
  double scale = 1.0;
};

std::vector<const Tensor*> inputs_of(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias) {
  std::vector<const Tensor*> inputs = {&q, &k, &v};
  if (bias.defined()) inputs.push_back(&bias);
  return inputs;
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias,
                                    const Tensor& mask, std::optional<double> scale) {
  if (!autograd::any_requires_grad({&q, &k, &v, &bias}))
    return ops::scaled_dot_product_attention(q, k, v, bias, mask, scale);
  if (ops::attention_fused_available(q, v)) {
    ops::AttentionFusedForward f = ops::scaled_dot_product_attention_fused_forward(q, k, v, bias, mask, scale);
    auto node = std::make_shared<FusedAttentionBackward>();
    node->q = SavedTensor(q);
    node->k = SavedTensor(k);
    node->v = SavedTensor(v);
    node->bias = SavedTensor(bias);
    node->mask = SavedTensor(mask);
    node->out = SavedTensor(f.out.detach());  // the output itself would hold this node: a cycle
    node->logsumexp = SavedTensor(f.logsumexp);
    node->scale = f.scale;
    autograd::record(node, inputs_of(q, k, v, bias), {&f.out});
    return f.out;
  }
  ops::AttentionForward f = ops::scaled_dot_product_attention_forward(q, k, v, bias, mask, scale);
  auto node = std::make_shared<AttentionBackward>();
  node->q = SavedTensor(q);
  node->k = SavedTensor(k);
  node->v = SavedTensor(v);
  node->probs = SavedTensor(f.probs);
  node->scale = f.scale;
  if (bias.defined()) node->bias_shape = bias.shape();
  autograd::record(node, inputs_of(q, k, v, bias), {&f.out});
  return f.out;
}

}  // namespace cudaseg::fn
