// ESNet: "ESNet: An Efficient Symmetric Network for Real-time Semantic
// Segmentation" (Wang et al., 2019, arXiv:1906.09826). A symmetric
// encoder-decoder of factorised convolution units: FCUs (two Kx1 + 1xK
// pairs, K = 3 or 5, with a residual) at 1/2 and 1/4 on both sides, and at 1/8
// parallel FCUs (PFCU: a 3x1 + 1x3 pair, then three dilated pairs, rates 2,
// 5 and 9, summed with the input). ENet's initial block downsamples, stride-2
// transposed convolutions upsample, the last one producing the logits.
//
// Mirrors zh320/realtime-semantic-segmentation-pytorch, models/esnet.py at
// commit c77b1b697188445c26ef126ff112042c78f4e196 (class ESNet), with the same
// module tree and state_dict keys (block1_down, block1, ..., block5, full_conv).
// Registry name "esnet":
//   {"name": "esnet", "num_classes": 19, "n_channel": 3, "act_type": "relu"}
// Any H x W runs; as upstream the logits are 8*ceil(ceil(ceil(H/2)/2)/2) high
// (likewise wide), so only multiples of 8 give logits of the input's size.
#pragma once

#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

struct ESNetOptions {
  int64_t num_classes = 1;
  int64_t n_channel = 3;  // < 16: the first downsampler concatenates 16 - n_channel conv maps
  std::string act_type = "relu";
};

class ESNet : public nn::SegNet {
 public:
  explicit ESNet(const ESNetOptions& options);

  // The logits (see above for their size); training uses the same forward.
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr block1_down_, block1_, block2_down_, block2_, block3_down_, block3_, block4_up_, block4_, block5_up_,
      block5_, full_conv_;
};

}  // namespace cudaseg::nets
