// ENet: "ENet: A Deep Neural Network Architecture for Real-Time Semantic
// Segmentation" (Paszke et al., 2016, arXiv:1606.02147). A small
// encoder-decoder of ResNet-like bottlenecks: an initial block concatenating a
// strided conv with a max pool, downsampling bottlenecks that keep their
// max-pool indices, regular / dilated / asymmetric (5x1 + 1x5) bottlenecks at
// 1/8, and upsampling bottlenecks that max-unpool with those indices next to
// a transposed convolution; PReLU (one shared slope) after each block.
//
// Mirrors zh320/realtime-semantic-segmentation-pytorch, models/enet.py at
// commit c77b1b697188445c26ef126ff112042c78f4e196 (class ENet), with the same
// module tree and state_dict keys (initial, bottleneck1..5, fullconv).
// Registry name "enet":
//   {"name": "enet", "num_classes": 19, "n_channel": 3, "act_type": "prelu",
//    "upsample_type": "deconvolution", "dropout": true}
// upsample_type "deconvolution" gives the upsampling bottlenecks a 3x3 stride-2
// ConvTranspose2d; any other value a 1x1 ConvBNAct + bilinear x2, as upstream.
// "dropout" is not an upstream argument: false sets every Dropout to p = 0
// (the golden training step does the same), true keeps upstream's rates.
// As upstream, ceil(H/2) and ceil(W/2) of the input must be multiples of 4
// (e.g. H, W multiples of 8) so that unpooling restores the pooled sizes; the
// logits are 2*ceil(H/2) x 2*ceil(W/2).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace enet {

// The initial block: a strided 3x3 ConvBNAct to out_channels - in_channels
// maps, concatenated with the 3x3 stride-2 max pool of the input. CFPNet
// reuses it as its downsampling block, as upstream imports it.
class InitialBlock : public nn::Module {
 public:
  InitialBlock(int64_t in_channels, int64_t out_channels, const std::string& act_type);
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr conv_, pool_;
};

class BottleneckStage;

}  // namespace enet

struct ENetOptions {
  int64_t num_classes = 1;
  int64_t n_channel = 3;                      // < 16: the initial block concatenates 16 - n_channel conv maps
  std::string act_type = "prelu";             // of each bottleneck's output, the initial block and fullconv
  std::string upsample_type = "deconvolution";
  bool dropout = true;                        // false: p = 0 everywhere instead of 0.01 (stage 1) / 0.1
};

class ENet : public nn::SegNet {
 public:
  explicit ENet(const ENetOptions& options);

  // The logits [N, num_classes, H, W] (see above for odd sizes). Training mode uses the same forward
  // (ENet has no auxiliary outputs), so forward_train is {forward(x)}.
  Tensor forward(const Tensor& x) override;

  const ENetOptions& options() const { return options_; }

 private:
  ENetOptions options_;
  std::shared_ptr<enet::InitialBlock> initial_;
  std::shared_ptr<enet::BottleneckStage> bottleneck1_, bottleneck2_, bottleneck3_, bottleneck4_, bottleneck5_;
  nn::ModulePtr fullconv_;
};

}  // namespace cudaseg::nets
