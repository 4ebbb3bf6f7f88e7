#include "nets/litehrnet.h"

#include <array>
#include <optional>
#include <utility>

#include "autograd/arith.h"
#include "autograd/pool.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "nets/zh320_separable.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;
using zh320::ds_conv_bn_act;
using zh320::dw_conv_bn_act;

std::shared_ptr<nn::Upsample> upsample_ac(int64_t scale) {
  const double s = static_cast<double>(scale);
  return std::make_shared<nn::Upsample>(std::nullopt, std::array<double, 2>{s, s}, "bilinear", true);
}

// Channels [start, end) of an NCHW map.
Tensor channels(const Tensor& x, int64_t start, int64_t end) { return fn::slice(x, 1, start, end); }

// ShuffleNetV2's unit: the first half of the channels through a 1x1
// ConvBNAct (an Identity at stride 1 with equal halves), the second through
// 1x1 / depth-wise 3x3 / 1x1, concatenated and shuffled.
class ShuffleBlock : public nn::Module {
 public:
  ShuffleBlock(int64_t in_channels, int64_t out_channels, int64_t stride, const std::string& act)
      : nn::Module("ShuffleBlock"), in_ch_l_(in_channels / 2) {
    CUDASEG_CHECK(stride == 1 || stride == 2, "LiteHRNet ShuffleBlock: stride ", stride, " must be 1 or 2");
    const int64_t out_ch_l = out_channels / 2;
    const int64_t in_ch_r = in_channels - in_ch_l_, out_ch_r = out_channels - out_ch_l;
    if (stride != 1 || in_ch_l_ != out_ch_l) {
      left_branch_ = register_module("left_branch", conv_bn_act(in_ch_l_, out_ch_l, 1, stride, 1, 1, false, act));
    } else {
      left_branch_ = register_module("left_branch", std::make_shared<nn::Identity>());
    }
    auto right = std::make_shared<nn::Sequential>();
    right->push_back(conv_bn_act(in_ch_r, out_ch_r, 1, 1, 1, 1, false, act));
    right->push_back(dw_conv_bn_act(out_ch_r, out_ch_r, 3, stride, 1, act));
    right->push_back(conv_bn_act(out_ch_r, out_ch_r, 1, 1, 1, 1, false, act));
    right_branch_ = register_module("right_branch", right);
  }
  Tensor forward(const Tensor& x) override {
    const Tensor l = (*left_branch_)(channels(x, 0, in_ch_l_));
    const Tensor r = (*right_branch_)(channels(x, in_ch_l_, x.size(1)));
    return fn::channel_shuffle(fn::cat({l, r}, 1), 2);
  }

 private:
  int64_t in_ch_l_;
  nn::ModulePtr left_branch_, right_branch_;
};

// A 1x1 ConvBNAct squeeze (channels / 8) and a 1x1 ConvBNAct with a sigmoid back.
std::shared_ptr<nn::Sequential> squeeze_excite(int64_t channels, const std::string& act) {
  const int64_t hid_channels = channels / 8;
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(conv_bn_act(channels, hid_channels, 1, 1, 1, 1, false, act));
  seq->push_back(conv_bn_act(hid_channels, channels, 1, 1, 1, 1, false, "sigmoid"));
  return seq;
}

// The spatial weight of a stream: its global average through squeeze_excite
// (returned as the [N, C, 1, 1] weight, not applied).
class SpatialWeightModule : public nn::Module {
 public:
  SpatialWeightModule(int64_t channels, const std::string& act) : nn::Module("SpatialWeightModule") {
    avg_pool_ = register_module("avg_pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    fc_ = register_module("fc", squeeze_excite(channels, act));
  }
  Tensor forward(const Tensor& x) override { return (*fc_)((*avg_pool_)(x)); }

 private:
  nn::ModulePtr avg_pool_, fc_;
};

// Conditional channel weighting: the second half of the channels is scaled
// by the stream's cross-resolution weight (nearest-resized to it), goes
// through a depth-wise ConvBNAct and is scaled by its own spatial weight; the
// first half passes (an Identity at stride 1); concatenated and shuffled.
class CCWBlock : public nn::Module {
 public:
  CCWBlock(int64_t in_channels, int64_t out_channels, int64_t stride, const std::string& act)
      : nn::Module("CCWBlock"), in_ch_l_(in_channels / 2) {
    CUDASEG_CHECK(stride == 1 || stride == 2, "LiteHRNet CCWBlock: stride ", stride, " must be 1 or 2");
    const int64_t out_ch_l = out_channels / 2;
    const int64_t in_ch_r = in_channels - in_ch_l_, out_ch_r = out_channels - out_ch_l;
    if (stride != 1 || in_ch_l_ != out_ch_l) {
      left_branch_ = register_module("left_branch", conv_bn_act(in_ch_l_, out_ch_l, 1, stride, 1, 1, false, act));
    } else {
      left_branch_ = register_module("left_branch", std::make_shared<nn::Identity>());
    }
    right_branch_ = register_module("right_branch", dw_conv_bn_act(in_ch_r, out_ch_r, 3, stride, 1, act));
    sw_ = register_module("sw", std::make_shared<SpatialWeightModule>(out_ch_r, act));
  }
  Tensor forward2(const Tensor& feats, const Tensor& cr_weight) {
    return observed_call({feats, cr_weight}, [&] {
      const Tensor l = (*left_branch_)(channels(feats, 0, in_ch_l_));
      Tensor r = channels(feats, in_ch_l_, feats.size(1));
      const Tensor w = fn::interpolate(cr_weight, std::array<int64_t, 2>{r.size(2), r.size(3)}, std::nullopt,
                                       "nearest");
      r = (*right_branch_)(fn::mul(r, w));
      r = fn::mul(r, (*sw_)(r));
      return fn::channel_shuffle(fn::cat({l, r}, 1), 2);
    });
  }

 private:
  int64_t in_ch_l_;
  nn::ModulePtr left_branch_, right_branch_, sw_;
};

// The cross-resolution weights: every stream's second half, average-pooled
// to the smallest stream's size, concatenated, through squeeze_excite, split
// back into one weight per stream (at the smallest size).
class CrossResolutionWeightModule : public nn::Module {
 public:
  CrossResolutionWeightModule(int64_t channels, const std::string& act) : nn::Module("CrossResolutionWeightModule") {
    conv_ = register_module("conv", squeeze_excite(channels, act));
  }
  std::vector<Tensor> forward_n(const std::vector<Tensor>& feats) {
    return observed_call(feats, [&] {
      const Tensor& last = feats.back();
      const std::array<int64_t, 2> pool_size{last.size(2), last.size(3)};
      std::vector<int64_t> ch_r;
      std::vector<Tensor> parts;
      for (size_t i = 0; i < feats.size(); ++i) {
        ch_r.push_back(feats[i].size(1) / 2);
        const Tensor half = channels(feats[i], ch_r.back(), feats[i].size(1));
        parts.push_back(i + 1 == feats.size() ? half : fn::adaptive_avg_pool2d(half, pool_size));
      }
      return fn::split_with_sizes((*conv_)(fn::cat(parts, 1)), ch_r, 1);
    });
  }

 private:
  nn::ModulePtr conv_;
};

// num_block stride-2 DSConvBNAct, widening to out_ch in the last.
class DownsampleBlock : public nn::Module {
 public:
  DownsampleBlock(int64_t in_ch, int64_t out_ch, int64_t num_block, const std::string& act)
      : nn::Module("DownsampleBlock") {
    auto conv = std::make_shared<nn::Sequential>();
    for (int64_t i = 0; i < num_block; ++i) {
      conv->push_back(ds_conv_bn_act(in_ch, i + 1 == num_block ? out_ch : in_ch, 3, 2, 1, act));
    }
    conv_ = register_module("conv", conv);
  }
  Tensor forward(const Tensor& x) override { return (*conv_)(x); }

 private:
  nn::ModulePtr conv_;
};

// 1x1 ConvBNAct then bilinear (align_corners) upsampling by scale_factor.
std::shared_ptr<nn::Sequential> upsample_block(int64_t in_ch, int64_t out_ch, int64_t scale_factor,
                                               const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(conv_bn_act(in_ch, out_ch, 1, 1, 1, 1, false, act));
  seq->push_back(upsample_ac(scale_factor));
  return seq;
}

// Exchange between the streams: output j sums every input stream i brought
// to stream j's resolution and width (stream{i+1}[j]: Identity when i == j,
// an UpsampleBlock from a coarser stream, a DownsampleBlock of i - j stride-2
// convs from a finer one). The last module of stages 2 and 3 also outputs
// the next, coarser stream.
class FusionBlock : public nn::Module {
 public:
  FusionBlock(int64_t base_ch, int64_t stage, bool extra_output, const std::string& act)
      : nn::Module("FusionBlock"), stage_(stage), num_out_(stage + (extra_output ? 1 : 0)) {
    CUDASEG_CHECK(stage >= 2 && stage <= 4, "LiteHRNet FusionBlock: stage ", stage, " must be 2, 3 or 4");
    auto width = [&](int64_t i) { return (int64_t{1} << i) * base_ch; };
    for (int64_t i = 0; i < stage; ++i) {
      auto stream = std::make_shared<nn::ModuleList>();
      for (int64_t j = 0; j < num_out_; ++j) {
        if (j == i) {
          stream->push_back(std::make_shared<nn::Identity>());
        } else if (j < i) {
          stream->push_back(upsample_block(width(i), width(j), int64_t{1} << (i - j), act));
        } else {
          stream->push_back(std::make_shared<DownsampleBlock>(width(i), width(j), j - i, act));
        }
      }
      streams_.push_back(register_module("stream" + std::to_string(i + 1), stream));
    }
  }
  std::vector<Tensor> forward_n(const std::vector<Tensor>& feats) {
    CUDASEG_CHECK(static_cast<int64_t>(feats.size()) == stage_, "LiteHRNet FusionBlock: ", feats.size(),
                  " streams for stage ", stage_);
    return observed_call(feats, [&] {
      std::vector<Tensor> out;
      for (int64_t j = 0; j < num_out_; ++j) {
        Tensor sum;
        for (int64_t i = 0; i < stage_; ++i) {
          const Tensor y = (*(*streams_[i])[j])(feats[i]);
          sum = i == 0 ? y : fn::add(sum, y);
        }
        out.push_back(sum);
      }
      return out;
    });
  }

 private:
  int64_t stage_, num_out_;
  std::vector<std::shared_ptr<nn::ModuleList>> streams_;
};

}  // namespace

namespace litehrnet_parts {

// num_modules x (cross-resolution weights, `repeat` CCWBlocks per stream,
// FusionBlock), flat in one ModuleList "stage_blocks" as upstream.
class StageBlock : public nn::Module {
 public:
  StageBlock(int64_t base_ch, int64_t stage, int64_t repeat, int64_t num_modules, const std::string& act)
      : nn::Module("StageBlock") {
    std::vector<int64_t> chs;
    int64_t sum = 0;
    for (int64_t i = 0; i < stage; ++i) {
      chs.push_back((int64_t{1} << i) * base_ch);
      sum += chs.back();
    }
    auto blocks = std::make_shared<nn::ModuleList>();
    for (int64_t m = 0; m < num_modules; ++m) {
      Module3 mod;
      mod.crw = std::make_shared<CrossResolutionWeightModule>(sum / 2, act);
      auto ccw_blocks = std::make_shared<nn::ModuleList>();
      for (int64_t j = 0; j < stage; ++j) {
        auto ccw_block = std::make_shared<nn::ModuleList>();
        std::vector<std::shared_ptr<CCWBlock>> row;
        for (int64_t r = 0; r < repeat; ++r) {
          row.push_back(std::make_shared<CCWBlock>(chs[j], chs[j], 1, act));
          ccw_block->push_back(row.back());
        }
        ccw_blocks->push_back(ccw_block);
        mod.ccw.push_back(std::move(row));
      }
      mod.fusion = std::make_shared<FusionBlock>(base_ch, stage, m + 1 == num_modules && stage != 4, act);
      blocks->push_back(mod.crw).push_back(ccw_blocks).push_back(mod.fusion);
      modules_.push_back(std::move(mod));
    }
    stage_blocks_ = register_module("stage_blocks", blocks);
  }

  std::vector<Tensor> forward_n(const std::vector<Tensor>& in) {
    return observed_call(in, [&] {
      std::vector<Tensor> feats = in;
      for (const auto& mod : modules_) {
        const std::vector<Tensor> cr_weight = mod.crw->forward_n(feats);
        for (size_t j = 0; j < mod.ccw.size(); ++j) {
          for (const auto& block : mod.ccw[j]) feats[j] = block->forward2(feats[j], cr_weight[j]);
        }
        feats = mod.fusion->forward_n(feats);
      }
      return feats;
    });
  }

 private:
  struct Module3 {
    std::shared_ptr<CrossResolutionWeightModule> crw;
    std::vector<std::vector<std::shared_ptr<CCWBlock>>> ccw;
    std::shared_ptr<FusionBlock> fusion;
  };
  std::vector<Module3> modules_;
  nn::ModulePtr stage_blocks_;
};

// Every stream upsampled to stride 4, concatenated, then a DSConvBNAct to
// 128 channels and a 1x1 conv to the classes.
class RepresentationHead : public nn::Module {
 public:
  RepresentationHead(int64_t base_ch, int64_t num_class, int64_t num_stage, const std::string& act,
                     int64_t hid_ch = 128)
      : nn::Module("RepresentationHead") {
    auto up = std::make_shared<nn::ModuleList>();
    up->push_back(std::make_shared<nn::Identity>());
    int64_t in_ch = base_ch;
    for (int64_t i = 1; i < num_stage; ++i) {
      up->push_back(upsample_ac(int64_t{1} << i));
      in_ch += (int64_t{1} << i) * base_ch;
    }
    up_ = register_module("up", up);
    auto head = std::make_shared<nn::Sequential>();
    head->push_back(ds_conv_bn_act(in_ch, hid_ch, 3, 1, 1, act));
    head->push_back(zh320::conv1x1(hid_ch, num_class));
    seg_head_ = register_module("seg_head", head);
  }
  Tensor forward_n(const std::vector<Tensor>& feats) {
    return observed_call(feats, [&] {
      std::vector<Tensor> ups;
      for (size_t i = 0; i < feats.size(); ++i) ups.push_back((*(*up_)[i])(feats[i]));
      return (*seg_head_)(fn::cat(ups, 1));
    });
  }

 private:
  std::shared_ptr<nn::ModuleList> up_;
  nn::ModulePtr seg_head_;
};

}  // namespace litehrnet_parts

LiteHRNet::LiteHRNet(const LiteHRNetOptions& o) : nn::SegNet("LiteHRNet") {
  CUDASEG_CHECK(o.num_classes > 0 && o.n_channel > 0, "LiteHRNet: num_classes (", o.num_classes,
                ") and n_channel (", o.n_channel, ") must be positive");
  CUDASEG_CHECK(o.base_ch > 0 && o.repeat > 0, "LiteHRNet: base_ch (", o.base_ch, ") and repeat (", o.repeat,
                ") must be positive");
  std::array<int64_t, 3> num_modules;
  if (o.arch_type == "litehrnet18") {
    num_modules = {2, 4, 2};
  } else if (o.arch_type == "litehrnet30") {
    num_modules = {3, 8, 3};
  } else {
    CUDASEG_FAIL("LiteHRNet: unsupported arch_type '", o.arch_type, "' (litehrnet18, litehrnet30)");
  }
  auto stem = std::make_shared<nn::Sequential>();
  stem->push_back(conv_bn_act(o.n_channel, 32, 3, 2, 1, 1, false, o.act_type));
  stem->push_back(std::make_shared<ShuffleBlock>(32, o.base_ch, 2, o.act_type));
  stem_ = register_module("stem", stem);
  stage1_down_ = register_module("stage1_down", ds_conv_bn_act(o.base_ch, o.base_ch * 2, 3, 2, 1, o.act_type));
  for (int64_t s = 2; s <= 4; ++s) {
    stages_.push_back(register_module("stage" + std::to_string(s),
                                      std::make_shared<litehrnet_parts::StageBlock>(
                                          o.base_ch, s, o.repeat, num_modules[s - 2], o.act_type)));
  }
  rep_head_ = register_module("rep_head", std::make_shared<litehrnet_parts::RepresentationHead>(
                                              o.base_ch, o.num_classes, 4, o.act_type));
}

Tensor LiteHRNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4, "LiteHRNet: input ", x.str(), " must be [N, C, H, W]");
  CUDASEG_CHECK(x.size(2) % 32 == 0 && x.size(3) % 32 == 0, "LiteHRNet: input ", x.str(),
                ": H and W must be multiples of 32");
  const Tensor stem = (*stem_)(x);
  std::vector<Tensor> feats{stem, (*stage1_down_)(stem)};
  for (const auto& stage : stages_) feats = stage->forward_n(feats);
  return zh320::resize_bilinear_ac(rep_head_->forward_n(feats), x.size(2), x.size(3));
}

CUDASEG_REGISTER_NETS(litehrnet) {
  nn::NetSpec spec;
  spec.name = "litehrnet";
  spec.summary = "Lite-HRNet (Yu et al. 2021), zh320 models/lite_hrnet.py: four parallel resolution streams of "
                 "conditional channel weighting blocks, fused after every module";
  spec.args = {
      {"n_channel", 3, {}, "input channels"},
      {"base_ch", 40, {}, "width of the stride-4 stream (doubled per stream)"},
      {"arch_type", "litehrnet18", {"litehrnet18", "litehrnet30"}, "modules per stage: 2/4/2 or 3/8/3"},
      {"repeat", 2, {}, "CCW blocks per stream in each module"},
      {"act_type", "relu", {}, "activation (zh320 Activation names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[4].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    LiteHRNetOptions o;
    o.num_classes = a.at("num_classes").get<int64_t>();
    o.n_channel = a.at("n_channel").get<int64_t>();
    o.base_ch = a.at("base_ch").get<int64_t>();
    o.arch_type = a.at("arch_type").get<std::string>();
    o.repeat = a.at("repeat").get<int64_t>();
    o.act_type = a.at("act_type").get<std::string>();
    return std::make_shared<LiteHRNet>(o);
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
