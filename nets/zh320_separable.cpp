#include "nets/zh320_separable.h"

#include "autograd/arith.h"

namespace cudaseg::nets::zh320 {

std::shared_ptr<nn::Sequential> dw_conv_bn_act(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                                               int64_t stride, int64_t dilation, const std::string& act_type) {
  return dw_conv_bn_act(in_channels, out_channels, nn::Pair{kernel_size, kernel_size}, stride, dilation, act_type);
}

std::shared_ptr<nn::Sequential> dw_conv_bn_act(int64_t in_channels, int64_t out_channels, nn::Pair kernel_size,
                                               int64_t stride, int64_t dilation, const std::string& act_type) {
  return conv_bn_act(in_channels, out_channels, kernel_size, stride, dilation, in_channels, false, act_type);
}

std::shared_ptr<nn::Sequential> pw_conv_bn_act(int64_t in_channels, int64_t out_channels,
                                               const std::string& act_type, bool bias) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Conv2d>(in_channels, out_channels, 1, 1, 0, 1, 1, bias));
  seq->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
  seq->push_back(std::make_shared<Activation>(act_type));
  return seq;
}

std::shared_ptr<nn::Sequential> ds_conv_bn_act(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                                               int64_t stride, int64_t dilation, const std::string& act_type) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(dw_conv_bn_act(in_channels, in_channels, kernel_size, stride, dilation, act_type));
  seq->push_back(pw_conv_bn_act(in_channels, out_channels, act_type));
  return seq;
}

InvertedResidual::InvertedResidual(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t expand_ratio,
                                   const std::string& act_type)
    : nn::Module("InvertedResidual"), use_res_connect_(stride == 1 && in_channels == out_channels) {
  const int64_t hid_channels = in_channels * expand_ratio;
  auto conv = std::make_shared<nn::Sequential>();
  conv->push_back(pw_conv_bn_act(in_channels, hid_channels, act_type));
  conv->push_back(dw_conv_bn_act(hid_channels, hid_channels, 3, stride, 1, act_type));
  conv->push_back(conv_bn_act(hid_channels, out_channels, 1, 1, 1, 1, false, "none"));
  conv_ = register_module("conv", conv);
}

Tensor InvertedResidual::forward(const Tensor& x) {
  const Tensor y = (*conv_)(x);
  return use_res_connect_ ? fn::add(x, y) : y;
}

}  // namespace cudaseg::nets::zh320
