// Shared by the test_infer suite: a small net registered as "infer_test_net"
// with every pattern nn/fuse.h meets (Sequential conv-bn-act chains, a
// block declaring its own chains, a residual whose ReLU must stay separate,
// an activation with arguments, a non-affine BatchNorm), deterministic
// parameters, and checkpoints of it.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/fn.h"
#include "nn/layers.h"
#include "nn/param_init.h"
#include "nn/registry.h"
#include "tests/common/tf32_probe.h"
#include "runtime/math_mode.h"
#include "weights/checkpoint.h"
#include "infer/session.h"

namespace cudaseg::infer_testing {

using nlohmann::json;

inline std::shared_ptr<nn::Sequential> conv_bn_act(int64_t in, int64_t out, int64_t k, int64_t s, bool bias,
                                                   nn::ModulePtr act, bool affine = true) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Conv2d>(in, out, k, s, k / 2, 1, 1, bias));
  seq->push_back(std::make_shared<nn::BatchNorm2d>(out, 1e-5, 0.1, affine));
  if (act) seq->push_back(act);
  return seq;
}

// conv_a -> bn_a -> relu6 -> conv_b -> bn_b, + x, -> relu: the first chain
// is declared with its activation, the second without (the ReLU follows the sum).
class ResidualBlock : public nn::Module {
 public:
  explicit ResidualBlock(int64_t c) : nn::Module("ResidualBlock") {
    conv_a = register_module("conv_a", std::make_shared<nn::Conv2d>(c, c, 3, 1, 1, 1, 1, false));
    bn_a = register_module("bn_a", std::make_shared<nn::BatchNorm2d>(c));
    act_a = register_module("act_a", nn::make_activation("relu6"));
    conv_b = register_module("conv_b", std::make_shared<nn::Conv2d>(c, c, 3, 1, 1, 1, c, false));
    bn_b = register_module("bn_b", std::make_shared<nn::BatchNorm2d>(c));
    relu = register_module("relu", nn::make_activation("relu"));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*act_a)((*bn_a)((*conv_a)(x)));
    y = (*bn_b)((*conv_b)(y));
    return (*relu)(fn::add(y, x));
  }
  std::vector<nn::FusableChain> fusable_chains() const override {
    return {{conv_a, bn_a, act_a}, {conv_b, bn_b, nullptr}};
  }
  std::shared_ptr<nn::Conv2d> conv_a, conv_b;
  std::shared_ptr<nn::BatchNorm2d> bn_a, bn_b;
  nn::ModulePtr act_a, relu;
};

class TestNet : public nn::SegNet {
 public:
  TestNet(int64_t width, int64_t num_classes) : nn::SegNet("TestNet") {
    stem = register_module("stem", conv_bn_act(3, width, 3, 2, false, nn::make_activation("relu")));
    block = register_module("block", std::make_shared<ResidualBlock>(width));
    mix = register_module("mix", conv_bn_act(width, width, 1, 1, true, nn::make_activation("leaky_relu")));
    plain = register_module("plain", conv_bn_act(width, width, 3, 1, false, nn::make_activation("silu"), false));
    head = register_module("head", std::make_shared<nn::Conv2d>(width, num_classes, 1));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*head)((*plain)((*mix)((*block)((*stem)(x)))));
    return fn::interpolate(y, std::array<int64_t, 2>{x.size(2), x.size(3)}, std::nullopt, "bilinear", false);
  }
  nn::ModulePtr stem, block, mix, plain, head;
};

inline void register_test_net() {
  static std::once_flag once;
  std::call_once(once, [] {
    nn::register_net({"infer_test_net", "a small conv-bn-act net for the inference tests",
                        {{"width", 8}},
                        [](const json& a) -> nn::SegNetPtr {
                          return std::make_shared<TestNet>(a["width"].get<int64_t>(),
                                                           a["num_classes"].get<int64_t>());
                        }});
  });
}

using testing::register_tf32_probe;
using testing::Tf32Probe;

inline json test_model(int64_t width = 8, int64_t classes = 5) {
  return {{"name", "infer_test_net"}, {"num_classes", classes}, {"width", width}};
}

// Fills every state-dict entry by nn/param_init.h's rule (BatchNorm
// statistics far from the identity, so folding has something to fold).
inline void fill_det(nn::Module& net, uint64_t seed) {
  for (auto& [name, t] : net.state_dict()) {
    if (!is_floating(t.dtype()) && name.find("num_batches_tracked") == std::string::npos) continue;
    Tensor dst = t;
    dst.copy_(nn::det_param(name, t.shape(), t.dtype(), seed));
  }
}

inline nn::ModulePtr make_net(const json& model, uint64_t seed) {
  register_test_net();
  register_tf32_probe();
  nn::ModulePtr net = nn::create_net(model);
  fill_det(*net, seed);
  net->eval();
  return net;
}

inline infer::ModelInfo info_of(const json& model) {
  infer::ModelInfo info;
  info.model_json = model.dump();
  return info;
}

// A checkpoint of make_net(model, seed) with non-default preprocessing.
inline weights::Checkpoint make_checkpoint(const json& model, uint64_t seed) {
  const nn::ModulePtr net = make_net(model, seed);
  weights::Checkpoint ck;
  ck.model_json = model.dump();
  for (const auto& [name, t] : net->state_dict()) ck.tensors.insert(name, t.detach().clone());
  ck.preprocess.mean = {0.5, 0.4, 0.3};
  ck.preprocess.std = {0.2, 0.25, 0.3};
  for (int64_t c = 0; c < model["num_classes"].get<int64_t>(); ++c) {
    ck.class_names.push_back("class" + std::to_string(c));
    ck.palette.push_back({static_cast<uint8_t>(40 * c), static_cast<uint8_t>(255 - 30 * c), 77});
  }
  return ck;
}

// STDC1 (size divisor 32: its forward refuses other sizes), small enough for
// odd-sized photos on the CPU.
inline json stdc1_model(int64_t classes = 4) {
  return {{"name", "stdc"}, {"encoder_type", "stdc1"}, {"num_classes", classes}};
}

// A photo-like u8 [height, width, 3] image: gradients that give the net
// structure to segment.
inline Tensor photo(int64_t height, int64_t width) {
  Tensor t = Tensor::empty({height, width, 3}, DType::u8);
  uint8_t* px = t.data<uint8_t>();
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int64_t c = 0; c < 3; ++c) px[(y * width + x) * 3 + c] = static_cast<uint8_t>((x * 3 + y * 5 + 70 * c) % 256);
  return t;
}

inline std::string image_fixture(const std::string& name) {
  return std::string(CUDASEG_TEST_DATA) + "/images/" + name;
}

}  // namespace cudaseg::infer_testing
