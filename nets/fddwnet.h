// FDDWNet: "FDDWNet: A Lightweight Convolutional Neural Network for Real-time
// Semantic Segmentation" (Liu et al., 2019, arXiv:1911.00632). An
// ERFNet-like encoder-decoder whose residual units (EERM) factorise depth-wise
// convolutions into ks x 1 and 1 x ks, a pair plain and a pair dilated (up to
// 17 at 1/8), each pair followed by a 1x1 ConvBNAct; ENet's initial block
// downsamples, stride-2 transposed convolutions upsample, and the 1/4
// encoder features are added back into the decoder.
//
// Mirrors zh320/realtime-semantic-segmentation-pytorch, models/fddwnet.py at
// commit c77b1b697188445c26ef126ff112042c78f4e196 (class FDDWNet), with the
// same module tree and state_dict keys (layer1, layer2, layer3_7, layer8,
// layer9_16, layer17_24, layer25, layer26_27, layer28, layer29_30, layer31).
// Registry name "fddwnet":
//   {"name": "fddwnet", "num_classes": 19, "n_channel": 3, "ks": 3, "act_type": "relu"}
// As upstream, ceil(H/4) and ceil(W/4) must be even (e.g. H, W multiples of
// 8) so that the upsampled 1/8 features match the 1/4 skip; the logits are
// 4*ceil(H/4) x 4*ceil(W/4).
#pragma once

#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

struct FDDWNetOptions {
  int64_t num_classes = 1;
  int64_t n_channel = 3;  // < 16: the first downsampler concatenates 16 - n_channel conv maps
  int64_t ks = 3;         // odd: the factorised depth-wise kernels are ks x 1 and 1 x ks
  std::string act_type = "relu";
};

class FDDWNet : public nn::SegNet {
 public:
  explicit FDDWNet(const FDDWNetOptions& options);

  // The logits (see above for their size); training uses the same forward.
  Tensor forward(const Tensor& x) override;

 private:
  int64_t n_channel_;
  nn::ModulePtr layer1_, layer2_, layer3_7_, layer8_, layer9_16_, layer17_24_, layer25_, layer26_27_, layer28_,
      layer29_30_, layer31_;
};

}  // namespace cudaseg::nets
