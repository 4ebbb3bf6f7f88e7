// The paper's STDC backbone ("Rethinking BiSeNet For Real-time Semantic
// Segmentation", Fan et al., CVPR 2021) as two upstreams build it with the
// same module names: MichaelFan01/STDC-Seg nets/stdcnet.py (STDCNet813,
// STDCNet1446; used by nets/stdcseg.h) and PaddleSeg
// paddleseg/models/backbones/stdcnet.py (STDC1, STDC2; used by
// nets/ppliteseg_paddle.h). A stride-2 CatBottleneck downsamples its first
// 1x1 block with a depthwise 3x3 conv + BN (`avd_layer`) and pools the same
// block (`skip`, 3x3 stride-2 average) for the concatenation. zh320's STDC
// (nets/stdc_backbone.h) strides its 3x3 block instead: not the same weights.
// The two upstreams differ in what their frameworks default to, which
// STDCNetOptions carries: torch's BatchNorm2d counts batches where Paddle's
// BatchNorm2D does not, and Paddle's AvgPool2D leaves the padding out of
// the average (exclusive=True) where torch's AvgPool2d counts it.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace cudaseg::nets {

// conv (no bias, padding k/2) -> bn -> relu, children named conv, bn, relu
// (STDC-Seg's ConvX and ConvBNReLU, Paddle STDC's ConvBNRelu); `type` is the
// upstream class name.
class STDCConvBNReLU : public nn::Module {
 public:
  STDCConvBNReLU(const char* type, int64_t in, int64_t out, int64_t k, int64_t stride, bool count_batches);
  Tensor forward(const Tensor& x) override;
  std::vector<nn::FusableChain> fusable_chains() const override { return {chain_}; }

 private:
  nn::FusableChain chain_;
};

struct STDCNetOptions {
  bool count_batches = true;            // BatchNorm keeps num_batches_tracked (torch)
  bool skip_count_include_pad = true;   // the skip pool divides by 9 at the borders too (torch)
  const char* conv_type = "ConvX";      // the upstream class of conv + bn + relu (Paddle: ConvBNRelu)
};

// {2, 2, 2} for "STDCNet813" / "STDC1", {4, 5, 3} for "STDCNet1446" / "STDC2".
std::array<int64_t, 3> stdcnet_layers(const std::string& name);

// `features` of STDCNet (base b, block_num 4, type 'cat'): ConvBNReLU 3x3 s2
// (in -> b/2), ConvBNReLU 3x3 s2 (-> b), then per stage one stride-2
// CatBottleneck and layers[i] - 1 stride-1 ones (4b, 8b, 16b channels).
struct STDCFeatures {
  std::vector<nn::ModulePtr> modules;
  // Stage ends in `modules`: x2 = [0, 1), x4 = [1, 2), x8, x16, x32.
  std::array<int64_t, 5> ends{};

  // Registers the Sequential as `features` on `owner`.
  static STDCFeatures register_on(nn::Module& owner, int64_t in_channels, int64_t base,
                                  const std::array<int64_t, 3>& layers, const STDCNetOptions& options);
  // Stage outputs at strides 2, 4, 8, 16, 32.
  std::array<Tensor, 5> forward(const Tensor& x) const;
};

}  // namespace cudaseg::nets
