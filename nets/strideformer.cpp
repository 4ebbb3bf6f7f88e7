#include "nets/strideformer.h"

#include <cmath>
#include <utility>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "autograd/linalg.h"
#include "autograd/reduce.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "autograd/softmax.h"
#include "autograd/unary.h"
#include "nn/layers.h"
#include "nn/param_init.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using nn::ActKind;

// strideformer.py's own Hardsigmoid (the SE gate): clamp(slope * x + offset, 0, 1),
// slope 0.2 where torch's hardsigmoid has 1/6.
class Hardsigmoid : public nn::Module {
 public:
  Hardsigmoid(double slope, double offset) : Module("Hardsigmoid"), slope_(slope), offset_(offset) {}
  Tensor forward(const Tensor& x) override { return fn::clamp(fn::add(fn::mul(x, slope_), offset_), 0.0, 1.0); }

 private:
  double slope_, offset_;
};

// mmcv's activation types as the configs name them.
nn::ModulePtr activation(const std::string& type) {
  if (type == "ReLU") return std::make_shared<nn::Activation>(ActKind::relu);
  if (type == "ReLU6") return std::make_shared<nn::Activation>(ActKind::relu6);
  if (type == "HSwish") return std::make_shared<nn::Activation>(ActKind::hardswish);
  if (type == "HSigmoid") return std::make_shared<nn::Activation>(ActKind::hardsigmoid);
  if (type == "Sigmoid") return std::make_shared<nn::Activation>(ActKind::sigmoid);
  CUDASEG_FAIL("StrideFormer: activation '", type, "' (ReLU, ReLU6, HSwish, HSigmoid, Sigmoid)");
}

struct ConvOpts {
  int64_t kernel_size = 1, stride = 1, groups = 1;
  bool bias = false, norm = true;
  nn::ModulePtr act;       // null: none
  bool act_first = false;  // mmcv order ('act', 'conv', 'norm')
};

// mmcv's ConvModule: `conv`, `bn`, `activate` run in the given order,
// convolution weights drawn as mmcv's init_weights does (Kaiming normal, fan_out).
class ConvModule : public nn::Module {
 public:
  ConvModule(int64_t in, int64_t out, const ConvOpts& o) : Module("ConvModule"), act_first_(o.act_first) {
    conv_ = register_module(
        "conv", std::make_shared<nn::Conv2d>(in, out, o.kernel_size, o.stride, o.kernel_size / 2, 1, o.groups, o.bias));
    if (!nn::init_skipped()) {
      autograd::NoGradGuard no_grad;
      const Shape& w = conv_->weight.shape();
      const int64_t fan_out = w[2] * w[3] * out / o.groups;
      conv_->weight.copy_(nn::init_generator().normal(w, 0.0, std::sqrt(2.0 / static_cast<double>(fan_out))));
      if (conv_->bias.defined()) conv_->bias.fill_(0.0);
    }
    if (o.norm) bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(out));
    if (o.act) act_ = register_module("activate", o.act);
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    if (act_first_ && act_) y = (*act_)(y);
    y = (*conv_)(y);
    if (bn_) y = (*bn_)(y);
    if (!act_first_ && act_) y = (*act_)(y);
    return y;
  }
  std::vector<nn::FusableChain> fusable_chains() const override {
    const nn::ModulePtr act = act_first_ ? nullptr : act_;
    if (!bn_ && !act) return {};
    return {{conv_, bn_, act}};
  }

 private:
  bool act_first_;
  std::shared_ptr<nn::Conv2d> conv_;
  nn::ModulePtr bn_, act_;
};

std::shared_ptr<ConvModule> conv_module(int64_t in, int64_t out, ConvOpts o) {
  return std::make_shared<ConvModule>(in, out, o);
}

class SEModule : public nn::Module {
 public:
  explicit SEModule(int64_t channel, int64_t reduction = 4) : Module("SEModule") {
    avg_pool_ = register_module("avg_pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    conv_act1_ = register_module("conv_act1",
                                 conv_module(channel, channel / reduction, {1, 1, 1, true, false, activation("ReLU")}));
    conv_act2_ = register_module(
        "conv_act2",
        conv_module(channel / reduction, channel, {1, 1, 1, true, false, std::make_shared<Hardsigmoid>(0.2, 0.5)}));
  }
  Tensor forward(const Tensor& x) override { return fn::mul(x, (*conv_act2_)((*conv_act1_)((*avg_pool_)(x)))); }

 private:
  nn::ModulePtr avg_pool_, conv_act1_, conv_act2_;
};

class ResidualUnit : public nn::Module {
 public:
  ResidualUnit(int64_t in, int64_t mid, int64_t out, const MV3UnitConfig& c)
      : Module("ResidualUnit"), shortcut_(c.stride == 1 && in == out) {
    expand_conv_ = register_module("expand_conv", conv_module(in, mid, {1, 1, 1, false, true, activation(c.act)}));
    bottleneck_conv_ = register_module(
        "bottleneck_conv", conv_module(mid, mid, {c.kernel_size, c.stride, mid, false, true, activation(c.act)}));
    if (c.use_se) mid_se_ = register_module("mid_se", std::make_shared<SEModule>(mid));
    linear_conv_ = register_module("linear_conv", conv_module(mid, out, {}));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*bottleneck_conv_)((*expand_conv_)(x));
    if (mid_se_) y = (*mid_se_)(y);
    y = (*linear_conv_)(y);
    return shortcut_ ? fn::add(x, y) : y;
  }

 private:
  bool shortcut_;
  nn::ModulePtr expand_conv_, bottleneck_conv_, mid_se_, linear_conv_;
};

// upstream's _make_divisible(v, 8)
int64_t make_divisible(double v, int64_t divisor = 8) {
  int64_t nv = std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (static_cast<double>(nv) < 0.9 * v) nv += divisor;
  return nv;
}

class StackedMV3Block : public nn::Module {
 public:
  StackedMV3Block(const std::vector<MV3UnitConfig>& cfgs, bool stem, int64_t in_channels) : Module("StackedMV3Block") {
    int64_t in = make_divisible(static_cast<double>(in_channels));
    if (stem) conv_ = register_module("conv", conv_module(3, in, {3, 2, 1, false, true, activation("HSwish")}));
    blocks_ = register_module("blocks", std::make_shared<nn::ModuleList>());
    for (const MV3UnitConfig& c : cfgs) {
      const int64_t out = make_divisible(static_cast<double>(c.channels));
      blocks_->push_back(std::make_shared<ResidualUnit>(in, make_divisible(static_cast<double>(c.expand)), out, c));
      in = out;
    }
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = conv_ ? (*conv_)(x) : x;
    for (size_t i = 0; i < blocks_->size(); ++i) y = (*(*blocks_)[i])(y);
    return y;
  }

 private:
  nn::ModulePtr conv_;
  std::shared_ptr<nn::ModuleList> blocks_;
};

// x [B, C, N] + pos_embed [1, C, 16] resized linearly (align_corners false) to N.
class SqueezeAxialPositionalEmbedding : public nn::Module {
 public:
  SqueezeAxialPositionalEmbedding(int64_t dim, int64_t shape) : Module("SqueezeAxialPositionalEmbedding") {
    Tensor init = Tensor::zeros({1, dim, shape});
    if (!nn::init_skipped()) init = nn::init_generator().normal({1, dim, shape}, 0.0, 1.0);
    pos_embed_ = register_parameter("pos_embed", init);
  }
  Tensor forward(const Tensor& x) override {
    const int64_t c = pos_embed_.size(1), n = x.size(2);
    // linear 1-d = bilinear over a height-1 map: the height axis copies.
    const Tensor pe = fn::upsample_bilinear2d(fn::unsqueeze(nn::like_input(pos_embed_, x), 2), {1, n}, false);
    return fn::add(x, fn::reshape(pe, {1, c, n}));
  }

 private:
  Tensor pos_embed_;
};

class SeaAttention : public nn::Module {
 public:
  SeaAttention(int64_t dim, int64_t key_dim, int64_t num_heads, int64_t attn_ratio, const std::string& act,
               bool stride_attention)
      : Module("SeaAttention"),
        heads_(num_heads),
        nh_kd_(key_dim * num_heads),
        dh_(attn_ratio * key_dim * num_heads),
        scale_(std::pow(static_cast<double>(key_dim), -0.5)) {
    to_q_ = register_module("to_q", conv_module(dim, nh_kd_, {}));
    to_k_ = register_module("to_k", conv_module(dim, nh_kd_, {}));
    to_v_ = register_module("to_v", conv_module(dim, dh_, {}));
    if (stride_attention)
      stride_conv_ = register_module("stride_conv", conv_module(dim, dim, {3, 2, dim, true, true, nullptr}));
    const ConvOpts act_conv_norm{1, 1, 1, false, true, nullptr, true};
    auto with_act = [&](ConvOpts o) {
      o.act = activation(act);
      return o;
    };
    proj_ = register_module("proj", conv_module(dh_, dim, with_act(act_conv_norm)));
    proj_encode_row_ = register_module("proj_encode_row", conv_module(dh_, dh_, with_act(act_conv_norm)));
    pos_emb_rowq_ = register_module("pos_emb_rowq", std::make_shared<SqueezeAxialPositionalEmbedding>(nh_kd_, 16));
    pos_emb_rowk_ = register_module("pos_emb_rowk", std::make_shared<SqueezeAxialPositionalEmbedding>(nh_kd_, 16));
    proj_encode_column_ = register_module("proj_encode_column", conv_module(dh_, dh_, with_act(act_conv_norm)));
    pos_emb_columnq_ =
        register_module("pos_emb_columnq", std::make_shared<SqueezeAxialPositionalEmbedding>(nh_kd_, 16));
    pos_emb_columnk_ =
        register_module("pos_emb_columnk", std::make_shared<SqueezeAxialPositionalEmbedding>(nh_kd_, 16));
    dwconv_ = register_module("dwconv", conv_module(2 * dh_, 2 * dh_, with_act({3, 1, 2 * dh_, false, true, nullptr})));
    pwconv_ = register_module("pwconv", conv_module(2 * dh_, dim, {}));
    sigmoid_ = register_module("sigmoid", activation("HSigmoid"));
  }

  Tensor forward(const Tensor& input) override {
    const int64_t h_ori = input.size(2), w_ori = input.size(3);
    const Tensor x = stride_conv_ ? (*stride_conv_)(input) : input;
    const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
    const Tensor q = (*to_q_)(x), k = (*to_k_)(x), v = (*to_v_)(x);
    const Tensor qkv = (*pwconv_)((*dwconv_)(fn::cat({q, k, v}, 1)));

    const Tensor xx_row = axis_attention(q, k, v, 3, *pos_emb_rowq_, *pos_emb_rowk_, h);
    const Tensor row = (*proj_encode_row_)(fn::reshape(fn::transpose(xx_row, 2, 3), {b, dh_, h, 1}));
    const Tensor xx_column = axis_attention(q, k, v, 2, *pos_emb_columnq_, *pos_emb_columnk_, w);
    const Tensor column = (*proj_encode_column_)(fn::reshape(fn::transpose(xx_column, 2, 3), {b, dh_, 1, w}));

    Tensor xx = fn::add(v, fn::add(row, column));
    xx = fn::mul((*sigmoid_)((*proj_)(xx)), qkv);
    if (stride_conv_) xx = fn::upsample_bilinear2d(xx, {h_ori, w_ori}, false);
    return xx;
  }

 private:
  // softmax(q k * scale) v along one axis of the maps averaged over the
  // other (`reduce_dim` 3 averages the width away: the row attention);
  // returns [B, heads, n, dh / heads].
  Tensor axis_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t reduce_dim, nn::Module& pos_q,
                        nn::Module& pos_k, int64_t n) const {
    const int64_t b = q.size(0);
    const Tensor qa = fn::transpose(fn::reshape(pos_q(fn::mean(q, {reduce_dim})), {b, heads_, -1, n}), 2, 3);
    const Tensor ka = fn::reshape(pos_k(fn::mean(k, {reduce_dim})), {b, heads_, -1, n});
    const Tensor va = fn::transpose(fn::reshape(fn::mean(v, {reduce_dim}), {b, heads_, -1, n}), 2, 3);
    const Tensor attn = fn::softmax(fn::mul(fn::matmul(qa, ka), scale_), -1);
    return fn::matmul(attn, va);
  }

  int64_t heads_, nh_kd_, dh_;
  double scale_;
  nn::ModulePtr to_q_, to_k_, to_v_, stride_conv_, proj_, proj_encode_row_, pos_emb_rowq_, pos_emb_rowk_,
      proj_encode_column_, pos_emb_columnq_, pos_emb_columnk_, dwconv_, pwconv_, sigmoid_;
};

class MLP : public nn::Module {
 public:
  MLP(int64_t in, int64_t hidden, const std::string& act) : Module("MLP") {
    fc1_ = register_module("fc1", conv_module(in, hidden, {}));
    dwconv_ = register_module("dwconv", conv_module(hidden, hidden, {3, 1, hidden, true, false, activation(act)}));
    fc2_ = register_module("fc2", conv_module(hidden, in, {}));
    drop_ = register_module("drop", std::make_shared<nn::Dropout>(0.0));
  }
  Tensor forward(const Tensor& x) override { return (*drop_)((*fc2_)((*drop_)((*dwconv_)((*fc1_)(x))))); }

 private:
  nn::ModulePtr fc1_, dwconv_, fc2_, drop_;
};

class Block : public nn::Module {
 public:
  Block(int64_t dim, int64_t key_dim, int64_t num_heads, int64_t mlp_ratio, int64_t attn_ratio, double drop_path,
        const std::string& act, bool stride_attention)
      : Module("Block") {
    attn_ = register_module("attn",
                            std::make_shared<SeaAttention>(dim, key_dim, num_heads, attn_ratio, act, stride_attention));
    drop_path_ = register_module("drop_path", drop_path > 0.0 ? nn::ModulePtr(std::make_shared<nn::DropPath>(drop_path))
                                                              : nn::ModulePtr(std::make_shared<nn::Identity>()));
    mlp_ = register_module("mlp", std::make_shared<MLP>(dim, dim * mlp_ratio, act));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor y = fn::add(x, (*drop_path_)((*attn_)(x)));
    return fn::add(y, (*drop_path_)((*mlp_)(y)));
  }

 private:
  nn::ModulePtr attn_, drop_path_, mlp_;
};

class BasicLayer : public nn::Module {
 public:
  BasicLayer(int64_t depth, int64_t dim, int64_t key_dim, const StrideFormerConfig& c, int64_t mlp_ratio)
      : Module("BasicLayer") {
    blocks_ = register_module("transformer_blocks", std::make_shared<nn::ModuleList>());
    for (int64_t i = 0; i < depth; ++i) {
      // torch.linspace(0, drop_path_rate, depth), in float32 as upstream's .item() sees it
      const double dpr = depth > 1 ? static_cast<float>(c.drop_path_rate * i / (depth - 1)) : 0.0;
      blocks_->push_back(
          std::make_shared<Block>(dim, key_dim, c.num_heads, mlp_ratio, c.attn_ratios, dpr, c.act, c.stride_attention));
    }
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (size_t i = 0; i < blocks_->size(); ++i) y = (*(*blocks_)[i])(y);
    return y;
  }

 private:
  std::shared_ptr<nn::ModuleList> blocks_;
};

Tensor resize_to(const Tensor& x, const Tensor& like) {
  return fn::upsample_bilinear2d(x, {like.size(2), like.size(3)}, false);
}

// Injection modules: 1x1 ConvModules (BN, no activation) embedding each
// feature, and the same with a sigmoid (mmseg's default act_cfg of the AAM
// classes; StrideFormer does not pass its own) giving the attention gates.
std::shared_ptr<ConvModule> embedding(int64_t in, int64_t out, bool gate) {
  return conv_module(in, out, {1, 1, 1, false, true, gate ? activation("Sigmoid") : nullptr});
}

class InjectionModule : public nn::Module {
 public:
  InjectionModule(const std::vector<int64_t>& in, int64_t out, bool x8)
      : Module(x8 ? "InjectionMultiSumallmultiallsumSimpx8" : "InjectionMultiSumallmultiallsum"), x8_(x8) {
    CUDASEG_CHECK(in.size() == 3, "StrideFormer: out_feat_chs must list 3 channel counts, got ", in.size());
    emb_ = register_module("embedding_list", std::make_shared<nn::ModuleList>());
    act_ = register_module("act_embedding_list", std::make_shared<nn::ModuleList>());
    for (size_t i = 0; i < in.size(); ++i) {
      if (!x8 || i != 1) emb_->push_back(embedding(in[i], out, false));
      if (!x8 || i != 0) act_->push_back(embedding(in[i], out, true));
    }
  }

  Tensor forward_features(const std::vector<Tensor>& inputs) {
    return observed_call(inputs, [&] { return x8_ ? forward_x8(inputs) : forward_x16(inputs); });
  }

 private:
  // AAM: everything at the 1/16 size of the halved 1/8 feature.
  Tensor forward_x16(const std::vector<Tensor>& in) {
    nn::Module &e0 = *(*emb_)[0], &e1 = *(*emb_)[1], &e2 = *(*emb_)[2];
    nn::Module &a0 = *(*act_)[0], &a1 = *(*act_)[1], &a2 = *(*act_)[2];
    const Tensor low1 = fn::interpolate(in[0], std::nullopt, std::array<double, 2>{0.5, 0.5}, "bilinear");
    const Tensor low1_act = a0(low1), low1_emb = e0(low1);
    const Tensor low2 = resize_to(in[1], low1_emb);
    const Tensor low2_act = a1(low2), low2_emb = e1(low2);
    const Tensor high_act = resize_to(a2(in[2]), low2_emb);
    const Tensor high = resize_to(e2(in[2]), low2_emb);
    return fn::add(fn::mul(fn::mul(fn::mul(low1_act, low2_act), high_act), fn::add(low1_emb, low2_emb)), high);
  }
  // AAMSx8: the 1/8 embedding gated by the 1/16 and 1/32 ones.
  Tensor forward_x8(const std::vector<Tensor>& in) {
    const Tensor low1 = (*(*emb_)[0])(in[0]);
    const Tensor low2_act = (*(*act_)[0])(resize_to(in[1], low1));
    const Tensor high_act = resize_to((*(*act_)[1])(in[2]), low1);
    const Tensor high = resize_to((*(*emb_)[1])(in[2]), low1);
    return fn::add(fn::mul(fn::mul(low2_act, high_act), low1), high);
  }

  bool x8_;
  std::shared_ptr<nn::ModuleList> emb_, act_;
};

MV3UnitConfig unit(int64_t k, int64_t exp, int64_t c, bool se, const char* act, int64_t s) {
  return {k, exp, c, se, act, s};
}

}  // namespace

StrideFormerConfig pp_mobileseg_backbone_config(const std::string& variant) {
  StrideFormerConfig c;
  if (variant == "base") {
    c.mobileV3_cfg = {
        {unit(3, 16, 16, true, "ReLU", 1), unit(3, 64, 32, false, "ReLU", 2), unit(3, 96, 32, false, "ReLU", 1)},
        {unit(5, 128, 64, true, "HSwish", 2), unit(5, 240, 64, true, "HSwish", 1)},
        {unit(5, 384, 128, true, "HSwish", 2), unit(5, 384, 128, true, "HSwish", 1)},
        {unit(5, 768, 192, true, "HSwish", 2), unit(5, 768, 192, true, "HSwish", 1)}};
    c.channels = {16, 32, 64, 128, 192};
    c.depths = {3, 3};
    c.embed_dims = {128, 192};
    c.num_heads = 8;
    c.inj_type = "AAMSx8";
    c.out_feat_chs = {64, 128, 192};
  } else if (variant == "tiny") {
    c.mobileV3_cfg = {
        {unit(3, 16, 16, true, "ReLU", 1), unit(3, 64, 32, false, "ReLU", 2), unit(3, 48, 24, false, "ReLU", 1)},
        {unit(5, 96, 32, true, "HSwish", 2), unit(5, 96, 32, true, "HSwish", 1)},
        {unit(5, 160, 64, true, "HSwish", 2), unit(5, 160, 64, true, "HSwish", 1)},
        {unit(3, 384, 128, true, "HSwish", 2), unit(3, 384, 128, true, "HSwish", 1)}};
    c.channels = {16, 24, 32, 64, 128};
    c.depths = {2, 2};
    c.embed_dims = {64, 128};
    c.num_heads = 4;
    c.inj_type = "AAM";
    c.out_feat_chs = {32, 64, 128};
  } else {
    CUDASEG_FAIL("PP-MobileSeg: variant '", variant, "' (base, tiny)");
  }
  return c;
}

StrideFormer::StrideFormer(const StrideFormerConfig& config) : Module("StrideFormer"), config_(config) {
  const auto& c = config_;
  CUDASEG_CHECK(c.mobileV3_cfg.size() == 4 && c.channels.size() >= 4 && c.depths.size() == 2 &&
                    c.embed_dims.size() == 2 && c.key_dims.size() == 2 && c.mlp_ratios.size() == 2,
                "StrideFormer: four MobileNetV3 stages and two attention stages are supported");
  CUDASEG_CHECK(c.inj_type == "AAM" || c.inj_type == "AAMSx8", "StrideFormer: inj_type '", c.inj_type,
                "' (AAM, AAMSx8)");
  for (size_t i = 0; i < c.mobileV3_cfg.size(); ++i)
    smb_.push_back(register_module("smb" + std::to_string(i + 1),
                                   std::make_shared<StackedMV3Block>(c.mobileV3_cfg[i], i == 0, c.channels[i])));
  for (size_t i = 0; i < c.depths.size(); ++i)
    trans_.push_back(
        register_module("trans" + std::to_string(i + 1),
                        std::make_shared<BasicLayer>(c.depths[i], c.embed_dims[i], c.key_dims[i], c, c.mlp_ratios[i])));
  inj_module_ = register_module(
      "inj_module", std::make_shared<InjectionModule>(c.out_feat_chs, c.out_channels, c.inj_type == "AAMSx8"));
}

std::vector<Tensor> StrideFormer::features(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == 3, "StrideFormer: input ", x.str(), " must be [N, 3, H, W]");
  std::vector<Tensor> outputs;
  Tensor y = x;
  const size_t n_smb = smb_.size(), n_trans = trans_.size();
  for (size_t i = 0; i < n_smb; ++i) {
    y = (*smb_[i])(y);
    if (i == 1) outputs.push_back(y);
    if (n_trans + i >= n_smb) {
      y = (*trans_[i + n_trans - n_smb])(y);
      outputs.push_back(y);
    }
  }
  return outputs;
}

Tensor StrideFormer::forward(const Tensor& x) {
  return static_cast<InjectionModule&>(*inj_module_).forward_features(features(x));
}

}  // namespace cudaseg::nets
