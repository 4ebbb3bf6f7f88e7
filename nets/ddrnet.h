// DDRNet: "Deep Dual-resolution Networks for Real-time and Accurate Semantic
// Segmentation of Road Scenes" (Hong et al., 2021, arXiv:2101.06085). After a
// shared 1/8 trunk the net keeps two branches, a high-resolution one at 1/8
// and a low-resolution one going down to 1/64, exchanging features through
// bilateral fusions; the deep Aggregation Pyramid Pooling Module (DAPPM)
// enlarges the low branch's context before it is added back to the high one.
//
// Mirrors zh320/realtime-semantic-segmentation-pytorch, models/ddrnet.py at
// commit c77b1b697188445c26ef126ff112042c78f4e196 (class DDRNet), with the same
// module tree and state_dict keys (conv1, conv2.conv.*, conv3.conv.*,
// conv4.{low,high}_conv1/bilateral_fusion1, conv5.*.dappm.*, seg_head,
// aux_head). Registry name "ddrnet":
//   {"name": "ddrnet", "num_classes": 19, "n_channel": 3, "arch_type": "DDRNet-23-slim",
//    "act_type": "relu", "use_aux": true}
// arch_type is one of "DDRNet-23-slim", "DDRNet-23", "DDRNet-39".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace ddrnet {
class Stage4;
class Stage5;
}  // namespace ddrnet

struct DDRNetOptions {
  int64_t num_classes = 1;
  int64_t n_channel = 3;
  std::string arch_type = "DDRNet-23-slim";
  std::string act_type = "relu";  // of the stem, the residual blocks' first convs and the heads
  bool use_aux = true;            // builds aux_head on the 1/8 high-resolution branch
};

class DDRNet : public nn::SegNet {
 public:
  explicit DDRNet(const DDRNetOptions& options);

  // The logits [N, num_classes, H, W] (bilinear, align_corners true, to the input size).
  Tensor forward(const Tensor& x) override;
  // Upstream's forward(x, is_training=True): {logits, aux logits at 1/8 of the
  // input (not upsampled)} with use_aux, else {logits}.
  std::vector<Tensor> forward_train(const Tensor& x) override;

  const DDRNetOptions& options() const { return options_; }

 private:
  std::vector<Tensor> run(const Tensor& x, bool with_aux);

  DDRNetOptions options_;
  nn::ModulePtr conv1_, conv2_, conv3_, seg_head_, aux_head_;
  std::shared_ptr<ddrnet::Stage4> conv4_;
  std::shared_ptr<ddrnet::Stage5> conv5_;
};

}  // namespace cudaseg::nets
