// The small building blocks that zh320/realtime-semantic-segmentation-pytorch
// (models/modules.py, commit c77b1b697188445c26ef126ff112042c78f4e196) shares
// between its nets, rebuilt with the same module trees so state_dict keys are
// upstream's: ConvBNAct is a Sequential "0" conv / "1" BatchNorm2d / "2"
// Activation, and zh320's Activation wraps the torch activation in a child
// called "activation" (a PReLU slope is "<prefix>.2.activation.weight").
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace cudaseg::nets::zh320 {

// The activation names zh320's Activation accepts that these nets can use
// ("relu", "relu6", "leakyrelu", "prelu", "celu", "elu", "hardswish",
// "hardtanh", "gelu", "selu", "silu", "sigmoid", "tanh", "none"), lower case.
const std::vector<std::string>& activation_names();

// zh320 Activation(act_type): a module whose only child "activation" is the
// torch activation with its default arguments (PReLU has one slope).
class Activation : public nn::Module {
 public:
  explicit Activation(const std::string& act_type);
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr act_;
};

// Bias-free convolutions of modules.py (conv1x1: padding 0; conv3x3: padding 1).
std::shared_ptr<nn::Conv2d> conv1x1(int64_t in_channels, int64_t out_channels, int64_t stride = 1,
                                    bool bias = false);
std::shared_ptr<nn::Conv2d> conv3x3(int64_t in_channels, int64_t out_channels, int64_t stride = 1,
                                    bool bias = false);

// ConvBNAct: conv (padding (k-1)/2*dilation) -> BatchNorm2d -> Activation.
std::shared_ptr<nn::Sequential> conv_bn_act(int64_t in_channels, int64_t out_channels, int64_t kernel_size = 3,
                                            int64_t stride = 1, int64_t dilation = 1, int64_t groups = 1,
                                            bool bias = false, const std::string& act_type = "relu");

// ConvBNAct with a (kh, kw) kernel (ENet's asymmetric 5x1 / 1x5): padding
// ((kh-1)/2*dilation, (kw-1)/2*dilation).
std::shared_ptr<nn::Sequential> conv_bn_act(int64_t in_channels, int64_t out_channels, nn::Pair kernel_size,
                                            int64_t stride = 1, int64_t dilation = 1, int64_t groups = 1,
                                            bool bias = false, const std::string& act_type = "relu");

// F.interpolate(x, mode="bilinear", align_corners=True), the resize of every
// zh320 net: to (h, w) or [h, w], to `like`'s H x W, or by a scale factor (the output is
// floor(H * scale) x floor(W * scale), and with align_corners the sampling
// grid depends on the output size alone).
Tensor resize_bilinear_ac(const Tensor& x, int64_t h, int64_t w);
Tensor resize_bilinear_ac(const Tensor& x, std::array<int64_t, 2> size);
Tensor resize_bilinear_ac(const Tensor& x, const Tensor& like);
Tensor scale_bilinear_ac(const Tensor& x, double scale);

// SegHead: ConvBNAct 3x3 (in -> hid, act_type) then a bias-free conv1x1 (hid -> num_class).
std::shared_ptr<nn::Sequential> seg_head(int64_t in_channels, int64_t num_class, const std::string& act_type,
                                         int64_t hid_channels = 128);

// The activation_names() whose torch class takes `inplace`: the only ones
// upstream nets that build Activation(act_type, inplace=True) can be built with
// (nn.PReLU, nn.GELU, nn.Sigmoid and nn.Tanh refuse the argument).
const std::vector<std::string>& inplace_activation_names();

// DeConvBNAct: a module whose child "up_conv" is a Sequential "0"
// ConvTranspose2d (with a bias; stride scale_factor, kernel 2*scale_factor-1
// and padding (kernel-1)/2 unless given, output_padding scale_factor-1) /
// "1" BatchNorm2d / "2" Activation: H x W -> scale_factor*H x scale_factor*W
// with the defaults, whatever the parity of H and W.
class DeConvBNAct : public nn::Module {
 public:
  DeConvBNAct(int64_t in_channels, int64_t out_channels, int64_t scale_factor = 2,
              std::optional<int64_t> kernel_size = std::nullopt, std::optional<int64_t> padding = std::nullopt,
              const std::string& act_type = "relu");
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr up_conv_;
};

// PSPNet's pyramid pooling: stages "stage1".."stage4" average-pool to 1, 2, 4
// and 6 cells (adaptive: more cells than the map has repeat input cells) and
// project to in/4 channels (conv1x1); bilinear (align_corners) back to the
// input size, concatenated after the input, fused by PWConvBNAct "conv".
class PyramidPoolingModule : public nn::Module {
 public:
  PyramidPoolingModule(int64_t in_channels, int64_t out_channels, const std::string& act_type, bool bias = false);
  Tensor forward(const Tensor& x) override;

 private:
  std::vector<nn::ModulePtr> stages_;
  nn::ModulePtr conv_;
};

}  // namespace cudaseg::nets::zh320
