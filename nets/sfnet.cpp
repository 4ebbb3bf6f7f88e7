#include "nets/sfnet.h"

#include <array>
#include <cmath>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/reduce.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/resnet_d.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using nn::ModulePtr;
using Features = std::array<Tensor, 4>;
// The logits at stride 4, then the dsn logits.
using HeadOut = std::vector<Tensor>;

Tensor upsample(const Tensor& x, int64_t h, int64_t w) {
  return fn::interpolate(x, std::array<int64_t, 2>{h, w}, std::nullopt, "bilinear", true);
}

ModulePtr conv(int64_t in, int64_t out, int64_t k, bool bias) {
  return std::make_shared<nn::Conv2d>(in, out, k, 1, k / 2, 1, 1, bias);
}
ModulePtr bn(int64_t c) { return std::make_shared<nn::BatchNorm2d>(c); }
ModulePtr relu() { return std::make_shared<nn::Activation>(nn::ActKind::relu); }

// sfnet_resnet.py's conv3x3_bn_relu.
std::shared_ptr<nn::Sequential> conv3x3_bn_relu(int64_t in, int64_t out) {
  return std::make_shared<nn::Sequential>(std::vector<ModulePtr>{conv(in, out, 3, false), bn(out), relu()});
}

// The upstream heads' dsn: conv3x3 (with bias) -> BN -> ReLU -> Dropout2d(0.1) -> conv1x1.
std::shared_ptr<nn::Sequential> dsn_block(int64_t dim, int64_t num_classes, double drop) {
  return std::make_shared<nn::Sequential>(std::vector<ModulePtr>{
      conv(dim, dim, 3, true), bn(dim), relu(), std::make_shared<nn::Dropout>(drop, true),
      conv(dim, num_classes, 1, true)});
}

std::shared_ptr<nn::Sequential> conv_last(int64_t in, int64_t dim, int64_t num_classes) {
  return std::make_shared<nn::Sequential>(
      std::vector<ModulePtr>{conv3x3_bn_relu(in, dim), conv(dim, num_classes, 1, true)});
}

// torch.linspace(-1, 1, n) in float32 as PyTorch 1.13's CPU kernel computes it
// (the float64 runs inherit it: upstream builds the grid in float32, then
// casts): each value fused-multiply-adds from the nearer end (start + step * i
// below n / 2, end - step * (n - 1 - i) above), except that while 16 values
// remain, pairs of blocks of 8 are one such value then unfused + k * step.
std::vector<double> linspace_pm1(int64_t n) {
  if (n == 1) return {-1.0};
  const float step = 2.0f / static_cast<float>(n - 1);
  const auto at = [&](int64_t i) {
    return i < n / 2 ? std::fma(step, static_cast<float>(i), -1.0f)
                     : std::fma(-step, static_cast<float>(n - 1 - i), 1.0f);
  };
  std::vector<double> v;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int64_t block = i; block < i + 16; block += 8) {
      const float base = at(block);
      for (int64_t k = 0; k < 8; ++k) {
        const float inc = static_cast<float>(k) * step;
        v.push_back(base + inc);
      }
    }
  for (; i < n; ++i) v.push_back(at(i));
  return v;
}

// flow_warp: samples `input` at the identity grid of an h x w output plus
// `flow` [N, 2, h, w] (x, y offsets in output pixels, normalised by w and h).
Tensor flow_warp(const Tensor& input, const Tensor& flow, int64_t h, int64_t w) {
  const std::vector<double> ys = linspace_pm1(h), xs = linspace_pm1(w);
  std::vector<double> base(static_cast<size_t>(h * w * 2));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      base[static_cast<size_t>((y * w + x) * 2)] = xs[static_cast<size_t>(x)];
      base[static_cast<size_t>((y * w + x) * 2 + 1)] = ys[static_cast<size_t>(y)];
    }
  const Tensor grid0 = Tensor::from_vector(base, {1, h, w, 2}, input.dtype()).to(input.device());
  const Tensor norm = Tensor::from_vector({static_cast<double>(w), static_cast<double>(h)}, {1, 2, 1, 1},
                                          input.dtype())
                          .to(input.device());
  const Tensor grid = fn::add(grid0, fn::permute(fn::div(flow, norm), {0, 2, 3, 1}));
  return fn::grid_sample(input, grid, "bilinear", "zeros", true);
}

// PSPModule (sizes 1, 2, 3, 6) or, for global_context "sppm", SPSPModule
// (sizes 1, 2, 4: the pooled branches summed onto a 1x1-projected input).
class PSPModule : public nn::Module {
 public:
  PSPModule(int64_t features, int64_t out_features, bool summed, double drop)
      : nn::Module(summed ? "SPSPModule" : "PSPModule"), summed_(summed) {
    const std::vector<int64_t> sizes = summed ? std::vector<int64_t>{1, 2, 4} : std::vector<int64_t>{1, 2, 3, 6};
    auto stages = std::make_shared<nn::ModuleList>();
    for (int64_t s : sizes)
      stages->push_back(std::make_shared<nn::Sequential>(std::vector<ModulePtr>{
          std::make_shared<nn::AdaptiveAvgPool2d>(s), conv(features, out_features, 1, false), bn(out_features)}));
    stages_ = register_module("stages", stages);
    const int64_t in = summed ? out_features : features + static_cast<int64_t>(sizes.size()) * out_features;
    bottleneck_ = register_module(
        "bottleneck", std::make_shared<nn::Sequential>(std::vector<ModulePtr>{
                          conv(in, out_features, 1, false), bn(out_features), relu(),
                          std::make_shared<nn::Dropout>(drop, true)}));
    if (summed)
      down_ = register_module("down", std::make_shared<nn::Sequential>(std::vector<ModulePtr>{
                                          conv(features, out_features, 1, false), bn(out_features)}));
  }
  Tensor forward(const Tensor& feats) override {
    const int64_t h = feats.size(2), w = feats.size(3);
    std::vector<Tensor> priors;
    for (size_t i = 0; i < stages_->size(); ++i) priors.push_back(upsample((*(*stages_)[i])(feats), h, w));
    if (!summed_) {
      priors.push_back(feats);
      return (*bottleneck_)(fn::cat(priors, 1));
    }
    Tensor sum = (*down_)(feats);
    for (const Tensor& p : priors) sum = fn::add(sum, p);
    return (*bottleneck_)(sum);
  }

 private:
  bool summed_;
  std::shared_ptr<nn::ModuleList> stages_;
  ModulePtr bottleneck_, down_;
};

// AlignedModule (v1), AlignedModulev2 ("spatial") and AlignedModulev2PoolingAtten ("spatial_atten").
class AlignedModule : public nn::Module {
 public:
  enum class Kind { v1, v2, v2_atten };
  AlignedModule(int64_t inplane, int64_t outplane, Kind kind)
      : nn::Module(kind == Kind::v1 ? "AlignedModule"
                                    : kind == Kind::v2 ? "AlignedModulev2" : "AlignedModulev2PoolingAtten"),
        kind_(kind) {
    down_h_ = register_module("down_h", conv(inplane, outplane, 1, false));
    down_l_ = register_module("down_l", conv(inplane, outplane, 1, false));
    flow_make_ = register_module("flow_make", conv(outplane * 2, kind == Kind::v1 ? 2 : 4, 3, false));
    if (kind != Kind::v1)
      flow_gate_ = register_module(
          "flow_gate", std::make_shared<nn::Sequential>(std::vector<ModulePtr>{
                           conv(kind == Kind::v2 ? outplane * 2 : 4, 1, 3, false),
                           std::make_shared<nn::Activation>(nn::ActKind::sigmoid)}));
  }

  Tensor forward2(const Tensor& low_feature, const Tensor& h_feature_orign) const {
    return observed_call({low_feature, h_feature_orign}, [&] {
      const int64_t h = low_feature.size(2), w = low_feature.size(3);
      const Tensor l_feature = (*down_l_)(low_feature);
      const Tensor h_feature = upsample((*down_h_)(h_feature_orign), h, w);
      const Tensor flow = (*flow_make_)(fn::cat({h_feature, l_feature}, 1));
      if (kind_ == Kind::v1) return flow_warp(h_feature_orign, flow, h, w);
      const Tensor h_warp = flow_warp(h_feature_orign, fn::narrow(flow, 1, 0, 2), h, w);
      const Tensor l_warp = flow_warp(low_feature, fn::narrow(flow, 1, 2, 2), h, w);
      const Tensor gate_in =
          kind_ == Kind::v2
              ? fn::cat({h_feature, l_feature}, 1)
              : fn::cat({fn::mean(h_feature, {1}, true), fn::mean(low_feature, {1}, true),
                         fn::unsqueeze(fn::max(h_feature, 1).values, 1),
                         fn::unsqueeze(fn::max(low_feature, 1).values, 1)},
                        1);
      const Tensor gates = (*flow_gate_)(gate_in);
      return fn::add(fn::mul(h_warp, gates), fn::mul(l_warp, fn::rsub(gates, 1.0)));
    });
  }

 private:
  Kind kind_;
  ModulePtr down_h_, down_l_, flow_make_, flow_gate_;
};

class AlignHead : public nn::Module {
 public:
  using nn::Module::Module;
  virtual HeadOut forward_head(const Features& conv_out, bool with_dsn) const = 0;
};

std::shared_ptr<nn::Sequential> lateral(int64_t in, int64_t dim) {
  return std::make_shared<nn::Sequential>(std::vector<ModulePtr>{conv(in, dim, 1, true), bn(dim), relu()});
}

// UperNetAlignHead: a flow-aligned top-down pyramid over the four stages.
class UperNetAlignHead : public AlignHead {
 public:
  UperNetAlignHead(int64_t inplane, int64_t num_classes, const std::array<int64_t, 4>& fpn_inplanes, int64_t fpn_dim,
                   bool fpn_dsn, const std::string& global_context, double drop)
      : AlignHead("UperNetAlignHead") {
    ppm_ = register_module("ppm", std::make_shared<PSPModule>(inplane, fpn_dim, global_context == "sppm", drop));
    auto fpn_in = std::make_shared<nn::ModuleList>(), fpn_out = std::make_shared<nn::ModuleList>(),
         align = std::make_shared<nn::ModuleList>(), dsn = std::make_shared<nn::ModuleList>();
    for (size_t i = 0; i < 3; ++i) {
      fpn_in->push_back(lateral(fpn_inplanes[i], fpn_dim));
      fpn_out->push_back(std::make_shared<nn::Sequential>(std::vector<ModulePtr>{conv3x3_bn_relu(fpn_dim, fpn_dim)}));
      aligns_.push_back(std::make_shared<AlignedModule>(fpn_dim, fpn_dim / 2, AlignedModule::Kind::v1));
      align->push_back(aligns_.back());
      if (fpn_dsn) dsn->push_back(dsn_block(fpn_dim, num_classes, drop));
    }
    fpn_in_ = register_module("fpn_in", fpn_in);
    fpn_out_ = register_module("fpn_out", fpn_out);
    register_module("fpn_out_align", align);
    if (fpn_dsn) dsn_ = register_module("dsn", dsn);
    conv_last_ = register_module("conv_last", conv_last(4 * fpn_dim, fpn_dim, num_classes));
  }

  HeadOut forward_head(const Features& conv_out, bool with_dsn) const override {
    return observed_call({conv_out[0], conv_out[1], conv_out[2], conv_out[3]}, [&] {
      Tensor f = (*ppm_)(conv_out[3]);
      std::vector<Tensor> pyramid{f}, dsn;
      for (size_t i = 3; i-- > 0;) {
        const Tensor conv_x = (*(*fpn_in_)[i])(conv_out[i]);
        f = fn::add(conv_x, aligns_[i]->forward2(conv_x, f));
        pyramid.push_back((*(*fpn_out_)[i])(f));
        if (with_dsn && dsn_) dsn.push_back((*(*dsn_)[i])(f));
      }
      const Tensor& finest = pyramid.back();
      std::vector<Tensor> fusion{finest};
      for (size_t i = pyramid.size() - 1; i-- > 0;)
        fusion.push_back(upsample(pyramid[i], finest.size(2), finest.size(3)));
      HeadOut out{(*conv_last_)(fn::cat(fusion, 1))};
      out.insert(out.end(), dsn.begin(), dsn.end());
      return out;
    });
  }

 private:
  ModulePtr ppm_, conv_last_;
  std::shared_ptr<nn::ModuleList> fpn_in_, fpn_out_, dsn_;
  std::vector<std::shared_ptr<AlignedModule>> aligns_;
};

// UperNetAlignHeadV2 (SFNet-Lite): layer1 gated-flow-aligned with the PPM
// output, plus layer3; fpn_in.2 (layer4's lateral) is built and never used.
class UperNetAlignHeadV2 : public AlignHead {
 public:
  UperNetAlignHeadV2(int64_t inplane, int64_t num_classes, const std::array<int64_t, 3>& fpn_inplanes,
                     int64_t fpn_dim, bool fpn_dsn, const std::string& fa_type, const std::string& global_context,
                     double drop)
      : AlignHead("UperNetAlignHeadV2") {
    ppm_ = register_module("ppm", std::make_shared<PSPModule>(inplane, fpn_dim, global_context == "sppm", drop));
    auto fpn_in = std::make_shared<nn::ModuleList>();
    for (int64_t c : fpn_inplanes) fpn_in->push_back(lateral(c, fpn_dim));
    fpn_in_ = register_module("fpn_in", fpn_in);
    align_ = register_module("flow_align_module",
                             std::make_shared<AlignedModule>(fpn_dim, fpn_dim / 2,
                                                             fa_type == "spatial" ? AlignedModule::Kind::v2
                                                                                  : AlignedModule::Kind::v2_atten));
    if (fpn_dsn) register_module("dsn", dsn_block(fpn_dim, num_classes, drop));
    conv_last_ = register_module("conv_last", conv_last(2 * fpn_dim, fpn_dim, num_classes));
  }

  HeadOut forward_head(const Features& conv_out, bool) const override {
    return observed_call({conv_out[0], conv_out[1], conv_out[2], conv_out[3]}, [&] {
      const Tensor psp_out = (*ppm_)(conv_out[3]);
      const Tensor p2 = (*(*fpn_in_)[0])(conv_out[0]);
      const Tensor p4 = (*(*fpn_in_)[1])(conv_out[2]);
      const Tensor fusion = align_->forward2(p2, psp_out);
      const Tensor p4_up = upsample(p4, fusion.size(2), fusion.size(3));
      return HeadOut{(*conv_last_)(fn::cat({fusion, p4_up}, 1))};
    });
  }

 private:
  ModulePtr ppm_, conv_last_;
  std::shared_ptr<nn::ModuleList> fpn_in_;
  std::shared_ptr<AlignedModule> align_;
};

std::string resnet_type_of(const std::string& trunk) {
  if (trunk == "resnet-18-deep") return "resnet18";
  if (trunk == "resnet-50-deep") return "resnet50";
  if (trunk == "resnet-101-deep") return "resnet101";
  CUDASEG_FAIL("SFNet: trunk '", trunk, "' is not one of resnet-18-deep, resnet-50-deep, resnet-101-deep");
}

}  // namespace

SFNet::SFNet(int64_t num_classes, const SFNetOptions& o) : nn::SegNet("AlignNetResNet") {
  CUDASEG_CHECK(num_classes > 0, "SFNet: num_classes (", num_classes, ") must be positive");
  const auto resnet_ptr = std::make_shared<ResNetD>(resnet_type_of(o.trunk), o.variant == "D");
  const ResNetD& resnet = *resnet_ptr;
  layer0_ = register_module("layer0", resnet.stem());
  layer1_ = register_module("layer1", resnet.layer(0));
  layer2_ = register_module("layer2", resnet.layer(1));
  layer3_ = register_module("layer3", resnet.layer(2));
  layer4_ = register_module("layer4", resnet.layer(3));
  stem_chain_ = resnet.stem_chain();
  const double drop = o.dropout ? 0.1 : 0.0;
  if (o.trunk != "resnet-18-deep") {
    // upstream ignores head_type, fa_type and global_context past ResNet-18
    head_ = register_module("head", std::make_shared<UperNetAlignHead>(2048, num_classes,
                                                                       std::array<int64_t, 4>{256, 512, 1024, 2048},
                                                                       256, o.fpn_dsn, "ppm", drop));
  } else if (o.head_type == "v2") {
    head_ = register_module("head", std::make_shared<UperNetAlignHeadV2>(512, num_classes,
                                                                         std::array<int64_t, 3>{64, 256, 512}, 128,
                                                                         o.fpn_dsn, o.fa_type, o.global_context, drop));
  } else {
    head_ = register_module("head", std::make_shared<UperNetAlignHead>(512, num_classes,
                                                                       std::array<int64_t, 4>{64, 128, 256, 512}, 128,
                                                                       o.fpn_dsn, o.global_context, drop));
  }
}

std::vector<Tensor> SFNet::run(const Tensor& x, bool with_dsn) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == 3, "SFNet: input ", x.str(), " must be [N, 3, H, W]");
  const Tensor x1 = (*layer1_)((*layer0_)(x));
  const Tensor x2 = (*layer2_)(x1);
  const Tensor x3 = (*layer3_)(x2);
  const Tensor x4 = (*layer4_)(x3);
  std::vector<Tensor> out = static_cast<const AlignHead&>(*head_).forward_head({x1, x2, x3, x4}, with_dsn);
  for (Tensor& o : out) o = upsample(o, x.size(2), x.size(3));
  return out;
}

Tensor SFNet::forward(const Tensor& x) { return run(x, false)[0]; }

std::vector<Tensor> SFNet::forward_train(const Tensor& x) { return run(x, true); }

CUDASEG_REGISTER_NETS(sfnet) {
  nn::NetSpec spec;
  spec.name = "sfnet";
  spec.summary = "SFNet / SFNet-Lite (Li et al. 2020, 2023), lxtGH/SFSegNets network/sfnet_resnet.py "
                 "AlignNetResNet: deep-stem ResNet-D, PPM, flow-aligned UperNet head (v1) or gated dual flow (v2)";
  spec.args = {
      {"trunk", "resnet-18-deep", {"resnet-18-deep", "resnet-50-deep", "resnet-101-deep"},
       "deep-stem ResNet (upstream's default 'resnet-101' is no valid trunk; DeepR18_SF_deeply's is the default)"},
      {"variant", "D", {}, "'D' dilates layer3/layer4's conv2 by 2/4; any other value does not"},
      {"head_type", "v1", {"v1", "v2"}, "v2: SFNet-Lite's UperNetAlignHeadV2 (resnet-18-deep only, as upstream)"},
      {"skip", "m1", {}, "accepted and unused, as upstream"},
      {"skip_num", 48, {}, "accepted and unused, as upstream"},
      {"fpn_dsn", false, {}, "deep-supervision heads (training outputs with head v1)"},
      {"fa_type", "spatial", {"spatial", "spatial_atten"}, "v2 gate: AlignedModulev2 or AlignedModulev2PoolingAtten"},
      {"global_context", "ppm", {"ppm", "sppm"}, "PSPModule or SPSPModule (resnet-18-deep only, as upstream)"},
      {"dropout", true, {}, "not upstream's: false sets the Dropout2d(0.1) of the PPM and the dsn to p = 0"},
  };
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    SFNetOptions o;
    o.trunk = a["trunk"].get<std::string>();
    o.variant = a["variant"].get<std::string>();
    o.head_type = a["head_type"].get<std::string>();
    o.fpn_dsn = a["fpn_dsn"].get<bool>();
    o.fa_type = a["fa_type"].get<std::string>();
    o.global_context = a["global_context"].get<std::string>();
    o.dropout = a["dropout"].get<bool>();
    return std::make_shared<SFNet>(a["num_classes"].get<int64_t>(), o);
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
