#include "nets/efficientformer_v2.h"

#include <cmath>
#include <map>
#include <optional>
#include <utility>

#include "autograd/arith.h"
#include "autograd/linalg.h"
#include "autograd/shape.h"
#include "autograd/softmax.h"
#include "nn/layers.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

nn::ModulePtr gelu() { return std::make_shared<nn::Activation>(nn::ActKind::gelu); }

std::shared_ptr<nn::Sequential> conv_bn(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups) {
  auto s = std::make_shared<nn::Sequential>();
  s->push_back(std::make_shared<nn::Conv2d>(in, out, k, stride, k / 2, 1, groups, true));
  s->push_back(std::make_shared<nn::BatchNorm2d>(out));
  return s;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Offsets (|dy|, |dx|) between query cell q * step and key cell k, numbered in
// order of first appearance over the (query, key) pairs, as upstream builds its
// bias table; returns the [queries, keys] index buffer and the table size.
std::pair<Tensor, int64_t> bias_indices(int64_t q_res, int64_t k_res, int64_t step) {
  std::map<std::pair<int64_t, int64_t>, int64_t> offsets;
  std::vector<double> idxs;
  for (int64_t qy = 0; qy < q_res; ++qy)
    for (int64_t qx = 0; qx < q_res; ++qx)
      for (int64_t ky = 0; ky < k_res; ++ky)
        for (int64_t kx = 0; kx < k_res; ++kx) {
          const std::pair<int64_t, int64_t> off{std::abs(qy * step - ky), std::abs(qx * step - kx)};
          auto it = offsets.find(off);
          if (it == offsets.end()) it = offsets.emplace(off, static_cast<int64_t>(offsets.size())).first;
          idxs.push_back(static_cast<double>(it->second));
        }
  return {Tensor::from_vector(idxs, {q_res * q_res, k_res * k_res}, DType::i64),
          static_cast<int64_t>(offsets.size())};
}

Tensor check_grid(const Tensor& x, int64_t res, const char* what) {
  CUDASEG_CHECK(x.size(2) == res && x.size(3) == res, "EfficientFormerV2 ", what, ": attention biases are built for a ",
                res, "x", res, " grid, got ", x.str(),
                " (the net takes inputs of its fixed resolution only, as upstream)");
  return x;
}

// Upstream's (attn @ v).transpose(2, 3) for v the map v_full [b, heads * d,
// h, w] and attn [b, heads, n_out, n]: computed as v [d, n] times attn^T per
// head, which leaves [b, heads, d, n_out] in the layout the projection reads
// (the transposed product was copied back into it; the same products).
Tensor value_product(const Tensor& v_full, const Tensor& attn, int64_t heads, int64_t d) {
  const Tensor v = fn::reshape(v_full, {v_full.size(0), heads, d, v_full.size(2) * v_full.size(3)});
  return fn::matmul(v, fn::transpose(attn, 2, 3));
}

class Attention4D : public nn::Module {
 public:
  Attention4D(int64_t dim, int64_t resolution, std::optional<int64_t> stride, int64_t key_dim = 32,
              int64_t num_heads = 8, int64_t attn_ratio = 4)
      : nn::Module("Attention4D"),
        heads_(num_heads),
        key_dim_(key_dim),
        d_(attn_ratio * key_dim),
        res_(stride ? ceil_div(resolution, *stride) : resolution),
        in_res_(resolution),
        scale_(std::pow(static_cast<double>(key_dim), -0.5)) {
    const int64_t nh_kd = key_dim * num_heads, dh = d_ * num_heads;
    auto [idxs, n_offsets] = bias_indices(res_, res_, 1);
    attention_biases_ = register_parameter("attention_biases", Tensor::zeros({num_heads, n_offsets}));
    idxs_ = register_buffer("attention_bias_idxs", idxs);
    if (stride) {
      stride_conv_ = register_module("stride_conv", conv_bn(dim, dim, 3, *stride, dim));
      upsample_ = register_module(
          "upsample", std::make_shared<nn::Upsample>(std::nullopt,
                                                     std::array<double, 2>{double(*stride), double(*stride)},
                                                     "bilinear", false));
    }
    q_ = register_module("q", conv_bn(dim, nh_kd, 1, 1, 1));
    k_ = register_module("k", conv_bn(dim, nh_kd, 1, 1, 1));
    v_ = register_module("v", conv_bn(dim, dh, 1, 1, 1));
    v_local_ = register_module("v_local", conv_bn(dh, dh, 3, 1, dh));
    talking_head1_ = register_module("talking_head1", std::make_shared<nn::Conv2d>(num_heads, num_heads, 1));
    talking_head2_ = register_module("talking_head2", std::make_shared<nn::Conv2d>(num_heads, num_heads, 1));
    auto proj = std::make_shared<nn::Sequential>();
    proj->push_back(gelu());
    proj->push_back(std::make_shared<nn::Conv2d>(dh, dim, 1));
    proj->push_back(std::make_shared<nn::BatchNorm2d>(dim));
    proj_ = register_module("proj", proj);
  }

  Tensor forward(const Tensor& input) override {
    Tensor x = check_grid(input, in_res_, "Attention4D");
    if (stride_conv_) x = (*stride_conv_)(x);
    const int64_t b = x.size(0), n = res_ * res_;
    const Tensor q = fn::permute(fn::reshape((*q_)(x), {b, heads_, key_dim_, n}), {0, 1, 3, 2});
    const Tensor k = fn::reshape((*k_)(x), {b, heads_, key_dim_, n});
    const Tensor v_full = (*v_)(x);
    const Tensor v_local = (*v_local_)(v_full);
    // Gathered at every call: upstream caches it when .eval() is called
    // (`self.ab`), so weights loaded after eval() run with stale biases there.
    // (Kept across calls, it made a session's memory plan record again at
    // the second and third calls: FastSegFormer-E's took 29 and 18 ms
    // against 12.)
    const Tensor bias = fn::reshape(fn::index_select(nn::like_input(attention_biases_, x), 1, fn::flatten(idxs_)),
                                    {heads_, n, n});
    Tensor attn = fn::add(fn::mul(fn::matmul(q, k), scale_), bias);
    attn = (*talking_head2_)(fn::softmax((*talking_head1_)(attn), -1));
    Tensor out = fn::reshape(value_product(v_full, attn, heads_, d_), {b, heads_ * d_, res_, res_});
    out = fn::add(out, v_local);
    if (upsample_) out = (*upsample_)(out);
    return (*proj_)(out);
  }

 private:
  int64_t heads_, key_dim_, d_, res_, in_res_;
  double scale_;
  Tensor attention_biases_, idxs_;
  nn::ModulePtr stride_conv_, upsample_, q_, k_, v_, v_local_, talking_head1_, talking_head2_, proj_;
};

// The query of the downsampling attention: a stride-2 subsample plus a
// depth-wise stride-2 conv, projected.
class LGQuery : public nn::Module {
 public:
  LGQuery(int64_t in_dim, int64_t out_dim) : nn::Module("LGQuery") {
    pool_ = register_module("pool", std::make_shared<nn::AvgPool2d>(1, 2, 0));
    auto local = std::make_shared<nn::Sequential>();
    local->push_back(std::make_shared<nn::Conv2d>(in_dim, in_dim, 3, 2, 1, 1, in_dim, true));
    local_ = register_module("local", local);
    proj_ = register_module("proj", conv_bn(in_dim, out_dim, 1, 1, 1));
  }
  Tensor forward(const Tensor& x) override { return (*proj_)(fn::add((*local_)(x), (*pool_)(x))); }

 private:
  nn::ModulePtr pool_, local_, proj_;
};

class Attention4DDownsample : public nn::Module {
 public:
  Attention4DDownsample(int64_t dim, int64_t out_dim, int64_t resolution, int64_t key_dim = 16,
                        int64_t num_heads = 8, int64_t attn_ratio = 4)
      : nn::Module("Attention4DDownsample"),
        heads_(num_heads),
        key_dim_(key_dim),
        d_(attn_ratio * key_dim),
        res_(resolution),
        res2_(ceil_div(resolution, 2)),
        scale_(std::pow(static_cast<double>(key_dim), -0.5)) {
    const int64_t nh_kd = key_dim * num_heads, dh = d_ * num_heads;
    auto [idxs, n_offsets] = bias_indices(res2_, res_, ceil_div(res_, res2_));
    attention_biases_ = register_parameter("attention_biases", Tensor::zeros({num_heads, n_offsets}));
    idxs_ = register_buffer("attention_bias_idxs", idxs);
    q_ = register_module("q", std::make_shared<LGQuery>(dim, nh_kd));
    k_ = register_module("k", conv_bn(dim, nh_kd, 1, 1, 1));
    v_ = register_module("v", conv_bn(dim, dh, 1, 1, 1));
    v_local_ = register_module("v_local", conv_bn(dh, dh, 3, 2, dh));
    auto proj = std::make_shared<nn::Sequential>();
    proj->push_back(gelu());
    proj->push_back(std::make_shared<nn::Conv2d>(dh, out_dim, 1));
    proj->push_back(std::make_shared<nn::BatchNorm2d>(out_dim));
    proj_ = register_module("proj", proj);
  }

  Tensor forward(const Tensor& input) override {
    const Tensor x = check_grid(input, res_, "Attention4DDownsample");
    const int64_t b = x.size(0), n = res_ * res_, n2 = res2_ * res2_;
    const Tensor q = fn::permute(fn::reshape((*q_)(x), {b, heads_, key_dim_, n2}), {0, 1, 3, 2});
    const Tensor k = fn::reshape((*k_)(x), {b, heads_, key_dim_, n});
    const Tensor v_full = (*v_)(x);
    const Tensor v_local = (*v_local_)(v_full);
    const Tensor bias = fn::reshape(fn::index_select(nn::like_input(attention_biases_, x), 1, fn::flatten(idxs_)),
                                    {heads_, n2, n});
    const Tensor attn = fn::softmax(fn::add(fn::mul(fn::matmul(q, k), scale_), bias), -1);
    const Tensor out = fn::reshape(value_product(v_full, attn, heads_, d_), {b, heads_ * d_, res2_, res2_});
    return (*proj_)(fn::add(out, v_local));
  }

 private:
  int64_t heads_, key_dim_, d_, res_, res2_;
  double scale_;
  Tensor attention_biases_, idxs_;
  nn::ModulePtr q_, k_, v_, v_local_, proj_;
};

// Downsampling between stages: a strided conv + BatchNorm, plus (asub, before
// the last stage) the downsampling attention.
class Embedding : public nn::Module {
 public:
  Embedding(int64_t in_chans, int64_t embed_dim, bool asub, int64_t resolution) : nn::Module("Embedding") {
    if (asub) {
      attn_ = register_module("attn", std::make_shared<Attention4DDownsample>(in_chans, embed_dim, resolution));
      conv_ = register_module("conv", std::make_shared<nn::Conv2d>(in_chans, embed_dim, 3, 2, 1));
      bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(embed_dim));
    } else {
      conv_ = register_module("proj", std::make_shared<nn::Conv2d>(in_chans, embed_dim, 3, 2, 1));
      bn_ = register_module("norm", std::make_shared<nn::BatchNorm2d>(embed_dim));
    }
  }
  Tensor forward(const Tensor& x) override {
    const Tensor y = (*bn_)((*conv_)(x));
    return attn_ ? fn::add((*attn_)(x), y) : y;
  }
  std::vector<nn::FusableChain> fusable_chains() const override { return {{conv_, bn_, nullptr}}; }

 private:
  nn::ModulePtr attn_, conv_, bn_;
};

class Mlp : public nn::Module {
 public:
  Mlp(int64_t dim, int64_t hidden) : nn::Module("Mlp") {
    fc1_ = register_module("fc1", std::make_shared<nn::Conv2d>(dim, hidden, 1));
    act_ = register_module("act", gelu());
    fc2_ = register_module("fc2", std::make_shared<nn::Conv2d>(hidden, dim, 1));
    mid_ = register_module("mid", std::make_shared<nn::Conv2d>(hidden, hidden, 3, 1, 1, 1, hidden, true));
    mid_norm_ = register_module("mid_norm", std::make_shared<nn::BatchNorm2d>(hidden));
    norm1_ = register_module("norm1", std::make_shared<nn::BatchNorm2d>(hidden));
    norm2_ = register_module("norm2", std::make_shared<nn::BatchNorm2d>(dim));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor h = (*act_)((*norm1_)((*fc1_)(x)));
    return (*norm2_)((*fc2_)((*act_)((*mid_norm_)((*mid_)(h)))));
  }
  // The one act module runs at both of its call sites: both chains name it.
  std::vector<nn::FusableChain> fusable_chains() const override {
    return {{fc1_, norm1_, act_}, {mid_, mid_norm_, act_}, {fc2_, norm2_, nullptr}};
  }

 private:
  nn::ModulePtr fc1_, act_, fc2_, mid_, mid_norm_, norm1_, norm2_;
};

Tensor layer_scale(int64_t dim) { return Tensor::full({dim, 1, 1}, 1e-5); }

// FFN block, or AttnFFN (attention first) when `resolution` is given.
class Block : public nn::Module {
 public:
  Block(int64_t dim, int64_t mlp_ratio, std::optional<int64_t> resolution, std::optional<int64_t> stride)
      : nn::Module(resolution ? "AttnFFN" : "FFN") {
    if (resolution) layer_scale_1_ = register_parameter("layer_scale_1", layer_scale(dim));
    layer_scale_2_ = register_parameter("layer_scale_2", layer_scale(dim));
    if (resolution)
      token_mixer_ = register_module("token_mixer", std::make_shared<Attention4D>(dim, *resolution, stride));
    mlp_ = register_module("mlp", std::make_shared<Mlp>(dim, dim * mlp_ratio));
  }
  Tensor forward(const Tensor& input) override {
    Tensor x = input;
    if (token_mixer_) x = fn::add(x, fn::mul(nn::like_input(layer_scale_1_, x), (*token_mixer_)(x)));
    return fn::add(x, fn::mul(nn::like_input(layer_scale_2_, x), (*mlp_)(x)));
  }

 private:
  Tensor layer_scale_1_, layer_scale_2_;
  nn::ModulePtr token_mixer_, mlp_;
};

}  // namespace

const EfficientFormerV2Config& efficientformerv2_config(const std::string& name) {
  static const std::vector<EfficientFormerV2Config> configs = {
      {"s0", {32, 48, 96, 176}, {2, 2, 6, 4}, {{{4, 4}, {4, 4}, {4, 3, 3, 3, 4, 4}, {4, 3, 3, 4}}}, 2},
      {"s1",
       {32, 48, 120, 224},
       {3, 3, 9, 6},
       {{{4, 4, 4}, {4, 4, 4}, {4, 4, 3, 3, 3, 3, 4, 4, 4}, {4, 4, 3, 3, 4, 4}}},
       2},
      {"s2",
       {32, 64, 144, 288},
       {4, 4, 12, 8},
       {{{4, 4, 4, 4}, {4, 4, 4, 4}, {4, 4, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4}, {4, 4, 3, 3, 3, 3, 4, 4}}},
       4},
      {"l",
       {40, 80, 192, 384},
       {5, 5, 15, 10},
       {{{4, 4, 4, 4, 4}, {4, 4, 4, 4, 4}, {4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4}, {4, 4, 4, 3, 3, 3, 3, 4, 4, 4}}},
       6},
  };
  for (const auto& c : configs)
    if (c.name == name) return c;
  CUDASEG_FAIL("EfficientFormerV2: unknown variant '", name, "' (s0, s1, s2, l)");
}

EfficientFormerV2::EfficientFormerV2(const EfficientFormerV2Config& config, int64_t resolution)
    : nn::Module("EfficientFormerV2"), config_(config), resolution_(resolution) {
  CUDASEG_CHECK(resolution > 0, "EfficientFormerV2: resolution ", resolution, " must be positive");
  const auto& w = config.widths;
  auto stem = std::make_shared<nn::Sequential>();
  stem->push_back(std::make_shared<nn::Conv2d>(3, w[0] / 2, 3, 2, 1));
  stem->push_back(std::make_shared<nn::BatchNorm2d>(w[0] / 2));
  stem->push_back(gelu());
  stem->push_back(std::make_shared<nn::Conv2d>(w[0] / 2, w[0], 3, 2, 1));
  stem->push_back(std::make_shared<nn::BatchNorm2d>(w[0]));
  stem->push_back(gelu());
  patch_embed_ = register_module("patch_embed", stem);
  auto network = std::make_shared<nn::ModuleList>();
  for (int64_t i = 0; i < 4; ++i) {
    const int64_t stage_res = ceil_div(resolution, int64_t{1} << (i + 2));
    const int64_t depth = config.depths[i];
    auto stage = std::make_shared<nn::Sequential>();
    for (int64_t j = 0; j < depth; ++j) {
      const bool attn = i >= 2 && j > depth - 1 - config.vit_num;
      stage->push_back(std::make_shared<Block>(w[i], config.e_ratios[i].at(static_cast<size_t>(j)),
                                               attn ? std::optional<int64_t>(stage_res) : std::nullopt,
                                               attn && i == 2 ? std::optional<int64_t>(2) : std::nullopt));
    }
    network->push_back(stage);
    if (i < 3) network->push_back(std::make_shared<Embedding>(w[i], w[i + 1], i >= 2, stage_res));
  }
  network_ = register_module("network", network);
  for (int64_t i = 0; i < 4; ++i)
    norms_[i] = register_module("norm" + std::to_string(2 * i), std::make_shared<nn::BatchNorm2d>(w[i]));
}

std::vector<Tensor> EfficientFormerV2::forward_features(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == 3, "EfficientFormerV2: expects an input [N, 3, H, W], got ", x.str());
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
