#include "nets/segformer.h"

#include <cmath>
#include <sstream>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/attention.h"
#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/registry.h"

namespace cudaseg::nets {
namespace {

// mix_transformer.py's norm_layer is LayerNorm(eps=1e-6) for the blocks and
// the stage outputs; OverlapPatchEmbed.norm and Attention.norm are plain
// nn.LayerNorm (eps 1e-5).
constexpr double kBlockEps = 1e-6;
constexpr double kTorchLayerNormEps = 1e-5;

// MiT's _init_weights: trunc_normal_(std=0.02) on Linear weights (its bounds
// are +-2 absolute, i.e. 100 std, so it is a plain normal in practice), zero
// biases, and normal(0, sqrt(2 / fan_out)) on convolutions.
void init_linear(nn::Linear& m) {
  if (nn::init_skipped()) return;
  autograd::NoGradGuard no_grad;
  m.weight.copy_(nn::init_generator().normal(m.weight.shape(), 0.0, 0.02));
  if (m.bias.defined()) m.bias.fill_(0.0);
}

void init_conv_fan_out(nn::Conv2d& m) {
  if (nn::init_skipped()) return;
  autograd::NoGradGuard no_grad;
  const Shape& w = m.weight.shape();
  const int64_t fan_out = w[2] * w[3] * m.out_channels() / m.params().groups;
  m.weight.copy_(nn::init_generator().normal(w, 0.0, std::sqrt(2.0 / static_cast<double>(fan_out))));
  if (m.bias.defined()) m.bias.fill_(0.0);
}

std::shared_ptr<nn::Linear> mit_linear(int64_t in, int64_t out) {
  auto m = std::make_shared<nn::Linear>(in, out, true);
  init_linear(*m);
  return m;
}

std::shared_ptr<nn::Conv2d> mit_conv(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t groups) {
  auto m = std::make_shared<nn::Conv2d>(in, out, k, s, p, 1, groups, true);
  init_conv_fan_out(*m);
  return m;
}

// Tokens [B, H*W, C] <-> feature map [B, C, H, W].
Tensor tokens_to_map(const Tensor& x, int64_t h, int64_t w) {
  const Shape& s = x.shape();
  return fn::reshape(fn::transpose(x, 1, 2), {s[0], s[2], h, w});
}

Tensor map_to_tokens(const Tensor& x) { return fn::transpose(fn::flatten(x, 2), 1, 2); }

// OverlapPatchEmbed: a strided conv with overlapping windows (padding k / 2),
// flattened to tokens and layer-normed.
class OverlapPatchEmbed : public nn::Module {
 public:
  OverlapPatchEmbed(int64_t in, int64_t embed, int64_t patch, int64_t stride) : Module("OverlapPatchEmbed") {
    proj = register_module("proj", mit_conv(in, embed, patch, stride, patch / 2, 1));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(Shape{embed}, kTorchLayerNormEps));
  }
  // Tokens [B, H*W, C]; h, w receive the grid size.
  Tensor embed(const Tensor& x, int64_t& h, int64_t& w) {
    return observed_call({x}, [&] {
      Tensor y = (*proj)(x);
      h = y.shape()[2];
      w = y.shape()[3];
      return (*norm)(map_to_tokens(y));
    });
  }

 private:
  std::shared_ptr<nn::Conv2d> proj;
  std::shared_ptr<nn::LayerNorm> norm;
};

// Efficient self-attention: keys and values come from the token grid reduced
// sr x sr by a strided conv (plus LayerNorm), so the cost is N * N / sr^2.
class Attention : public nn::Module {
 public:
  Attention(int64_t dim, int64_t heads, int64_t sr_ratio) : Module("Attention"), heads_(heads), sr_ratio_(sr_ratio) {
    CUDASEG_CHECK(dim % heads == 0, "Attention: dim ", dim, " must be divisible by num_heads ", heads);
    q = register_module("q", mit_linear(dim, dim));
    kv = register_module("kv", mit_linear(dim, 2 * dim));
    proj = register_module("proj", mit_linear(dim, dim));
    if (sr_ratio > 1) {
      sr = register_module("sr", mit_conv(dim, dim, sr_ratio, sr_ratio, 0, 1));
      norm = register_module("norm", std::make_shared<nn::LayerNorm>(Shape{dim}, kTorchLayerNormEps));
    }
  }

  Tensor attend(const Tensor& x, int64_t h, int64_t w) {
    return observed_call({x}, [&] {
      const int64_t b = x.shape()[0], n = x.shape()[1], c = x.shape()[2], d = c / heads_;
      Tensor query = fn::permute(fn::reshape((*q)(x), {b, n, heads_, d}), {0, 2, 1, 3});
      Tensor source = x;
      if (sr_ratio_ > 1) source = (*norm)(map_to_tokens((*sr)(tokens_to_map(x, h, w))));
      // [B, M, 2C] -> [2, B, heads, M, d]: k first, then v, as upstream's kv split.
      Tensor kvs = fn::permute(fn::reshape((*kv)(source), {b, -1, 2, heads_, d}), {2, 0, 3, 1, 4});
      Tensor out = fn::scaled_dot_product_attention(query, fn::select(kvs, 0, 0), fn::select(kvs, 0, 1), Tensor(),
                                                    Tensor(), std::pow(static_cast<double>(d), -0.5));
      return (*proj)(fn::reshape(fn::transpose(out, 1, 2), {b, n, c}));
    });
  }

 private:
  int64_t heads_, sr_ratio_;
  std::shared_ptr<nn::Linear> q, kv, proj;
  std::shared_ptr<nn::Conv2d> sr;
  std::shared_ptr<nn::LayerNorm> norm;
};

// Upstream's DWConv wrapper: the conv is its child "dwconv", hence the
// doubled name mlp.dwconv.dwconv.
class DWConv : public nn::Module {
 public:
  explicit DWConv(int64_t dim) : Module("DWConv") {
    dwconv = register_module("dwconv", mit_conv(dim, dim, 3, 1, 1, dim));
  }
  Tensor apply(const Tensor& x, int64_t h, int64_t w) {
    return observed_call({x}, [&] { return map_to_tokens((*dwconv)(tokens_to_map(x, h, w))); });
  }
  // GELU(apply(x)) convolving the tokens where they lie: for forwards that no
  // hook observes (a hook sees this module's and its conv's outputs as
  // upstream's, through the map).
  Tensor apply_gelu_on_tokens(const Tensor& x, int64_t h, int64_t w) {
    return fn::depthwise_conv2d_tokens(x, h, w, nn::like_input(dwconv->weight, x), nn::like_input(dwconv->bias, x),
                                      true);
  }

 private:
  std::shared_ptr<nn::Conv2d> dwconv;
};

// Mix-FFN: fc1 -> 3x3 depthwise conv on the token grid -> GELU (exact) -> fc2.
class MixFFN : public nn::Module {
 public:
  MixFFN(int64_t dim, int64_t hidden) : Module("Mlp") {
    fc1 = register_module("fc1", mit_linear(dim, hidden));
    dwconv = register_module("dwconv", std::make_shared<DWConv>(hidden));
    fc2 = register_module("fc2", mit_linear(hidden, dim));
  }
  Tensor apply(const Tensor& x, int64_t h, int64_t w) {
    return observed_call({x}, [&] {
      const Tensor hidden = (*fc1)(x);
      if (nn::active_forward_hook() == nullptr) return (*fc2)(dwconv->apply_gelu_on_tokens(hidden, h, w));
      return (*fc2)(fn::gelu(dwconv->apply(hidden, h, w)));
    });
  }

 private:
  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<DWConv> dwconv;
};

class Block : public nn::Module {
 public:
  Block(int64_t dim, int64_t heads, int64_t sr_ratio, double drop_path, double norm_eps) : Module("Block") {
    norm1 = register_module("norm1", std::make_shared<nn::LayerNorm>(Shape{dim}, norm_eps));
    attn = register_module("attn", std::make_shared<Attention>(dim, heads, sr_ratio));
    drop_path_ = register_module("drop_path", std::make_shared<nn::DropPath>(drop_path));
    norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(Shape{dim}, norm_eps));
    mlp = register_module("mlp", std::make_shared<MixFFN>(dim, 4 * dim));
  }
  Tensor apply(const Tensor& x, int64_t h, int64_t w) {
    return observed_call({x}, [&] {
      Tensor y = fn::add(x, (*drop_path_)(attn->attend((*norm1)(x), h, w)));
      return fn::add(y, (*drop_path_)(mlp->apply((*norm2)(y), h, w)));
    });
  }

 private:
  std::shared_ptr<nn::LayerNorm> norm1, norm2;
  std::shared_ptr<Attention> attn;
  std::shared_ptr<nn::DropPath> drop_path_;
  std::shared_ptr<MixFFN> mlp;
};

// torch.linspace(0, rate, n) in float32 (its two-sided formula), as upstream
// takes its per-block rates.
std::vector<double> drop_path_rates(double rate, int64_t n) {
  if (n == 1) return {0.0};
  const float end = static_cast<float>(rate), step = end / static_cast<float>(n - 1);
  std::vector<double> r;
  for (int64_t i = 0; i < n; ++i)
    r.push_back(i < n / 2 ? step * static_cast<float>(i) : end - step * static_cast<float>(n - 1 - i));
  return r;
}

// mmcv's ConvModule as SegFormerHead builds it: conv without bias (a norm
// follows), "bn", ReLU; mmcv initialises the conv kaiming-normal (fan_out).
class ConvModule : public nn::Module {
 public:
  ConvModule(int64_t in, int64_t out) : Module("ConvModule") {
    conv = register_module("conv", std::make_shared<nn::Conv2d>(in, out, 1, 1, 0, 1, 1, false));
    init_conv_fan_out(*conv);
    bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(out));
    activate = register_module("activate", nn::make_activation("relu"));
  }
  Tensor forward(const Tensor& x) override { return (*activate)((*bn)((*conv)(x))); }

 private:
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  nn::ModulePtr activate;
};

}  // namespace

// SegFormerHead's MLP: a Linear over the flattened feature map.
class SegFormerLinearEmbed : public nn::Module {
 public:
  SegFormerLinearEmbed(int64_t in, int64_t embed) : Module("MLP") {
    proj = register_module("proj", std::make_shared<nn::Linear>(in, embed));
  }
  // [N, C, H, W] -> tokens [N, H*W, E], as upstream's MLP returns them.
  Tensor forward(const Tensor& x) override { return (*proj)(map_to_tokens(x)); }
  // [N, C, H, W] -> the [N, E, H, W] map the head concatenates: the tokens
  // permuted back where a hook observes them, else the Linear as a 1x1
  // convolution of the map itself, which spares transposing the largest
  // maps in and out (a tenth of SegFormer-B0's decode head).
  Tensor embed_map(const Tensor& x) {
    const Shape& s = x.shape();
    if (nn::active_forward_hook() != nullptr)
      return fn::reshape(fn::permute((*this)(x), {0, 2, 1}), {s[0], -1, s[2], s[3]});
    const Shape& w = proj->weight.shape();
    return fn::conv2d(x, fn::reshape(nn::like_input(proj->weight, x), {w[0], w[1], 1, 1}),
                      nn::like_input(proj->bias, x));
  }

 private:
  std::shared_ptr<nn::Linear> proj;
};

// ---------------------------------------------------------------- configs

const std::vector<MiTConfig>& mit_configs() {
  static const std::vector<MiTConfig> configs = {
      {"mit_b0", {32, 64, 160, 256}, {1, 2, 5, 8}, {2, 2, 2, 2}, {8, 4, 2, 1}, 256},
      {"mit_b1", {64, 128, 320, 512}, {1, 2, 5, 8}, {2, 2, 2, 2}, {8, 4, 2, 1}, 256},
      {"mit_b2", {64, 128, 320, 512}, {1, 2, 5, 8}, {3, 4, 6, 3}, {8, 4, 2, 1}, 768},
      {"mit_b3", {64, 128, 320, 512}, {1, 2, 5, 8}, {3, 4, 18, 3}, {8, 4, 2, 1}, 768},
      {"mit_b4", {64, 128, 320, 512}, {1, 2, 5, 8}, {3, 8, 27, 3}, {8, 4, 2, 1}, 768},
      {"mit_b5", {64, 128, 320, 512}, {1, 2, 5, 8}, {3, 6, 40, 3}, {8, 4, 2, 1}, 768},
  };
  return configs;
}

const MiTConfig& mit_config(const std::string& name) {
  std::ostringstream names;
  for (const auto& c : mit_configs()) {
    if (c.name == name) return c;
    names << (names.tellp() > 0 ? ", " : "") << c.name;
  }
  CUDASEG_FAIL("unknown MiT backbone '", name, "' (known: ", names.str(), ")");
}

// ---------------------------------------------------------------- encoder

MiTStages register_mit_stages(nn::Module& owner, const MiTConfig& config, double drop_path_rate, double norm_eps) {
  MiTStages st;
  const auto& dims = config.embed_dims;
  for (int s = 0; s < 4; ++s) {
    const int64_t in = s == 0 ? 3 : dims[s - 1];
    st.patch_embed[s] = owner.register_module(
        "patch_embed" + std::to_string(s + 1),
        std::make_shared<OverlapPatchEmbed>(in, dims[s], s == 0 ? 7 : 3, s == 0 ? 4 : 2));
  }
  int64_t total = 0;
  for (int64_t d : config.depths) total += d;
  const std::vector<double> dpr = drop_path_rates(drop_path_rate, total);
  size_t cur = 0;
  for (int s = 0; s < 4; ++s) {
    auto list = std::make_shared<nn::ModuleList>();
    for (int64_t j = 0; j < config.depths[s]; ++j)
      list->push_back(
          std::make_shared<Block>(dims[s], config.num_heads[s], config.sr_ratios[s], dpr[cur++], norm_eps));
    st.blocks[s] = owner.register_module("block" + std::to_string(s + 1), list);
    st.norms[s] = owner.register_module("norm" + std::to_string(s + 1),
                                        std::make_shared<nn::LayerNorm>(Shape{dims[s]}, norm_eps));
  }
  return st;
}

std::vector<Tensor> mit_forward_features(const MiTStages& stages, const Tensor& x, std::vector<Tensor>* embeds) {
  CUDASEG_CHECK(x.dim() == 4 && x.shape()[1] == 3, "MixVisionTransformer: expects an input [N, 3, H, W], got ",
                x.str());
  std::vector<Tensor> outs;
  Tensor cur = x;
  for (int s = 0; s < 4; ++s) {
    int64_t h = 0, w = 0;
    Tensor t = static_cast<OverlapPatchEmbed&>(*stages.patch_embed[s]).embed(cur, h, w);
    if (embeds) embeds->push_back(t);
    for (const auto& [name, blk] : stages.blocks[s]->named_children()) t = static_cast<Block&>(*blk).apply(t, h, w);
    t = (*stages.norms[s])(t);
    cur = fn::contiguous(fn::permute(fn::reshape(t, {x.shape()[0], h, w, -1}), {0, 3, 1, 2}));
    outs.push_back(cur);
  }
  return outs;
}

MixVisionTransformer::MixVisionTransformer(const MiTConfig& config, double drop_path_rate, double norm_eps)
    : Module("MixVisionTransformer"),
      config_(config),
      stages_(register_mit_stages(*this, config, drop_path_rate, norm_eps)) {}

std::vector<Tensor> MixVisionTransformer::forward_features(const Tensor& x) {
  return observed_call({x}, [&] { return mit_forward_features(stages_, x); });
}

// ---------------------------------------------------------------- decoder

SegFormerFuseLayers register_segformer_fuse(nn::Module& owner, const std::array<int64_t, 4>& in_channels,
                                            int64_t embed_dim) {
  SegFormerFuseLayers layers;
  for (int i = 3; i >= 0; --i)
    layers.linear_c[i] = owner.register_module("linear_c" + std::to_string(i + 1),
                                               std::make_shared<SegFormerLinearEmbed>(in_channels[i], embed_dim));
  layers.linear_fuse = owner.register_module("linear_fuse", std::make_shared<ConvModule>(4 * embed_dim, embed_dim));
  return layers;
}

Tensor segformer_fuse(const SegFormerFuseLayers& layers, const std::vector<Tensor>& features) {
  CUDASEG_CHECK(features.size() == 4, "SegFormerHead: expects 4 features, got ", features.size());
  const Shape& c1 = features[0].shape();
  std::vector<Tensor> parts;
  for (int i = 3; i >= 0; --i) {  // concatenated as [c4, c3, c2, c1]
    Tensor e = layers.linear_c[i]->embed_map(features[static_cast<size_t>(i)]);
    if (i > 0) e = fn::interpolate(e, std::array<int64_t, 2>{c1[2], c1[3]}, std::nullopt, "bilinear", false);
    parts.push_back(e);
  }
  return (*layers.linear_fuse)(fn::cat(parts, 1));
}

SegFormerHead::SegFormerHead(const std::array<int64_t, 4>& in_channels, int64_t embed_dim, int64_t channels,
                             int64_t num_classes, double dropout_ratio)
    : Module("SegFormerHead") {
  // mmseg's BaseDecodeHead registers conv_seg (normal std 0.01, bias 0) and
  // dropout before SegFormerHead adds its own layers.
  auto conv_seg = register_module("conv_seg", std::make_shared<nn::Conv2d>(channels, num_classes, 1));
  if (!nn::init_skipped()) {
    autograd::NoGradGuard no_grad;
    conv_seg->weight.copy_(nn::init_generator().normal(conv_seg->weight.shape(), 0.0, 0.01));
    conv_seg->bias.fill_(0.0);
  }
  if (dropout_ratio > 0) dropout_ = register_module("dropout", std::make_shared<nn::Dropout>(dropout_ratio, true));
  fuse_ = register_segformer_fuse(*this, in_channels, embed_dim);
  linear_pred_ = register_module("linear_pred", std::make_shared<nn::Conv2d>(embed_dim, num_classes, 1));
}

Tensor SegFormerHead::forward_features(const std::vector<Tensor>& features) {
  return observed_call(features, [&] {
    Tensor y = segformer_fuse(fuse_, features);
    if (dropout_) y = (*dropout_)(y);
    return (*linear_pred_)(y);
  });
}

// ---------------------------------------------------------------- net

SegFormer::SegFormer(const std::string& backbone_name, int64_t num_classes, int64_t embed_dim, int64_t channels,
                     double dropout_ratio, double drop_path_rate, double layer_norm_eps)
    : nn::SegNet("SegFormer") {
  const MiTConfig& cfg = mit_config(backbone_name);
  CUDASEG_CHECK(num_classes > 0 && embed_dim >= 0 && channels > 0, "SegFormer: num_classes ", num_classes,
                " and channels ", channels, " must be positive, embed_dim ", embed_dim, " >= 0");
  CUDASEG_CHECK(dropout_ratio >= 0 && dropout_ratio <= 1 && drop_path_rate >= 0 && drop_path_rate <= 1,
                "SegFormer: dropout_ratio ", dropout_ratio, " and drop_path_rate ", drop_path_rate,
                " must be in [0, 1]");
  CUDASEG_CHECK(layer_norm_eps > 0, "SegFormer: layer_norm_eps ", layer_norm_eps, " must be positive");
  backbone = register_module("backbone", std::make_shared<MixVisionTransformer>(cfg, drop_path_rate, layer_norm_eps));
  decode_head = register_module(
      "decode_head", std::make_shared<SegFormerHead>(cfg.embed_dims, embed_dim > 0 ? embed_dim : cfg.decoder_embed_dim,
                                                     channels, num_classes, dropout_ratio));
}

std::vector<Tensor> SegFormer::forward_train(const Tensor& x) {
  Tensor head = decode_head->forward_features(backbone->forward_features(x));
  Tensor out = fn::interpolate(head, std::array<int64_t, 2>{x.shape()[2], x.shape()[3]}, std::nullopt, "bilinear",
                               false);
  return {out, head};
}

Tensor SegFormer::forward(const Tensor& x) { return forward_train(x)[0]; }

CUDASEG_REGISTER_NETS(segformer) {
  nn::NetSpec spec;
  spec.name = "segformer";
  spec.summary = "SegFormer: Mix Transformer encoder + all-MLP decoder (NVlabs/SegFormer)";
  std::vector<nn::Json> backbones;
  for (const auto& c : mit_configs()) backbones.push_back(c.name);
  spec.args = {
      {"backbone", "mit_b0", backbones, "MiT encoder variant"},
      {"embed_dim", 0, {}, "decoder width (decoder_params.embed_dim); 0: 256 for mit_b0/b1, 768 for mit_b2..b5"},
      {"channels", 128, {}, "input width of mmseg's conv_seg (built, unused)"},
      {"dropout_ratio", 0.1, {}, "Dropout2d before linear_pred"},
      {"drop_path_rate", 0.1, {}, "stochastic depth, rising linearly from 0 over the blocks"},
      {"layer_norm_eps", kBlockEps, {}, "eps of the blocks' and stages' LayerNorms (Hugging Face's SegFormer: 1e-5)"},
  };
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<SegFormer>(a["backbone"].get<std::string>(), a["num_classes"].get<int64_t>(),
                                       a["embed_dim"].get<int64_t>(), a["channels"].get<int64_t>(),
                                       a["dropout_ratio"].get<double>(), a["drop_path_rate"].get<double>(),
                                       a["layer_norm_eps"].get<double>());
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
