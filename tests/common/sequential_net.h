// A segmentation net that is a plain stack of modules named "0", "1", ...,
// the state_dict of an upstream nn.Sequential: the tests register it where a
// net needs nothing but its layers in order.
#pragma once

#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::testing {

class SequentialNet : public nn::SegNet {
 public:
  explicit SequentialNet(const std::vector<nn::ModulePtr>& modules) : nn::SegNet("SequentialNet") {
    for (size_t i = 0; i < modules.size(); ++i) register_module(std::to_string(i), modules[i]);
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (const auto& [name, child] : named_children()) y = (*child)(y);
    return y;
  }
};

}  // namespace cudaseg::testing
