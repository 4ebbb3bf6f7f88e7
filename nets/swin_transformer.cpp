#include "nets/swin_transformer.h"

#include <cmath>
#include <sstream>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/attention.h"
#include "autograd/engine.h"
#include "autograd/shape.h"
#include "autograd/unary.h"

namespace cudaseg::nets {
namespace {

constexpr double kLayerNormEps = 1e-5;  // nn.LayerNorm's default
constexpr double kMaskValue = -100.0;   // BasicLayer.create_mask

// SwinTransformer._init_weights: trunc_normal_(std 0.02) on Linear weights
// (bounds +-2 absolute: a plain normal in practice), zero biases.
std::shared_ptr<nn::Linear> swin_linear(int64_t in, int64_t out, bool bias = true) {
  auto m = std::make_shared<nn::Linear>(in, out, bias);
  if (!nn::init_skipped()) {
    autograd::NoGradGuard no_grad;
    m->weight.copy_(nn::init_generator().normal(m->weight.shape(), 0.0, 0.02));
    if (m->bias.defined()) m->bias.fill_(0.0);
  }
  return m;
}

Tensor tokens_to_map(const Tensor& x, int64_t h, int64_t w) {
  const Shape& s = x.shape();
  return fn::contiguous(fn::reshape(fn::transpose(x, 1, 2), {s[0], s[2], h, w}));
}

// [B, Hp, Wp, C] -> [B * nW, ws * ws, C], windows in row-major order.
Tensor window_partition(const Tensor& x, int64_t ws) {
  const Shape& s = x.shape();
  Tensor t = fn::reshape(x, {s[0], s[1] / ws, ws, s[2] / ws, ws, s[3]});
  return fn::reshape(fn::permute(t, {0, 1, 3, 2, 4, 5}), {-1, ws * ws, s[3]});
}

Tensor window_reverse(const Tensor& windows, int64_t ws, int64_t b, int64_t hp, int64_t wp) {
  const int64_t c = windows.shape()[2];
  Tensor t = fn::reshape(windows, {b, hp / ws, wp / ws, ws, ws, c});
  return fn::reshape(fn::permute(t, {0, 1, 3, 2, 4, 5}), {b, hp, wp, c});
}

// The shift mask of a padded hp x wp grid, [nW, ws*ws, ws*ws]: 0 between
// tokens of the same region of the rolled grid, -100 across regions.
Tensor shift_mask(int64_t hp, int64_t wp, int64_t ws, int64_t shift, DType dtype, Device device) {
  auto region = [&](int64_t i, int64_t n) { return i < n - ws ? 0 : (i < n - shift ? 1 : 2); };
  const int64_t nwh = hp / ws, nww = wp / ws, n = ws * ws;
  std::vector<double> m(static_cast<size_t>(nwh * nww * n * n));
  size_t k = 0;
  for (int64_t wi = 0; wi < nwh; ++wi)
    for (int64_t wj = 0; wj < nww; ++wj)
      for (int64_t p = 0; p < n; ++p)
        for (int64_t q = 0; q < n; ++q) {
          const int64_t rp = region(wi * ws + p / ws, hp) * 3 + region(wj * ws + p % ws, wp);
          const int64_t rq = region(wi * ws + q / ws, hp) * 3 + region(wj * ws + q % ws, wp);
          m[k++] = rp == rq ? 0.0 : kMaskValue;
        }
  return Tensor::from_vector(m, {nwh * nww, n, n}, dtype).to(device);
}

// PatchEmbed: a patch x patch conv with stride patch (the input padded
// right / bottom to a multiple), tokens, LayerNorm.
class PatchEmbed : public nn::Module {
 public:
  PatchEmbed(int64_t patch, int64_t embed) : Module("PatchEmbed"), patch_(patch) {
    proj = register_module("proj", std::make_shared<nn::Conv2d>(3, embed, patch, patch, 0, 1, 1, true));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(Shape{embed}, kLayerNormEps));
  }
  Tensor embed(const Tensor& x, int64_t& h, int64_t& w) {
    return observed_call({x}, [&] {
      const int64_t ph = x.shape()[2] % patch_, pw = x.shape()[3] % patch_;
      Tensor in = x;
      if (ph != 0 || pw != 0) in = fn::pad(x, {0, pw ? patch_ - pw : 0, 0, ph ? patch_ - ph : 0});
      Tensor y = (*proj)(in);
      h = y.shape()[2];
      w = y.shape()[3];
      return (*norm)(fn::transpose(fn::flatten(y, 2), 1, 2));
    });
  }

 private:
  int64_t patch_;
  nn::ModulePtr proj, norm;
};

// PatchMerging: the 2x2 neighbours (padded to even sides) concatenated as
// [(0,0), (1,0), (0,1), (1,1)], LayerNorm(4C), Linear(4C -> 2C, no bias).
class PatchMerging : public nn::Module {
 public:
  explicit PatchMerging(int64_t dim) : Module("PatchMerging") {
    reduction = register_module("reduction", swin_linear(4 * dim, 2 * dim, false));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(Shape{4 * dim}, kLayerNormEps));
  }
  Tensor merge(const Tensor& x, int64_t h, int64_t w) {
    return observed_call({x}, [&] {
      const int64_t b = x.shape()[0], c = x.shape()[2];
      Tensor t = fn::reshape(x, {b, h, w, c});
      if (h % 2 || w % 2) t = fn::pad(t, {0, 0, 0, w % 2, 0, h % 2});
      const int64_t hp = t.shape()[1], wp = t.shape()[2];
      auto part = [&](int64_t r, int64_t s) { return fn::slice(fn::slice(t, 1, r, hp, 2), 2, s, wp, 2); };
      Tensor y = fn::cat({part(0, 0), part(1, 0), part(0, 1), part(1, 1)}, -1);
      return (*reduction)((*norm)(fn::reshape(y, {b, -1, 4 * c})));
    });
  }

 private:
  nn::ModulePtr reduction, norm;
};

class Mlp : public nn::Module {
 public:
  Mlp(int64_t dim, int64_t hidden) : Module("Mlp") {
    fc1 = register_module("fc1", swin_linear(dim, hidden));
    act = register_module("act", nn::make_activation("gelu"));
    fc2 = register_module("fc2", swin_linear(hidden, dim));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)((*act)((*fc1)(x))); }

 private:
  nn::ModulePtr fc1, act, fc2;
};

// W-MSA / SW-MSA over windows [B * nW, N, C], N = ws * ws.
class WindowAttention : public nn::Module {
 public:
  WindowAttention(int64_t dim, int64_t ws, int64_t heads) : Module("WindowAttention"), heads_(heads) {
    CUDASEG_CHECK(dim % heads == 0, "WindowAttention: dim ", dim, " must be divisible by num_heads ", heads);
    Tensor table = Tensor::zeros({(2 * ws - 1) * (2 * ws - 1), heads});
    if (!nn::init_skipped()) table = nn::init_generator().normal(table.shape(), 0.0, 0.02);
    relative_position_bias_table = register_parameter("relative_position_bias_table", table);
    // index[p][q] = (dy + ws - 1) * (2 ws - 1) + (dx + ws - 1), (dy, dx) = pos(p) - pos(q)
    const int64_t n = ws * ws;
    std::vector<double> index(static_cast<size_t>(n * n));
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = 0; q < n; ++q)
        index[static_cast<size_t>(p * n + q)] =
            static_cast<double>((p / ws - q / ws + ws - 1) * (2 * ws - 1) + (p % ws - q % ws + ws - 1));
    relative_position_index =
        register_buffer("relative_position_index", Tensor::from_vector(index, {n, n}, DType::i64));
    qkv = register_module("qkv", swin_linear(dim, 3 * dim));
    proj = register_module("proj", swin_linear(dim, dim));
  }

  // `mask` [nW, N, N] or undefined (unshifted blocks).
  Tensor attend(const Tensor& x, const Tensor& mask) {
    return observed_call({x}, [&] {
      const int64_t b = x.shape()[0], n = x.shape()[1], c = x.shape()[2], d = c / heads_;
      Tensor t = fn::permute(fn::reshape((*qkv)(x), {b, n, 3, heads_, d}), {2, 0, 3, 1, 4});
      Tensor q = fn::select(t, 0, 0), k = fn::select(t, 0, 1), v = fn::select(t, 0, 2);
      // Under a MixedPrecisionGuard the table joins the compute dtype, as
      // the layers' parameters do.
      const Tensor table = nn::mixed_precision() ? fn::to_dtype(relative_position_bias_table, x.dtype())
                                                 : relative_position_bias_table;
      Tensor bias = fn::permute(
          fn::reshape(fn::index_select(table, 0, fn::reshape(relative_position_index, {-1})), {n, n, heads_}),
          {2, 0, 1});
      if (mask.defined()) {
        // [B, nW, heads, N, N] logits: the mask per window, the bias per head.
        const int64_t nw = mask.shape()[0];
        const Shape split = {b / nw, nw, heads_, n, d};
        q = fn::reshape(q, split);
        k = fn::reshape(k, split);
        v = fn::reshape(v, split);
        bias = fn::add(bias, fn::unsqueeze(mask, 1));
      }
      Tensor out = fn::scaled_dot_product_attention(q, k, v, bias, Tensor(), std::pow(static_cast<double>(d), -0.5));
      out = fn::reshape(out, {b, heads_, n, d});
      return (*proj)(fn::reshape(fn::transpose(out, 1, 2), {b, n, c}));
    });
  }

  Tensor relative_position_bias_table, relative_position_index;

 private:
  int64_t heads_;
  nn::ModulePtr qkv, proj;
};

class SwinTransformerBlock : public nn::Module {
 public:
  SwinTransformerBlock(int64_t dim, int64_t heads, int64_t ws, int64_t shift, double drop_path)
      : Module("SwinTransformerBlock"), ws_(ws), shift_(shift) {
    norm1 = register_module("norm1", std::make_shared<nn::LayerNorm>(Shape{dim}, kLayerNormEps));
    attn = register_module("attn", std::make_shared<WindowAttention>(dim, ws, heads));
    drop_path_ = register_module("drop_path", std::make_shared<nn::DropPath>(drop_path));
    norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(Shape{dim}, kLayerNormEps));
    mlp = register_module("mlp", std::make_shared<Mlp>(dim, 4 * dim));
  }
  Tensor apply(const Tensor& x, int64_t h, int64_t w, const Tensor& mask) {
    return observed_call({x}, [&] {
      const int64_t b = x.shape()[0], c = x.shape()[2];
      Tensor t = fn::reshape((*norm1)(x), {b, h, w, c});
      const int64_t pad_r = (ws_ - w % ws_) % ws_, pad_b = (ws_ - h % ws_) % ws_;
      if (pad_r || pad_b) t = fn::pad(t, {0, 0, 0, pad_r, 0, pad_b});
      const int64_t hp = h + pad_b, wp = w + pad_r;
      if (shift_ > 0) t = fn::roll(t, {-shift_, -shift_}, {1, 2});
      Tensor windows = attn->attend(window_partition(t, ws_), shift_ > 0 ? mask : Tensor());
      t = window_reverse(windows, ws_, b, hp, wp);
      if (shift_ > 0) t = fn::roll(t, {shift_, shift_}, {1, 2});
      if (pad_r || pad_b) t = fn::slice(fn::slice(t, 1, 0, h), 2, 0, w);
      Tensor y = fn::add(x, (*drop_path_)(fn::reshape(t, {b, h * w, c})));
      return fn::add(y, (*drop_path_)((*mlp)((*norm2)(y))));
    });
  }

 private:
  int64_t ws_, shift_;
  nn::ModulePtr norm1, drop_path_, norm2, mlp;
  std::shared_ptr<WindowAttention> attn;
};

// BasicLayer: the stage's blocks, then (stages 1-3) the patch merging; gives
// the merged tokens and the blocks' output before merging.
class BasicLayer : public nn::Module {
 public:
  BasicLayer(int64_t dim, int64_t depth, int64_t heads, int64_t ws, const std::vector<double>& dpr, bool downsample)
      : Module("BasicLayer"), ws_(ws) {
    blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
    for (int64_t i = 0; i < depth; ++i)
      blocks->push_back(
          std::make_shared<SwinTransformerBlock>(dim, heads, ws, i % 2 ? ws / 2 : 0, dpr[static_cast<size_t>(i)]));
    if (downsample) downsample_ = register_module("downsample", std::make_shared<PatchMerging>(dim));
  }
  // {x for the next stage, feat}; h, w become the next stage's grid.
  std::pair<Tensor, Tensor> run(const Tensor& x, int64_t& h, int64_t& w) {
    return observed_call({x}, [&] {
      const int64_t hp = (h + ws_ - 1) / ws_ * ws_, wp = (w + ws_ - 1) / ws_ * ws_;
      const Tensor mask = shift_mask(hp, wp, ws_, ws_ / 2, x.dtype(), x.device());
      Tensor t = x;
      for (const auto& [name, blk] : blocks->named_children())
        t = static_cast<SwinTransformerBlock&>(*blk).apply(t, h, w, mask);
      const Tensor feat = t;
      if (downsample_) {
        t = downsample_->merge(t, h, w);
        h = (h + 1) / 2;
        w = (w + 1) / 2;
      }
      return std::pair<Tensor, Tensor>{t, feat};
    });
  }

 private:
  int64_t ws_;
  std::shared_ptr<nn::ModuleList> blocks;
  std::shared_ptr<PatchMerging> downsample_;
};

// torch.linspace(0, rate, n) in float32 (its two-sided formula).
std::vector<double> drop_path_rates(double rate, int64_t n) {
  if (n == 1) return {0.0};
  const float end = static_cast<float>(rate), step = end / static_cast<float>(n - 1);
  std::vector<double> r;
  for (int64_t i = 0; i < n; ++i)
    r.push_back(i < n / 2 ? step * static_cast<float>(i) : end - step * static_cast<float>(n - 1 - i));
  return r;
}

}  // namespace

const SwinConfig& swin_config(const std::string& name) {
  static const std::vector<SwinConfig> configs = {
      {"swin_T_224", 96, {2, 2, 6, 2}, {3, 6, 12, 24}, 7},
      {"swin_S_224", 96, {2, 2, 18, 2}, {3, 6, 12, 24}, 7},
  };
  std::ostringstream names;
  for (const auto& c : configs) {
    if (c.name == name) return c;
    names << (names.tellp() > 0 ? ", " : "") << c.name;
  }
  CUDASEG_FAIL("unknown Swin backbone '", name, "' (known: ", names.str(), ")");
}

SwinTransformer::SwinTransformer(const SwinConfig& config, double drop_path_rate)
    : Module("SwinTransformer"), config_(config) {
  CUDASEG_CHECK(drop_path_rate >= 0 && drop_path_rate < 1, "SwinTransformer: drop_path_rate ", drop_path_rate,
                " must be in [0, 1)");
  patch_embed_ = register_module("patch_embed", std::make_shared<PatchEmbed>(4, config.embed_dim));
  int64_t total = 0;
  for (int64_t d : config.depths) total += d;
  const std::vector<double> dpr = drop_path_rates(drop_path_rate, total);
  layers_ = register_module("layers", std::make_shared<nn::ModuleList>());
  int64_t cur = 0;
  for (int s = 0; s < 4; ++s) {
    const std::vector<double> rates(dpr.begin() + cur, dpr.begin() + cur + config.depths[s]);
    cur += config.depths[s];
    layers_->push_back(std::make_shared<BasicLayer>(config.embed_dim << s, config.depths[s], config.num_heads[s],
                                                    config.window_size, rates, s < 3));
  }
  norm_ = register_module("norm", std::make_shared<nn::LayerNorm>(Shape{config.embed_dim << 3}, kLayerNormEps));
}

std::vector<Tensor> SwinTransformer::forward_features(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.shape()[1] == 3, "SwinTransformer: expects an input [N, 3, H, W], got ", x.str());
  return observed_call({x}, [&] {
    int64_t h = 0, w = 0;
    Tensor t = static_cast<PatchEmbed&>(*patch_embed_).embed(x, h, w);
    std::vector<Tensor> maps;
    for (size_t s = 0; s < 4; ++s) {
      const int64_t fh = h, fw = w;
      auto [next, feat] = static_cast<BasicLayer&>(*(*layers_)[s]).run(t, h, w);
      if (s < 3) maps.push_back(tokens_to_map(feat, fh, fw));
      t = next;
    }
    maps.push_back(tokens_to_map((*norm_)(t), h, w));
    return maps;
  });
}

}  // namespace cudaseg::nets
