// ERFNet: "ERFNet: Efficient Residual Factorized ConvNet for Real-Time
// Semantic Segmentation" (Romera et al., IEEE T-ITS 2018). An ENet-style
// encoder-decoder whose residual blocks ("non-bottleneck-1D") factorise each
// 3x3 convolution into 3x1 and 1x3, the second pair dilated (2, 4, 8, 16 at
// 1/8); the encoder downsamples with ENet's initial block (strided conv
// concatenated with a max pool), the decoder upsamples with stride-2
// transposed convolutions, the last one producing the logits.
//
// Mirrors zh320/realtime-semantic-segmentation-pytorch, models/erfnet.py at
// commit c77b1b697188445c26ef126ff112042c78f4e196 (class ERFNet), with the
// same module tree and state_dict keys (layer1, layer2, layer3_7, layer8,
// layer9_16, layer17, layer18_19, layer20, layer21_22, layer23).
// Registry name "erfnet":
//   {"name": "erfnet", "num_classes": 19, "n_channel": 3, "act_type": "relu"}
// Any H x W runs; the logits are 8*ceil(ceil(ceil(H/2)/2)/2) high (likewise
// wide), e.g. 104x200 for a 100x200 input, as upstream.
#pragma once

#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

struct ERFNetOptions {
  int64_t num_classes = 1;
  int64_t n_channel = 3;         // < 16: the first downsampler concatenates 16 - n_channel conv maps
  std::string act_type = "relu";  // downsamplers, block outputs and decoder; the factorised convs keep ReLU
};

class ERFNet : public nn::SegNet {
 public:
  explicit ERFNet(const ERFNetOptions& options);

  // The logits (see above for their size); training uses the same forward.
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr layer1_, layer2_, layer3_7_, layer8_, layer9_16_, layer17_, layer18_19_, layer20_, layer21_22_,
      layer23_;
};

}  // namespace cudaseg::nets
