#include "nets/ppliteseg_paddle.h"

#include <algorithm>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/reduce.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nets/stdcnet.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using Size2 = std::array<int64_t, 2>;

Size2 spatial_size(const Tensor& x) { return {x.size(2), x.size(3)}; }

Tensor bilinear(const Tensor& x, Size2 size) { return fn::interpolate(x, size, std::nullopt, "bilinear", false); }

// layer_libs.py ConvBNReLU (relu) and ConvBN: _conv (padding k/2), _batch_norm
// (Paddle's BatchNorm2D: no batch counter), _relu.
class PaddleConvBN : public nn::Module {
 public:
  PaddleConvBN(int64_t in, int64_t out, int64_t k, bool bias, bool relu)
      : nn::Module(relu ? "ConvBNReLU" : "ConvBN") {
    chain_.conv = register_module("_conv", std::make_shared<nn::Conv2d>(in, out, k, 1, k / 2, 1, 1, bias));
    chain_.bn = register_module("_batch_norm", std::make_shared<nn::BatchNorm2d>(out, 1e-5, 0.1, true, true, false));
    if (relu) chain_.act = register_module("_relu", std::make_shared<nn::Activation>(nn::ActKind::relu));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*chain_.bn)((*chain_.conv)(x));
    return chain_.act ? (*chain_.act)(y) : y;
  }
  std::vector<nn::FusableChain> fusable_chains() const override { return {chain_}; }

 private:
  nn::FusableChain chain_;
};

std::shared_ptr<PaddleConvBN> conv_bn_relu(int64_t in, int64_t out, int64_t k, bool bias = false) {
  return std::make_shared<PaddleConvBN>(in, out, k, bias, true);
}

class STDCNet : public nn::Module {
 public:
  STDCNet(const std::string& name, int64_t base) : nn::Module("STDCNet") {
    STDCNetOptions options;
    options.count_batches = false;
    options.skip_count_include_pad = false;
    options.conv_type = "ConvBNRelu";
    features_ = STDCFeatures::register_on(*this, 3, base, stdcnet_layers(name), options);
  }
  std::array<Tensor, 5> forward_features(const Tensor& x) const {
    return observed_call({x}, [&] { return features_.forward(x); });
  }

 private:
  STDCFeatures features_;
};

// PPContextModule (SPPM).
class PPContextModule : public nn::Module {
 public:
  PPContextModule(int64_t in, int64_t inter, int64_t out, const std::vector<int64_t>& bins)
      : nn::Module("PPContextModule") {
    auto stages = register_module("stages", std::make_shared<nn::ModuleList>());
    for (int64_t b : bins) {
      auto seq = std::make_shared<nn::Sequential>();
      seq->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(b));
      seq->push_back(conv_bn_relu(in, inter, 1, true));
      stages->push_back(seq);
      stages_.push_back(seq);
    }
    conv_out_ = register_module("conv_out", conv_bn_relu(inter, out, 3, true));
  }
  Tensor forward(const Tensor& x) override {
    Tensor sum;
    for (const auto& stage : stages_) {
      Tensor y = bilinear((*stage)(x), spatial_size(x));
      sum = sum.defined() ? fn::add(sum, y) : y;
    }
    return (*conv_out_)(sum);
  }

 private:
  std::vector<nn::ModulePtr> stages_;
  nn::ModulePtr conv_out_;
};

// UAFM_SpAtten: x the low-level feature, y the high-level one.
class UAFMSpAtten : public nn::Module {
 public:
  UAFMSpAtten(int64_t x_ch, int64_t y_ch, int64_t out_ch) : nn::Module("UAFM_SpAtten") {
    // Frozen upstream (stop_gradient); a parameter, so its checkpoints carry it.
    scale_ = register_parameter("_scale", Tensor::ones({1}));
    scale_.set_requires_grad(false);
    conv_x_ = register_module("conv_x", conv_bn_relu(x_ch, y_ch, 3));
    conv_out_ = register_module("conv_out", conv_bn_relu(y_ch, out_ch, 3));
    auto atten = std::make_shared<nn::Sequential>();
    atten->push_back(conv_bn_relu(4, 2, 3));
    atten->push_back(std::make_shared<PaddleConvBN>(2, 1, 3, false, false));
    conv_xy_atten_ = register_module("conv_xy_atten", atten);
  }
  Tensor fuse(const Tensor& x_in, const Tensor& y_in) {
    return observed_call({x_in, y_in}, [&] {
      CUDASEG_CHECK(x_in.size(2) >= y_in.size(2) && x_in.size(3) >= y_in.size(3), "UAFM_SpAtten: low-level ",
                    x_in.str(), " smaller than high-level ", y_in.str());
      Tensor x = (*conv_x_)(x_in);
      Tensor y = bilinear(y_in, spatial_size(x));
      Tensor atten = fn::cat({fn::mean(x, {1}, true), fn::max(x, 1, true).values, fn::mean(y, {1}, true),
                              fn::max(y, 1, true).values},
                             1);
      atten = fn::sigmoid((*conv_xy_atten_)(atten));
      Tensor scale = scale_.to(atten.dtype());
      return (*conv_out_)(fn::add(fn::mul(x, atten), fn::mul(y, fn::sub(scale, atten))));
    });
  }

 private:
  Tensor scale_;
  nn::ModulePtr conv_x_, conv_out_, conv_xy_atten_;
};

class PPLiteSegHead : public nn::Module {
 public:
  PPLiteSegHead(const std::array<int64_t, 3>& backbone_out_chs, const PPLiteSegPaddleOptions& o)
      : nn::Module("PPLiteSegHead") {
    cm_ = register_module("cm", std::make_shared<PPContextModule>(backbone_out_chs[2], o.cm_out_ch, o.cm_out_ch,
                                                                  o.cm_bin_sizes));
    auto list = register_module("arm_list", std::make_shared<nn::ModuleList>());
    for (size_t i = 0; i < 3; ++i) {
      const int64_t high = i == 2 ? o.cm_out_ch : o.arm_out_chs[i + 1];
      arms_[i] = std::make_shared<UAFMSpAtten>(backbone_out_chs[i], high, o.arm_out_chs[i]);
      list->push_back(arms_[i]);
    }
  }
  // The fusions at strides 8, 16, 32 of the stride 8, 16, 32 features.
  std::array<Tensor, 3> decode(const std::array<Tensor, 3>& feats) {
    return observed_call({feats[0], feats[1], feats[2]}, [&] {
      std::array<Tensor, 3> out;
      Tensor high = (*cm_)(feats[2]);
      for (size_t i = 3; i-- > 0;) out[i] = high = arms_[i]->fuse(feats[i], high);
      return out;
    });
  }

 private:
  nn::ModulePtr cm_;
  std::array<std::shared_ptr<UAFMSpAtten>, 3> arms_;
};

class SegHead : public nn::Module {
 public:
  SegHead(int64_t in, int64_t mid, int64_t num_classes) : nn::Module("SegHead") {
    conv_ = register_module("conv", conv_bn_relu(in, mid, 3));
    conv_out_ = register_module("conv_out", std::make_shared<nn::Conv2d>(mid, num_classes, 1, 1, 0, 1, 1, false));
  }
  Tensor forward(const Tensor& x) override { return (*conv_out_)((*conv_)(x)); }

 private:
  nn::ModulePtr conv_, conv_out_;
};

}  // namespace

PPLiteSegPaddle::PPLiteSegPaddle(int64_t num_classes, const PPLiteSegPaddleOptions& o) : nn::SegNet("PPLiteSeg") {
  CUDASEG_CHECK(num_classes > 0, "ppliteseg_paddle: num_classes ", num_classes, " must be positive");
  CUDASEG_CHECK(!o.cm_bin_sizes.empty(), "ppliteseg_paddle: cm_bin_sizes is empty");
  backbone_ = register_module("backbone", std::make_shared<STDCNet>(o.backbone, o.base));
  head_ = register_module("ppseg_head",
                          std::make_shared<PPLiteSegHead>(std::array<int64_t, 3>{4 * o.base, 8 * o.base, 16 * o.base}, o));
  auto heads = register_module("seg_heads", std::make_shared<nn::ModuleList>());
  for (size_t i = 0; i < 3; ++i) {
    seg_heads_[i] = std::make_shared<SegHead>(o.arm_out_chs[i], o.seg_head_inter_chs[i], num_classes);
    heads->push_back(seg_heads_[i]);
  }
}

std::vector<Tensor> PPLiteSegPaddle::run(const Tensor& x, size_t heads) {
  CUDASEG_CHECK(x.dim() == 4, "ppliteseg_paddle: input ", x.str(), " must be [N, C, H, W]");
  const auto feats = std::static_pointer_cast<STDCNet>(backbone_)->forward_features(x);
  const auto fused = std::static_pointer_cast<PPLiteSegHead>(head_)->decode({feats[2], feats[3], feats[4]});
  std::vector<Tensor> out;
  for (size_t i = 0; i < heads; ++i) out.push_back(bilinear((*seg_heads_[i])(fused[i]), spatial_size(x)));
  return out;
}

Tensor PPLiteSegPaddle::forward(const Tensor& x) { return run(x, 1)[0]; }

std::vector<Tensor> PPLiteSegPaddle::forward_train(const Tensor& x) { return run(x, 3); }

namespace {

std::vector<int64_t> positive_ints(const nn::Json& v, const char* key) {
  CUDASEG_CHECK(v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), [](const nn::Json& e) {
                  return e.is_number_integer() && e.get<int64_t>() > 0;
                }),
                "ppliteseg_paddle: ", key, " must be a non-empty list of positive integers, got ", v.dump());
  return v.get<std::vector<int64_t>>();
}

// PaddleSeg repeats a one-element list for the three levels.
std::array<int64_t, 3> per_level(const nn::Json& v, const char* key) {
  const auto values = positive_ints(v, key);
  CUDASEG_CHECK(values.size() == 1 || values.size() == 3, "ppliteseg_paddle: ", key,
                " takes 1 or 3 values (one per level), got ", v.dump());
  return values.size() == 1 ? std::array<int64_t, 3>{values[0], values[0], values[0]}
                            : std::array<int64_t, 3>{values[0], values[1], values[2]};
}

}  // namespace

CUDASEG_REGISTER_NETS(ppliteseg_paddle) {
  nn::NetSpec spec;
  spec.name = "ppliteseg_paddle";
  spec.summary = "PP-LiteSeg (Peng et al. 2022) as PaddleSeg releases it (its names and .pdparams): STDC, SPPM, "
                 "UAFM_SpAtten, three seg heads";
  spec.args = {
      {"backbone", "STDC2", {"STDC1", "STDC2"}, "PaddleSeg's STDC1 (PP-LiteSeg-T) or STDC2 (PP-LiteSeg-B)"},
      {"base", 64, {}, "STDCNet base width (feature channels b/2, b, 4b, 8b, 16b)"},
      {"cm_bin_sizes", nn::Json::array({1, 2, 4}), {}, "SPPM pooled sizes"},
      {"cm_out_ch", 128, {}, "SPPM width"},
      {"arm_out_chs", nn::Json::array({64, 96, 128}), {}, "UAFM output widths at strides 8, 16, 32 (T: 32, 64, 128)"},
      {"seg_head_inter_chs", nn::Json::array({64, 64, 64}), {}, "seg head widths (T: 32, 64, 64)"},
  };
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    PPLiteSegPaddleOptions o;
    o.backbone = a["backbone"].get<std::string>();
    o.base = a["base"].get<int64_t>();
    CUDASEG_CHECK(o.base > 0 && o.base % 8 == 0, "ppliteseg_paddle: base ", o.base,
                  " must be a positive multiple of 8 (STDC's blocks split 4*base by 8)");
    o.cm_bin_sizes = positive_ints(a["cm_bin_sizes"], "cm_bin_sizes");
    o.cm_out_ch = a["cm_out_ch"].get<int64_t>();
    CUDASEG_CHECK(o.cm_out_ch > 0, "ppliteseg_paddle: cm_out_ch ", o.cm_out_ch, " must be positive");
    o.arm_out_chs = per_level(a["arm_out_chs"], "arm_out_chs");
    o.seg_head_inter_chs = per_level(a["seg_head_inter_chs"], "seg_head_inter_chs");
    return std::make_shared<PPLiteSegPaddle>(a["num_classes"].get<int64_t>(), o);
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
