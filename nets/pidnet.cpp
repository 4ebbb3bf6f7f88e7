#include "nets/pidnet.h"

#include <array>
#include <map>
#include <utility>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/loss.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/fuse.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "ops/compare.h"
#include "ops/reduce.h"
#include "ops/unary.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace pidnet {

// Every bilinear resize of PIDNet has align_corners false (upstream's algc).
Tensor resize(const Tensor& x, int64_t h, int64_t w) { return fn::upsample_bilinear2d(x, {h, w}, false); }

namespace {

using nn::ModulePtr;

ModulePtr relu() { return std::make_shared<nn::Activation>(nn::ActKind::relu); }

std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, bool bias = false) {
  return std::make_shared<nn::Conv2d>(in, out, k, stride, k / 2, 1, 1, bias);
}

ModulePtr bn(int64_t channels) { return std::make_shared<nn::BatchNorm2d>(channels); }

// conv -> BN, the projections of the P and D branches (compression3/4, diff3/4, PagFM's f_x/f_y, Light_Bag).
ModulePtr conv_bn(int64_t in, int64_t out, int64_t k, int64_t stride = 1) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(conv(in, out, k, stride));
  seq->push_back(bn(out));
  return seq;
}

// BN -> ReLU -> conv, the pre-activation units of the pyramid pooling modules and Bag.
std::shared_ptr<nn::Sequential> bn_relu_conv(int64_t in, int64_t out, int64_t k, int64_t groups = 1) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(bn(in));
  seq->push_back(relu());
  seq->push_back(std::make_shared<nn::Conv2d>(in, out, k, 1, k / 2, 1, groups, false));
  return seq;
}

// BasicBlock (expansion 1) and Bottleneck (expansion 2) of model_utils.py:
// conv/bn pairs with a ReLU between them, the residual add and a final ReLU
// unless no_relu. Upstream calls one `relu` module for all of them; here each
// conv -> bn -> ReLU chain has its own (relu1, relu2: no tensors) so inference
// fusion can fold it, and `relu` is the one after the add (absent with no_relu).
class Block : public nn::Module {
 public:
  Block(bool bottleneck, int64_t inplanes, int64_t planes, int64_t stride, bool no_relu)
      : nn::Module(bottleneck ? "Bottleneck" : "BasicBlock") {
    const int64_t out = bottleneck ? planes * 2 : planes;
    if (bottleneck) {
      add_chain("1", conv(inplanes, planes, 1), true);
      add_chain("2", conv(planes, planes, 3, stride), true);
      add_chain("3", conv(planes, out, 1), false);
    } else {
      add_chain("1", conv(inplanes, planes, 3, stride), true);
      add_chain("2", conv(planes, planes, 3), false);
    }
    if (!no_relu) relu_ = register_module("relu", relu());
    if (stride != 1 || inplanes != out) downsample_ = register_module("downsample", conv_bn(inplanes, out, 1, stride));
  }

  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (const auto& c : chains_) {
      y = (*c.bn)((*c.conv)(y));
      if (c.act) y = (*c.act)(y);
    }
    const Tensor residual = downsample_ ? (*downsample_)(x) : x;
    return relu_ ? nn::activate_sum(*relu_, y, residual) : fn::add(y, residual);
  }

  std::vector<nn::FusableChain> fusable_chains() const override { return chains_; }

 private:
  void add_chain(const std::string& k, std::shared_ptr<nn::Conv2d> c, bool with_relu) {
    nn::FusableChain chain;
    const int64_t channels = c->out_channels();
    chain.conv = register_module("conv" + k, std::move(c));
    chain.bn = register_module("bn" + k, bn(channels));
    if (with_relu) chain.act = register_module("relu" + k, relu());
    chains_.push_back(chain);
  }

  std::vector<nn::FusableChain> chains_;
  ModulePtr relu_, downsample_;
};

int64_t expansion(bool bottleneck) { return bottleneck ? 2 : 1; }

// PIDNet._make_layer: the first block takes the stride and channel change;
// the last of several has no final ReLU, the middle ones do, the first keeps
// its block's default (BasicBlock ReLU, Bottleneck none).
ModulePtr make_layer(bool bottleneck, int64_t inplanes, int64_t planes, int64_t blocks, int64_t stride = 1) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<Block>(bottleneck, inplanes, planes, stride, bottleneck));
  for (int64_t i = 1; i < blocks; ++i)
    seq->push_back(std::make_shared<Block>(bottleneck, planes * expansion(bottleneck), planes, 1, i == blocks - 1));
  return seq;
}

// PIDNet._make_single_layer: one block without its final ReLU.
ModulePtr make_single_layer(bool bottleneck, int64_t inplanes, int64_t planes) {
  return std::make_shared<Block>(bottleneck, inplanes, planes, 1, true);
}

// segmenthead: BN -> ReLU -> conv3x3 -> BN -> ReLU -> conv1x1 (with bias).
class SegmentHead : public nn::Module {
 public:
  SegmentHead(int64_t inplanes, int64_t interplanes, int64_t outplanes) : nn::Module("segmenthead") {
    bn1_ = register_module("bn1", bn(inplanes));
    conv1_ = register_module("conv1", conv(inplanes, interplanes, 3));
    bn2_ = register_module("bn2", bn(interplanes));
    relu_ = register_module("relu", relu());
    conv2_ = register_module("conv2", conv(interplanes, outplanes, 1, 1, true));
  }

  Tensor forward(const Tensor& x) override {
    const Tensor h = (*conv1_)((*relu_)((*bn1_)(x)));
    return (*conv2_)((*relu_)((*bn2_)(h)));
  }

  // conv1 -> bn2 only: the ReLU after bn2 is also the one after bn1.
  std::vector<nn::FusableChain> fusable_chains() const override { return {{conv1_, bn2_, nullptr}}; }

 private:
  ModulePtr bn1_, conv1_, bn2_, relu_, conv2_;
};

// The four pooled scales of DAPPM / PAPPM: average pools (5/2, 9/4, 17/8) and a global one, each then BN-ReLU-conv1x1.
std::array<ModulePtr, 4> pooled_scales(int64_t inplanes, int64_t branch_planes) {
  std::array<ModulePtr, 4> scales;
  const std::array<int64_t, 3> kernels = {5, 9, 17}, strides = {2, 4, 8};
  for (size_t i = 0; i < 4; ++i) {
    auto seq = std::make_shared<nn::Sequential>();
    if (i < 3)
      seq->push_back(std::make_shared<nn::AvgPool2d>(kernels[i], strides[i], kernels[i] / 2));
    else
      seq->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));
    seq->push_back(bn(inplanes));
    seq->push_back(relu());
    seq->push_back(conv(inplanes, branch_planes, 1));
    scales[i] = seq;
  }
  return scales;
}

}  // namespace

// DAPPM (PIDNet-L) and PAPPM (S, M): scale0 on the input, four pooled scales
// resized back and added to it (DAPPM: cumulatively through process1..4;
// PAPPM: each to scale0 alone, then one grouped 3x3 conv, scale_process),
// compressed and added to a shortcut.
class PPM : public nn::Module {
 public:
  PPM(bool parallel, int64_t inplanes, int64_t branch_planes, int64_t outplanes)
      : nn::Module(parallel ? "PAPPM" : "DAPPM"), parallel_(parallel) {
    const auto scales = pooled_scales(inplanes, branch_planes);
    for (size_t i = 0; i < 4; ++i) scales_[i] = register_module("scale" + std::to_string(i + 1), scales[i]);
    scale0_ = register_module("scale0", bn_relu_conv(inplanes, branch_planes, 1));
    if (parallel) {
      scale_process_ = register_module("scale_process", bn_relu_conv(branch_planes * 4, branch_planes * 4, 3, 4));
    } else {
      for (size_t i = 0; i < 4; ++i)
        process_[i] = register_module("process" + std::to_string(i + 1), bn_relu_conv(branch_planes, branch_planes, 3));
    }
    compression_ = register_module("compression", bn_relu_conv(branch_planes * 5, outplanes, 1));
    shortcut_ = register_module("shortcut", bn_relu_conv(inplanes, outplanes, 1));
  }

  Tensor forward(const Tensor& x) override {
    const int64_t h = x.size(2), w = x.size(3);
    const Tensor x0 = (*scale0_)(x);
    std::vector<Tensor> list = {x0};
    if (parallel_) {
      std::vector<Tensor> scaled;
      for (size_t i = 0; i < 4; ++i) scaled.push_back(fn::add(resize((*scales_[i])(x), h, w), x0));
      list.push_back((*scale_process_)(fn::cat(scaled, 1)));
    } else {
      for (size_t i = 0; i < 4; ++i)
        list.push_back((*process_[i])(fn::add(resize((*scales_[i])(x), h, w), list.back())));
    }
    return fn::add((*compression_)(fn::cat(list, 1)), (*shortcut_)(x));
  }

 private:
  bool parallel_;
  std::array<ModulePtr, 4> scales_, process_;
  ModulePtr scale0_, scale_process_, compression_, shortcut_;
};

// PagFM (defaults after_relu and with_channel false, as PIDNet builds it):
// sigma = sigmoid(sum_c f_x(x) * up(f_y(y))), out = (1 - sigma) x + sigma up(y).
class PagFM : public nn::Module {
 public:
  PagFM(int64_t in_channels, int64_t mid_channels) : nn::Module("PagFM") {
    f_x_ = register_module("f_x", conv_bn(in_channels, mid_channels, 1));
    f_y_ = register_module("f_y", conv_bn(in_channels, mid_channels, 1));
  }

  Tensor forward2(const Tensor& x, const Tensor& y) {
    return observed_call({x, y}, [&] {
      const int64_t h = x.size(2), w = x.size(3);
      const Tensor y_q = resize((*f_y_)(y), h, w);
      const Tensor x_k = (*f_x_)(x);
      const Tensor sim = fn::sigmoid(fn::sum(fn::mul(x_k, y_q), {1}, true));
      return fn::add(fn::mul(fn::rsub(sim, 1.0), x), fn::mul(sim, resize(y, h, w)));
    });
  }

 private:
  ModulePtr f_x_, f_y_;
};

// The boundary-attention-guided fusion with a = sigmoid(d): Light_Bag (S, M)
// conv_p((1 - a) i + p) + conv_i(i + a p); Bag (L) conv(a p + (1 - a) i).
class Fusion : public nn::Module {
 public:
  Fusion(bool light, int64_t in_channels, int64_t out_channels)
      : nn::Module(light ? "Light_Bag" : "Bag"), light_(light) {
    if (light) {
      conv_p_ = register_module("conv_p", conv_bn(in_channels, out_channels, 1));
      conv_i_ = register_module("conv_i", conv_bn(in_channels, out_channels, 1));
    } else {
      conv_ = register_module("conv", bn_relu_conv(in_channels, out_channels, 3));
    }
  }

  Tensor forward3(const Tensor& p, const Tensor& i, const Tensor& d) {
    return observed_call({p, i, d}, [&] {
      const Tensor a = fn::sigmoid(d);
      const Tensor not_a = fn::rsub(a, 1.0);
      if (!light_) return (*conv_)(fn::add(fn::mul(a, p), fn::mul(not_a, i)));
      const Tensor p_add = (*conv_p_)(fn::add(fn::mul(not_a, i), p));
      const Tensor i_add = (*conv_i_)(fn::add(i, fn::mul(a, p)));
      return fn::add(p_add, i_add);
    });
  }

 private:
  bool light_;
  ModulePtr conv_p_, conv_i_, conv_;
};

}  // namespace pidnet

PIDNetOptions pidnet_preset(const std::string& arch_type, int64_t num_classes) {
  static const std::map<std::string, std::array<int64_t, 5>> presets = {
      {"pidnet_s", {2, 3, 32, 96, 128}}, {"pidnet_m", {2, 3, 64, 96, 128}}, {"pidnet_l", {3, 4, 64, 112, 256}}};
  const auto it = presets.find(arch_type);
  CUDASEG_CHECK(it != presets.end(), "PIDNet: unknown arch_type '", arch_type,
                "' (accepted: pidnet_s, pidnet_m, pidnet_l)");
  PIDNetOptions o;
  o.num_classes = num_classes;
  o.m = it->second[0];
  o.n = it->second[1];
  o.planes = it->second[2];
  o.ppm_planes = it->second[3];
  o.head_planes = it->second[4];
  return o;
}

PIDNet::PIDNet(const PIDNetOptions& o) : nn::SegNet("PIDNet"), options_(o) {
  using namespace pidnet;
  CUDASEG_CHECK(o.m >= 1 && o.n >= 1 && o.planes >= 1 && o.ppm_planes >= 1 && o.head_planes >= 1,
                "PIDNet: m, n, planes, ppm_planes and head_planes must be positive");
  const int64_t p = o.planes;
  auto stem = std::make_shared<nn::Sequential>();
  stem->push_back(conv(3, p, 3, 2, true));
  stem->push_back(bn(p));
  stem->push_back(relu());
  stem->push_back(conv(p, p, 3, 2, true));
  stem->push_back(bn(p));
  stem->push_back(relu());
  conv1_ = register_module("conv1", stem);
  relu_ = register_module("relu", relu());
  layer1_ = register_module("layer1", make_layer(false, p, p, o.m));
  layer2_ = register_module("layer2", make_layer(false, p, p * 2, o.m, 2));
  layer3_ = register_module("layer3", make_layer(false, p * 2, p * 4, o.n, 2));
  layer4_ = register_module("layer4", make_layer(false, p * 4, p * 8, o.n, 2));
  layer5_ = register_module("layer5", make_layer(true, p * 8, p * 8, 2, 2));

  compression3_ = register_module("compression3", conv_bn(p * 4, p * 2, 1));
  compression4_ = register_module("compression4", conv_bn(p * 8, p * 2, 1));
  pag3_ = register_module("pag3", std::make_shared<PagFM>(p * 2, p));
  pag4_ = register_module("pag4", std::make_shared<PagFM>(p * 2, p));
  layer3_p_ = register_module("layer3_", make_layer(false, p * 2, p * 2, o.m));
  layer4_p_ = register_module("layer4_", make_layer(false, p * 2, p * 2, o.m));
  layer5_p_ = register_module("layer5_", make_layer(true, p * 2, p * 2, 1));

  const bool light = o.m == 2;
  if (light) {
    layer3_d_ = register_module("layer3_d", make_single_layer(false, p * 2, p));
    layer4_d_ = register_module("layer4_d", make_layer(true, p, p, 1));
    diff3_ = register_module("diff3", conv_bn(p * 4, p, 3));
  } else {
    layer3_d_ = register_module("layer3_d", make_single_layer(false, p * 2, p * 2));
    layer4_d_ = register_module("layer4_d", make_single_layer(false, p * 2, p * 2));
    diff3_ = register_module("diff3", conv_bn(p * 4, p * 2, 3));
  }
  diff4_ = register_module("diff4", conv_bn(p * 8, p * 2, 3));
  spp_ = register_module("spp", std::make_shared<PPM>(light, p * 16, o.ppm_planes, p * 4));
  dfm_ = register_module("dfm", std::make_shared<Fusion>(light, p * 4, p * 4));
  layer5_d_ = register_module("layer5_d", make_layer(true, p * 2, p * 2, 1));

  if (o.augment) {
    seghead_p_ = register_module("seghead_p", std::make_shared<SegmentHead>(p * 2, o.head_planes, o.num_classes));
    seghead_d_ = register_module("seghead_d", std::make_shared<SegmentHead>(p * 2, p, 1));
  }
  final_layer_ = register_module("final_layer", std::make_shared<SegmentHead>(p * 4, o.head_planes, o.num_classes));
}

std::vector<Tensor> PIDNet::run(const Tensor& input, bool training_outputs) {
  CUDASEG_CHECK(input.dim() == 4 && input.size(1) == 3, "PIDNet: expected input [N, 3, H, W], got ", input.str());
  const int64_t h8 = input.size(2) / 8, w8 = input.size(3) / 8;
  CUDASEG_CHECK(input.size(2) % 8 == 0 && input.size(3) % 8 == 0,
                "PIDNet: input height and width must be multiples of 8, got ", input.str());
  using pidnet::resize;
  auto& relu = *relu_;
  Tensor x = (*layer1_)((*conv1_)(input));
  x = relu((*layer2_)(relu(x)));
  Tensor x_p = (*layer3_p_)(x);
  Tensor x_d = (*layer3_d_)(x);

  x = relu((*layer3_)(x));
  x_p = pag3_->forward2(x_p, (*compression3_)(x));
  x_d = fn::add(x_d, resize((*diff3_)(x), h8, w8));
  // Upstream keeps these two as the aux heads' inputs and then applies its
  // in-place ReLU to the same tensors, so the heads see them after the ReLU.
  const Tensor temp_p = relu(x_p);

  x = relu((*layer4_)(x));
  x_p = (*layer4_p_)(temp_p);
  x_d = (*layer4_d_)(relu(x_d));

  x_p = pag4_->forward2(x_p, (*compression4_)(x));
  x_d = fn::add(x_d, resize((*diff4_)(x), h8, w8));
  const Tensor temp_d = relu(x_d);

  x_p = (*layer5_p_)(relu(x_p));
  x_d = (*layer5_d_)(temp_d);
  x = resize((*spp_)((*layer5_)(x)), h8, w8);

  const Tensor logits = (*final_layer_)(dfm_->forward3(x_p, x, x_d));
  Tensor out = resize(logits, input.size(2), input.size(3));
  if (!training_outputs) return {out};
  return {out, (*seghead_p_)(temp_p), (*seghead_d_)(temp_d)};
}

Tensor PIDNet::forward(const Tensor& x) { return run(x, false).front(); }

std::vector<Tensor> PIDNet::forward_train(const Tensor& x) { return run(x, options_.augment); }

std::vector<nn::NetLoss> PIDNet::net_losses(const nn::NetLossOptions& options) const {
  (void)options;
  if (!options_.augment) return {};
  nn::NetLoss term;
  term.name = "boundary";
  term.first_output = 2;
  term.value = [](const std::vector<Tensor>& outputs, const Tensor& labels) {
    return pidnet_boundary_loss(outputs.at(2), pidnet_boundary_targets(labels, outputs.at(2).dtype()));
  };
  return {term};
}

Tensor pidnet_boundary_targets(const Tensor& labels, DType dtype) {
  CUDASEG_CHECK(labels.dim() == 3, "pidnet_boundary_targets: labels must be [N, H, W], got ", labels.str());
  autograd::NoGradGuard no_grad;
  const Tensor kernel =
      Tensor::from_vector({-1, -1, -1, -1, 8, -1, -1, -1, -1}, {1, 1, 3, 3}, dtype).to(labels.device());
  ops::Conv2dParams p;
  p.padding = {1, 1};
  const Tensor lap = fn::conv2d(labels.to(dtype).unsqueeze(1), kernel, Tensor(), p);
  return ops::ne(lap, 0.0).to(dtype);
}

Tensor pidnet_boundary_loss(const Tensor& boundary_logits, const Tensor& targets, double coeff_bce) {
  CUDASEG_CHECK(boundary_logits.dim() == 4 && targets.dim() == 4 && boundary_logits.size(1) == 1 &&
                    targets.size(1) == 1,
                "pidnet_boundary_loss: logits ", boundary_logits.str(), " and targets ", targets.str(),
                " must be [N, 1, h, w] and [N, 1, H, W]");
  const Tensor pred = fn::upsample_bilinear2d(boundary_logits, {targets.size(2), targets.size(3)}, false);
  fn::BCEWithLogitsOptions bce;
  {
    autograd::NoGradGuard no_grad;
    const double total = static_cast<double>(targets.numel());
    const double pos = ops::sum(targets).item();
    // neg/total on the 1s, pos/total on the 0s; upstream computes both ratios
    // as float32 tensors (an integer count * 1.0), whatever the logits' dtype
    const double on_ones = static_cast<float>((total - pos) / total);
    const double on_zeros = static_cast<float>(pos / total);
    bce.weight = fn::add(fn::mul(targets, on_ones - on_zeros), on_zeros);
  }
  return fn::mul(fn::binary_cross_entropy_with_logits(pred, targets, bce), coeff_bce);
}

namespace {

// The constructor arguments' defaults (upstream's PIDNet(), i.e. PIDNet-M).
constexpr int64_t kM = 2, kN = 3, kPlanes = 64, kPpmPlanes = 96, kHeadPlanes = 128;

}  // namespace

CUDASEG_REGISTER_NETS(pidnet) {
  nn::NetSpec spec;
  spec.name = "pidnet";
  spec.summary = "PIDNet-S/M/L (Xu et al. 2023), XuJiacong/PIDNet models/pidnet.py";
  spec.args = {
      {"arch_type", "", {"", "pidnet_s", "pidnet_m", "pidnet_l"},
       "get_pred_model preset; \"\" uses m, n, planes, ppm_planes, head_planes"},
      {"m", kM, {}, "BasicBlocks of layer1, layer2 and the P branch (2: PAPPM + Light_Bag, else DAPPM + Bag)"},
      {"n", kN, {}, "BasicBlocks of layer3 and layer4"},
      {"planes", kPlanes, {}, "width of the stem"},
      {"ppm_planes", kPpmPlanes, {}, "branch width of the pyramid pooling module"},
      {"head_planes", kHeadPlanes, {}, "hidden width of the segmentation heads"},
      {"augment", true, {}, "P and D auxiliary heads (training outputs)"},
  };
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    const int64_t num_classes = a.at("num_classes").get<int64_t>();
    const std::string arch = a.at("arch_type").get<std::string>();
    PIDNetOptions o;
    if (arch.empty()) {
      o.num_classes = num_classes;
      o.m = a.at("m").get<int64_t>();
      o.n = a.at("n").get<int64_t>();
      o.planes = a.at("planes").get<int64_t>();
      o.ppm_planes = a.at("ppm_planes").get<int64_t>();
      o.head_planes = a.at("head_planes").get<int64_t>();
    } else {
      o = pidnet_preset(arch, num_classes);
      const bool defaults = a.at("m") == kM && a.at("n") == kN && a.at("planes") == kPlanes &&
                            a.at("ppm_planes") == kPpmPlanes && a.at("head_planes") == kHeadPlanes;
      CUDASEG_CHECK(defaults, "PIDNet: arch_type '", arch,
                    "' sets m, n, planes, ppm_planes and head_planes; give either the preset or those");
    }
    o.augment = a.at("augment").get<bool>();
    return std::make_shared<PIDNet>(o);
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 8; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
