// nets/segnet.h: the interface of every segmentation net. forward() returns
// the main logits [N, C, H, W] at the input resolution; forward_train()
// returns the main logits first, then the auxiliary outputs the training
// losses consume (aux heads, detail head), at whatever size the net makes them.
#pragma once

#include <vector>

#include "nets/module.h"

namespace cudaseg::nets {

class SegNet : public nn::Module {
 public:
  using nn::Module::Module;
  virtual std::vector<Tensor> forward_train(const Tensor& x) { return {forward(x)}; }
};

}  // namespace cudaseg::nets
