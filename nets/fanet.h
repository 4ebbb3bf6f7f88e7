// FANet ("Real-time Semantic Segmentation with Fast Attention", Hu et al.,
// RA-L 2021): a torchvision ResNet-18/34 whose layer1 also strides by 2
// (features at strides 8, 16, 32, 64), a "fast attention" block on each
// stage (3x3 ConvBN query, key and value; q and k L2-normalised over
// channels; y = q (k^T v) / n, a ConvBNAct, plus the value), a top-down
// path that adds each 2x transposed-conv-upsampled stage to the one above
// (FuseUp) and a SegHead on the concatenation of all four stages at stride
// 8; bilinear to the input size. Mirrors zh320's models/fanet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "fanet":
//   {"name": "fanet", "num_classes": 19, "n_channel": 3, "att_channel": 32, "backbone_type": "resnet18",
//    "cat_feat": true, "act_type": "relu"}
//
// Memory: upstream evaluates q @ (k^T @ v) as written, materialising an
// n x n matrix per stage (n = H*W of the stage: 8192^2 floats, 268 MB, on
// the stride-8 stage of a 512x1024 input; 4.3 GB at 1024x2048). The product
// is associative, so here it is (q @ k^T) @ v: a C x C matrix (att_channel
// squared, 32 x 32) and memory linear in pixels, the same values up to
// rounding (fast_attention_product; tests/nets/test_fanet_golden.cpp checks
// it against the naive order, values and gradients). A 1x3x512x1024 eval
// forward peaks at 280 MiB process RSS on the CPU (`rtseg_bench --config
// nets/fanet.json --size 512x1024 --iters 1 --warmup 0`).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

// y = (normalize(q) @ normalize(k)^T) @ v / n for q, k, v [B, C, n], the
// normalisation L2 over C (F.normalize(p=2, dim=1)): upstream's
// normalize(q) @ (normalize(k)^T @ v) / n in its linear-memory order.
Tensor fast_attention_product(const Tensor& q, const Tensor& k, const Tensor& v);

namespace fanet_parts {
class FuseUp;  // defined in fanet.cpp
}  // namespace fanet_parts

class FANet : public nn::SegNet {
 public:
  // backbone_type: "resnet18" or "resnet34" (upstream refuses the others).
  // n_channel is accepted as upstream does, which never uses it.
  FANet(int64_t num_classes, int64_t n_channel = 3, int64_t att_channel = 32,
        const std::string& backbone_type = "resnet18", bool cat_feat = true, const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W]; H and W multiples of 64 (the stride-64
  // stage, upsampled 2x, is added to the stride-32 one, and so on up).
  Tensor forward(const Tensor& x) override;

 private:
  bool cat_feat_;
  nn::ModulePtr backbone_, seg_head_;
  std::vector<nn::ModulePtr> fast_attention_;
  std::vector<std::shared_ptr<fanet_parts::FuseUp>> fuse_up_;
};

}  // namespace cudaseg::nets
