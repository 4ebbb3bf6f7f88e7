#include "autograd/attention.h"

#include "autograd/engine.h"
#include "ops/attention.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

struct AttentionBackward : Node {
  const char* name() const override { return "ScaledDotProductAttentionBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    ops::AttentionNeeds needs;
    needs.q = next_edges[0].valid();
    needs.k = next_edges[1].valid();
    needs.v = next_edges[2].valid();
    needs.bias = next_edges.size() == 4 && next_edges[3].valid();
    ops::AttentionGrads r = ops::scaled_dot_product_attention_backward(
        g[0], q.unpack(*this), k.unpack(*this), v.unpack(*this), probs.unpack(*this), scale, bias_shape, needs);
    std::vector<Tensor> out = {r.q, r.k, r.v};
    if (next_edges.size() == 4) out.push_back(r.bias);
    return out;
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

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias,
                                    const Tensor& mask, std::optional<double> scale) {
  ops::AttentionForward f = ops::scaled_dot_product_attention_forward(q, k, v, bias, mask, scale);
  if (autograd::any_requires_grad({&q, &k, &v, &bias})) {
    auto node = std::make_shared<AttentionBackward>();
    node->q = SavedTensor(q);
    node->k = SavedTensor(k);
    node->v = SavedTensor(v);
    node->probs = SavedTensor(f.probs);
    node->scale = f.scale;
    std::vector<const Tensor*> inputs = {&q, &k, &v};
    if (bias.defined()) {
      node->bias_shape = bias.shape();
      inputs.push_back(&bias);
    }
    autograd::record(node, inputs, {&f.out});
  }
  return f.out;
}

}  // namespace cudaseg::fn
