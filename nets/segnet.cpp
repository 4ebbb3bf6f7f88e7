#include "nets/segnet.h"

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "autograd/pool.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {

namespace segnet_parts {

namespace {

std::shared_ptr<nn::Sequential> conv_stack(const std::vector<std::pair<int64_t, int64_t>>& channels,
                                           const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  for (const auto& [in, out] : channels) seq->push_back(zh320::conv_bn_act(in, out, 3, 1, 1, 1, false, act));
  return seq;
}

}  // namespace

// Two 3x3 ConvBNActs (three with extra_conv), then a 2x2 max pool that also
// returns where each maximum was (flat h*W+w in its channel's input map).
// Upstream's pool is a parameter-free child "pool"; it runs here as the op.
class DownsampleBlock : public nn::Module {
 public:
  DownsampleBlock(int64_t in_channels, int64_t out_channels, const std::string& act, bool extra_conv)
      : nn::Module("DownsampleBlock") {
    std::vector<std::pair<int64_t, int64_t>> channels = {{in_channels, out_channels}, {out_channels, out_channels}};
    if (extra_conv) channels.emplace_back(out_channels, out_channels);
    conv_ = register_module("conv", conv_stack(channels, act));
  }
  std::pair<Tensor, Tensor> forward_down(const Tensor& x) {
    return observed_call({x}, [&] {
      ops::MaxPool2dParams pool;
      pool.kernel_size = {2, 2};
      pool.stride = {2, 2};
      return fn::max_pool2d_with_indices((*conv_)(x), pool);
    });
  }

 private:
  nn::ModulePtr conv_;
};

// Unpools to twice the input's size by the indices, then 3x3 ConvBNActs:
// in -> in -> out, or in -> in -> in -> out with extra_conv.
class UpsampleBlock : public nn::Module {
 public:
  UpsampleBlock(int64_t in_channels, int64_t out_channels, const std::string& act, bool extra_conv)
      : nn::Module("UpsampleBlock") {
    std::vector<std::pair<int64_t, int64_t>> channels = {{in_channels, in_channels}};
    if (extra_conv) channels.emplace_back(in_channels, in_channels);
    channels.emplace_back(in_channels, out_channels);
    conv_ = register_module("conv", conv_stack(channels, act));
  }
  Tensor forward_up(const Tensor& x, const Tensor& indices) {
    return observed_call({x, indices}, [&] {
      return (*conv_)(fn::max_unpool2d(x, indices, {x.size(2) * 2, x.size(3) * 2}));
    });
  }

 private:
  nn::ModulePtr conv_;
};

}  // namespace segnet_parts

SegNet::SegNet(int64_t num_classes, int64_t n_channel, int64_t hid_channel, const std::string& act_type)
    : nn::SegNet("SegNet") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0 && hid_channel > 0, "SegNet: num_classes (", num_classes,
                "), n_channel (", n_channel, ") and hid_channel (", hid_channel, ") must be positive");
  using segnet_parts::DownsampleBlock;
  using segnet_parts::UpsampleBlock;
  const int64_t h = hid_channel;
  const std::array<int64_t, 6> widths = {n_channel, h, 2 * h, 4 * h, 8 * h, 8 * h};  // stage i: widths[i] -> [i+1]
  for (size_t i = 0; i < 5; ++i) {
    const bool extra_conv = i >= 2;
    const std::string stage = std::to_string(i + 1);
    down_[i] = register_module("down_stage" + stage,
                               std::make_shared<DownsampleBlock>(widths[i], widths[i + 1], act_type, extra_conv));
  }
  // The decoder mirrors the encoder, except that its first stage ends at
  // hid_channel rather than n_channel, for the classifier.
  for (size_t i = 5; i-- > 0;) {
    const bool extra_conv = i >= 2;
    const int64_t out = i == 0 ? h : widths[i];
    up_[i] = register_module("up_stage" + std::to_string(i + 1),
                             std::make_shared<UpsampleBlock>(widths[i + 1], out, act_type, extra_conv));
  }
  classifier_ = register_module("classifier", zh320::conv_bn_act(h, num_classes, 3, 1, 1, 1, false, act_type));
}

Tensor SegNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4, "SegNet: input ", x.str(), " must be [N, C, H, W]");
  CUDASEG_CHECK(x.size(2) % 32 == 0 && x.size(3) % 32 == 0, "SegNet: input ", x.str(),
                " needs H and W multiples of 32 (five 2x2 poolings are unpooled back to each stage's size)");
  std::array<Tensor, 5> indices;
  Tensor y = x;
  for (size_t i = 0; i < 5; ++i) std::tie(y, indices[i]) = down_[i]->forward_down(y);
  for (size_t i = 5; i-- > 0;) y = up_[i]->forward_up(y, indices[i]);
  return (*classifier_)(y);
}

CUDASEG_REGISTER_NETS(segnet) {
  nn::NetSpec spec;
  spec.name = "segnet";
  spec.summary = "SegNet (Badrinarayanan et al. 2017), zh320 models/segnet.py: VGG16-like encoder, decoder "
                 "unpooling by the encoder's max-pool indices";
  spec.args = {
      {"n_channel", 3, {}, "input channels"},
      {"hid_channel", 64, {}, "width of the first stage (the others 2, 4, 8 and 8 times it)"},
      {"act_type", "relu", {},
       "activation of every ConvBNAct (upstream builds them with inplace=True: only activations taking it)"},
  };
  for (const auto& name : zh320::inplace_activation_names()) spec.args[2].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<SegNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                    a["hid_channel"].get<int64_t>(), a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
