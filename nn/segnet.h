// nn/segnet.h: the interface of every segmentation net: forward() gives the
// main logits [N, num_classes, H, W] (eval); forward_train() gives upstream's
// training outputs, main logits first, then auxiliary outputs in upstream's order.
#pragma once

#include <vector>

#include "nn/module.h"

namespace cudaseg::nn {

class SegNet : public nn::Module {
 public:
  using nn::Module::Module;
  virtual std::vector<Tensor> forward_train(const Tensor& x) { return {forward(x)}; }
};

}  // namespace cudaseg::nn
