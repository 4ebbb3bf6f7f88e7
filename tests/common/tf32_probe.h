// A net whose forward records whether the calling thread allowed TF32
// (runtime/math_mode.h), registered as "tf32_probe_net": the inference and
// training tests check through it that their TF32 option reaches the forward
// and is restored afterwards.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "autograd/fn.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "runtime/math_mode.h"

namespace cudaseg::testing {

class Tf32Probe : public nn::SegNet {
 public:
  explicit Tf32Probe(int64_t num_classes) : nn::SegNet("Tf32Probe") {
    head = register_module("head", std::make_shared<nn::Conv2d>(3, num_classes, 1));
  }
  Tensor forward(const Tensor& x) override {
    seen().push_back(allow_tf32());
    // The relu keeps the conv's output an intermediate tensor, as in every
    // real net, so the probe also passes the every-registered-net tests of
    // tests/infer when a test has registered it in the same process.
    return fn::relu((*head)(x));
  }
  static std::vector<bool>& seen() {
    static std::vector<bool> values;
    return values;
  }
  std::shared_ptr<nn::Conv2d> head;
};

inline void register_tf32_probe() {
  static std::once_flag once;
  std::call_once(once, [] {
    nn::register_net({"tf32_probe_net", "records the TF32 setting its forward sees", {},
                      [](const nn::Json& a) -> nn::SegNetPtr {
                        return std::make_shared<Tf32Probe>(a["num_classes"].get<int64_t>());
                      }});
  });
}

}  // namespace cudaseg::testing
