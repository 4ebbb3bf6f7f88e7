#include "nets/pp_mobileseg.h"

#include <utility>

#include "autograd/resize.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

// mmcv ConvModule 1x1 depth-wise, BN, ReLU (the head's linear_fuse).
class LinearFuse : public nn::Module {
 public:
  explicit LinearFuse(int64_t channels) : Module("ConvModule") {
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(channels, channels, 1, 1, 0, 1, channels, false));
    bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(channels));
    act_ = register_module("activate", nn::make_activation("relu"));
  }
  Tensor forward(const Tensor& x) override { return (*act_)((*bn_)((*conv_)(x))); }
  std::vector<nn::FusableChain> fusable_chains() const override { return {{conv_, bn_, act_}}; }

 private:
  nn::ModulePtr conv_, bn_, act_;
};

// PPMobileSegHead up to its logits: linear_fuse, dropout (Dropout2d), conv_seg (1x1 with bias).
class PPMobileSegHead : public nn::Module {
 public:
  PPMobileSegHead(int64_t num_classes, int64_t in_channels, double dropout_ratio) : Module("PPMobileSegHead") {
    linear_fuse_ = register_module("linear_fuse", std::make_shared<LinearFuse>(in_channels));
    dropout_ = register_module("dropout", std::make_shared<nn::Dropout>(dropout_ratio, true));
    conv_seg_ = register_module("conv_seg", std::make_shared<nn::Conv2d>(in_channels, num_classes, 1));
  }
  Tensor forward(const Tensor& x) override { return (*conv_seg_)((*dropout_)((*linear_fuse_)(x))); }

 private:
  nn::ModulePtr linear_fuse_, dropout_, conv_seg_;
};

}  // namespace

PPMobileSeg::PPMobileSeg(int64_t num_classes, const StrideFormerConfig& backbone, const std::string& upsample,
                         double dropout_ratio)
    : nn::SegNet("PPMobileSeg"), num_classes_(num_classes), upsample_(upsample) {
  CUDASEG_CHECK(num_classes > 0, "PP-MobileSeg: num_classes ", num_classes, " must be positive");
  CUDASEG_CHECK(upsample == "intepolate" || upsample == "vim", "PP-MobileSeg: upsample '", upsample,
                "' (intepolate, vim)");
  CUDASEG_CHECK(dropout_ratio >= 0 && dropout_ratio < 1, "PP-MobileSeg: dropout_ratio ", dropout_ratio,
                " must be in [0, 1)");
  backbone_ = register_module("backbone", std::make_shared<StrideFormer>(backbone));
  decode_head_ = register_module("decode_head",
                                 std::make_shared<PPMobileSegHead>(num_classes, backbone.out_channels, dropout_ratio));
}

bool PPMobileSeg::leaves_upsampling() const { return upsample_ == "vim" && !is_training() && num_classes_ >= 30; }

Tensor PPMobileSeg::forward(const Tensor& x) {
  const Tensor logits = (*decode_head_)((*backbone_)(x));
  if (leaves_upsampling()) return logits;
  return fn::upsample_bilinear2d(logits, {x.size(2), x.size(3)}, false);
}

CUDASEG_REGISTER_NETS(pp_mobileseg) {
  nn::NetSpec spec;
  spec.name = "pp_mobileseg";
  spec.summary =
      "PP-MobileSeg (Tang et al. 2023), mmsegmentation projects/pp_mobileseg: StrideFormer "
      "(MobileNetV3 + strided SeaAttention), AAM / AAMSx8, PPMobileSegHead, VIM";
  spec.args = {
      {"variant", "base", {"base", "tiny"}, "the mmseg ADE20K config: base (AAMSx8, 1/8) or tiny (AAM, 1/16)"},
      {"inj_type", "", {"", "AAM", "AAMSx8"}, "the injection module; empty: the variant's"},
      {"upsample",
       "intepolate",
       {"intepolate", "vim"},
       "upstream's spelling; vim: eval logits stay at the feature size and labels come by valid interpolation"},
      {"stride_attention", true, {}, "SeaAttention at half resolution (stride-2 depth-wise conv first)"},
      {"drop_path_rate", 0.1, {}, "stochastic depth of the attention blocks (linear over each stage)"},
      {"dropout_ratio", 0.1, {}, "the head's Dropout2d"},
  };
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    StrideFormerConfig c = pp_mobileseg_backbone_config(a["variant"].get<std::string>());
    if (!a["inj_type"].get<std::string>().empty()) c.inj_type = a["inj_type"].get<std::string>();
    c.stride_attention = a["stride_attention"].get<bool>();
    c.drop_path_rate = a["drop_path_rate"].get<double>();
    CUDASEG_CHECK(c.drop_path_rate >= 0 && c.drop_path_rate < 1, "PP-MobileSeg: drop_path_rate ", c.drop_path_rate,
                  " must be in [0, 1)");
    return std::make_shared<PPMobileSeg>(a["num_classes"].get<int64_t>(), c, a["upsample"].get<std::string>(),
                                         a["dropout_ratio"].get<double>());
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
