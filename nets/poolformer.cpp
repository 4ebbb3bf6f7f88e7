#include "nets/poolformer.h"

#include "autograd/arith.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

nn::ModulePtr group_norm(int64_t channels) { return std::make_shared<nn::GroupNorm>(1, channels); }

class PatchEmbed : public nn::Module {
 public:
  PatchEmbed(int64_t patch_size, int64_t stride, int64_t padding, int64_t in_chans, int64_t embed_dim)
      : nn::Module("PatchEmbed") {
    proj_ = register_module("proj", std::make_shared<nn::Conv2d>(in_chans, embed_dim, patch_size, stride, padding));
  }
  Tensor forward(const Tensor& x) override { return (*proj_)(x); }

 private:
  nn::ModulePtr proj_;
};

// pool(x) - x: the residual around the mixer adds x back.
class Pooling : public nn::Module {
 public:
  Pooling() : nn::Module("Pooling") {
    ops::AvgPool2dParams p;
    p.kernel_size = {3, 3};
    p.stride = {1, 1};
    p.padding = {1, 1};
    p.count_include_pad = false;
    pool_ = register_module("pool", std::make_shared<nn::AvgPool2d>(p));
  }
  Tensor forward(const Tensor& x) override { return fn::sub((*pool_)(x), x); }

 private:
  nn::ModulePtr pool_;
};

class Mlp : public nn::Module {
 public:
  Mlp(int64_t dim, int64_t hidden) : nn::Module("Mlp") {
    fc1_ = register_module("fc1", std::make_shared<nn::Conv2d>(dim, hidden, 1));
    act_ = register_module("act", std::make_shared<nn::Activation>(nn::ActKind::gelu));
    fc2_ = register_module("fc2", std::make_shared<nn::Conv2d>(hidden, dim, 1));
  }
  Tensor forward(const Tensor& x) override { return (*fc2_)((*act_)((*fc1_)(x))); }
  std::vector<nn::FusableChain> fusable_chains() const override { return {{fc1_, nullptr, act_}}; }

 private:
  nn::ModulePtr fc1_, act_, fc2_;
};

class PoolFormerBlock : public nn::Module {
 public:
  PoolFormerBlock(int64_t dim, int64_t mlp_ratio, double layer_scale_init_value) : nn::Module("PoolFormerBlock") {
    layer_scale_1_ = register_parameter("layer_scale_1", Tensor::full({dim}, layer_scale_init_value));
    layer_scale_2_ = register_parameter("layer_scale_2", Tensor::full({dim}, layer_scale_init_value));
    norm1_ = register_module("norm1", group_norm(dim));
    token_mixer_ = register_module("token_mixer", std::make_shared<Pooling>());
    norm2_ = register_module("norm2", group_norm(dim));
    mlp_ = register_module("mlp", std::make_shared<Mlp>(dim, dim * mlp_ratio));
  }
  Tensor forward(const Tensor& input) override {
    const int64_t c = layer_scale_1_.size(0);
    const Tensor ls1 = fn::reshape(nn::like_input(layer_scale_1_, input), {c, 1, 1}),
                 ls2 = fn::reshape(nn::like_input(layer_scale_2_, input), {c, 1, 1});
    const Tensor x = fn::add(input, fn::mul(ls1, (*token_mixer_)((*norm1_)(input))));
    return fn::add(x, fn::mul(ls2, (*mlp_)((*norm2_)(x))));
  }

 private:
  Tensor layer_scale_1_, layer_scale_2_;
  nn::ModulePtr norm1_, token_mixer_, norm2_, mlp_;
};

}  // namespace

const PoolFormerConfig& poolformer_config(const std::string& name) {
  static const std::vector<PoolFormerConfig> configs = {
      {"s12", {2, 2, 6, 2}, {64, 128, 320, 512}, 1e-5},
      {"s24", {4, 4, 12, 4}, {64, 128, 320, 512}, 1e-5},
      {"s36", {6, 6, 18, 6}, {64, 128, 320, 512}, 1e-6},
      {"m36", {6, 6, 18, 6}, {96, 192, 384, 768}, 1e-6},
      {"m48", {8, 8, 24, 8}, {96, 192, 384, 768}, 1e-6},
  };
  for (const auto& c : configs)
    if (c.name == name) return c;
  CUDASEG_FAIL("PoolFormer: unknown variant '", name, "' (s12, s24, s36, m36, m48)");
}

PoolFormer::PoolFormer(const PoolFormerConfig& config) : nn::Module("PoolFormer"), config_(config) {
  const auto& d = config.embed_dims;
  patch_embed_ = register_module("patch_embed", std::make_shared<PatchEmbed>(7, 4, 2, 3, d[0]));
  auto network = std::make_shared<nn::ModuleList>();
  for (size_t i = 0; i < 4; ++i) {
    auto stage = std::make_shared<nn::Sequential>();
    for (int64_t j = 0; j < config.layers[i]; ++j)
      stage->push_back(std::make_shared<PoolFormerBlock>(d[i], 4, config.layer_scale_init_value));
    network->push_back(stage);
    if (i < 3) network->push_back(std::make_shared<PatchEmbed>(3, 2, 1, d[i], d[i + 1]));
  }
  network_ = register_module("network", network);
  for (size_t i = 0; i < 4; ++i) norms_[i] = register_module("norm" + std::to_string(2 * i), group_norm(d[i]));
}

std::vector<Tensor> PoolFormer::forward_features(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == 3, "PoolFormer: expects an input [N, 3, H, W], got ", x.str());
  return observed_call({x}, [&] {
    std::vector<Tensor> outs;
    Tensor t = (*patch_embed_)(x);
    for (size_t idx = 0; idx < network_->size(); ++idx) {
      t = (*(*network_)[idx])(t);
      if (idx % 2 == 0) outs.push_back((*norms_[idx / 2])(t));
    }
    return outs;
  });
}

}  // namespace cudaseg::nets
