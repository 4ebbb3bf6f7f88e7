// The depth-wise / point-wise blocks of zh320/realtime-semantic-segmentation-pytorch
// (models/modules.py, commit c77b1b697188445c26ef126ff112042c78f4e196) that
// BiSeNetv2 and FastSCNN use, with upstream's module trees: each is a
// Sequential "0" conv / "1" BatchNorm2d / "2" zh320 Activation, except
// DSConvBNAct, a Sequential of a DWConvBNAct "0" and a PWConvBNAct "1".
#pragma once

#include <memory>
#include <string>

#include "nets/zh320_modules.h"

namespace cudaseg::nets::zh320 {

// DWConvBNAct: grouped conv (groups = in_channels, so out_channels may be a
// multiple of in_channels), padding (k-1)/2*dilation, no bias.
std::shared_ptr<nn::Sequential> dw_conv_bn_act(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                                               int64_t stride = 1, int64_t dilation = 1,
                                               const std::string& act_type = "relu");

// DWConvBNAct with a (kh, kw) kernel (ADSCNet's and FDDWNet's 3x1 / 1x3): padding
// ((kh-1)/2*dilation, (kw-1)/2*dilation).
std::shared_ptr<nn::Sequential> dw_conv_bn_act(int64_t in_channels, int64_t out_channels, nn::Pair kernel_size,
                                               int64_t stride = 1, int64_t dilation = 1,
                                               const std::string& act_type = "relu");

// PWConvBNAct: 1x1 conv, with a bias by default as upstream.
std::shared_ptr<nn::Sequential> pw_conv_bn_act(int64_t in_channels, int64_t out_channels,
                                               const std::string& act_type = "relu", bool bias = true);

// DSConvBNAct: DWConvBNAct(in, in, k, stride, dilation) then PWConvBNAct(in, out), both with act_type.
std::shared_ptr<nn::Sequential> ds_conv_bn_act(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                                               int64_t stride = 1, int64_t dilation = 1,
                                               const std::string& act_type = "relu");

// MobileNetV2's block as FastSCNN and ContextNet each define it upstream
// (identical classes): PWConvBNAct expansion (with bias), 3x3 DWConvBNAct,
// linear 1x1 ConvBNAct projection, all under "conv"; identity shortcut at
// stride 1 with equal channels.
class InvertedResidual : public nn::Module {
 public:
  InvertedResidual(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t expand_ratio,
                   const std::string& act_type);
  Tensor forward(const Tensor& x) override;

 private:
  bool use_res_connect_;
  nn::ModulePtr conv_;
};

}  // namespace cudaseg::nets::zh320
