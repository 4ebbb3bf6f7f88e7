#include "nets/stdc_backbone.h"

#include "autograd/shape.h"
#include "nn/layers.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {

STDCModule::STDCModule(int64_t in_channels, int64_t out_channels, int64_t stride)
    : nn::Module("STDCModule"), stride_(stride) {
  CUDASEG_CHECK(out_channels > 0 && out_channels % 8 == 0, "STDCModule: output channels ", out_channels,
                " must be a positive multiple of 8");
  CUDASEG_CHECK(stride == 1 || stride == 2, "STDCModule: unsupported stride ", stride, " (1 or 2)");
  block1_ = register_module("block1", zh320::conv_bn_act(in_channels, out_channels / 2, 1));
  block2_ = register_module("block2", zh320::conv_bn_act(out_channels / 2, out_channels / 4, 3, stride));
  if (stride == 2) pool_ = register_module("pool", std::make_shared<nn::AvgPool2d>(3, 2, 1));
  block3_ = register_module("block3", zh320::conv_bn_act(out_channels / 4, out_channels / 8, 3));
  block4_ = register_module("block4", zh320::conv_bn_act(out_channels / 8, out_channels / 8, 3));
}

Tensor STDCModule::forward(const Tensor& x) {
  Tensor x1 = (*block1_)(x);
  Tensor x2 = (*block2_)(x1);
  if (stride_ == 2) x1 = (*pool_)(x1);
  Tensor x3 = (*block3_)(x2);
  Tensor x4 = (*block4_)(x3);
  return fn::cat({x1, x2, x3, x4}, 1);
}

std::array<int64_t, 3> stdc_repeat_times(const std::string& encoder_type) {
  if (encoder_type == "stdc1") return {1, 1, 1};
  if (encoder_type == "stdc2") return {3, 4, 2};
  CUDASEG_FAIL("unsupported STDC encoder type '", encoder_type, "' (stdc1, stdc2)");
}

STDCStages STDCStages::register_on(nn::Module& owner, int64_t in_channels, const std::array<int64_t, 5>& c,
                                   const std::string& encoder_type) {
  const auto repeat = stdc_repeat_times(encoder_type);
  STDCStages s;
  s.stage[0] = owner.register_module("stage1", zh320::conv_bn_act(in_channels, c[0], 3, 2));
  s.stage[1] = owner.register_module("stage2", zh320::conv_bn_act(c[0], c[1], 3, 2));
  for (int i = 0; i < 3; ++i) {
    auto seq = std::make_shared<nn::Sequential>();
    seq->push_back(std::make_shared<STDCModule>(c[i + 1], c[i + 2], 2));
    for (int64_t r = 0; r < repeat[i]; ++r) seq->push_back(std::make_shared<STDCModule>(c[i + 2], c[i + 2], 1));
    s.stage[i + 2] = owner.register_module("stage" + std::to_string(i + 3), seq);
  }
  return s;
}

std::array<Tensor, 3> STDCStages::forward(const Tensor& x) const {
  Tensor y = (*stage[1])((*stage[0])(x));
  Tensor x3 = (*stage[2])(y);
  Tensor x4 = (*stage[3])(x3);
  Tensor x5 = (*stage[4])(x4);
  return {x3, x4, x5};
}

STDCBackbone::STDCBackbone(int64_t in_channels, const std::array<int64_t, 5>& encoder_channels,
                           const std::string& encoder_type)
    : nn::Module("STDCBackbone") {
  stages_ = STDCStages::register_on(*this, in_channels, encoder_channels, encoder_type);
}

}  // namespace cudaseg::nets
