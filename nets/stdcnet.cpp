#include "nets/stdcnet.h"

#include "autograd/shape.h"
#include "nn/layers.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups = 1) {
  return std::make_shared<nn::Conv2d>(in, out, k, stride, k / 2, 1, groups, false);
}

std::shared_ptr<nn::BatchNorm2d> bn(int64_t channels, bool count_batches) {
  return std::make_shared<nn::BatchNorm2d>(channels, 1e-5, 0.1, true, true, count_batches);
}

// CatBottleneck with block_num 4: conv_list 1x1 (in -> out/2), 3x3 (-> out/4),
// 3x3 (-> out/8), 3x3 (-> out/8); stride 2 puts avd_layer (depthwise 3x3 s2 +
// BN) between the first two and pools the first one (skip) for the
// concatenation [x1, x2, x3, x4].
class CatBottleneck : public nn::Module {
 public:
  CatBottleneck(int64_t in, int64_t out, int64_t stride, const STDCNetOptions& options)
      : nn::Module("CatBottleneck"), stride_(stride) {
    auto list = register_module("conv_list", std::make_shared<nn::ModuleList>());
    if (stride == 2) {
      auto avd = std::make_shared<nn::Sequential>();
      avd->push_back(conv(out / 2, out / 2, 3, 2, out / 2));
      avd->push_back(bn(out / 2, options.count_batches));
      avd_layer_ = register_module("avd_layer", avd);
      ops::AvgPool2dParams pool;
      pool.kernel_size = {3, 3};
      pool.stride = {2, 2};
      pool.padding = {1, 1};
      pool.count_include_pad = options.skip_count_include_pad;
      skip_ = register_module("skip", std::make_shared<nn::AvgPool2d>(pool));
    }
    const char* type = options.conv_type;
    const bool counts = options.count_batches;
    list->push_back(std::make_shared<STDCConvBNReLU>(type, in, out / 2, 1, 1, counts));
    list->push_back(std::make_shared<STDCConvBNReLU>(type, out / 2, out / 4, 3, 1, counts));
    list->push_back(std::make_shared<STDCConvBNReLU>(type, out / 4, out / 8, 3, 1, counts));
    list->push_back(std::make_shared<STDCConvBNReLU>(type, out / 8, out / 8, 3, 1, counts));
    for (size_t i = 0; i < 4; ++i) conv_list_[i] = (*list)[i];
  }
  Tensor forward(const Tensor& x) override {
    Tensor out1 = (*conv_list_[0])(x);
    Tensor x2 = (*conv_list_[1])(stride_ == 2 ? (*avd_layer_)(out1) : out1);
    Tensor x3 = (*conv_list_[2])(x2);
    Tensor x4 = (*conv_list_[3])(x3);
    if (stride_ == 2) out1 = (*skip_)(out1);
    return fn::cat({out1, x2, x3, x4}, 1);
  }

 private:
  int64_t stride_;
  std::array<nn::ModulePtr, 4> conv_list_;
  nn::ModulePtr avd_layer_, skip_;
};

}  // namespace

STDCConvBNReLU::STDCConvBNReLU(const char* type, int64_t in, int64_t out, int64_t k, int64_t stride,
                               bool count_batches)
    : nn::Module(type) {
  chain_.conv = register_module("conv", conv(in, out, k, stride));
  chain_.bn = register_module("bn", bn(out, count_batches));
  chain_.act = register_module("relu", std::make_shared<nn::Activation>(nn::ActKind::relu));
}

Tensor STDCConvBNReLU::forward(const Tensor& x) { return (*chain_.act)((*chain_.bn)((*chain_.conv)(x))); }

std::array<int64_t, 3> stdcnet_layers(const std::string& name) {
  if (name == "STDCNet813" || name == "STDC1") return {2, 2, 2};
  if (name == "STDCNet1446" || name == "STDC2") return {4, 5, 3};
  CUDASEG_FAIL("unknown STDC backbone '", name, "' (STDCNet813 or STDC1, STDCNet1446 or STDC2)");
}

STDCFeatures STDCFeatures::register_on(nn::Module& owner, int64_t in_channels, int64_t base,
                                       const std::array<int64_t, 3>& layers, const STDCNetOptions& options) {
  CUDASEG_CHECK(base > 0 && base % 2 == 0, "STDCNet: base ", base, " must be a positive even number");
  auto features = owner.register_module("features", std::make_shared<nn::Sequential>());
  features->push_back(std::make_shared<STDCConvBNReLU>(options.conv_type, in_channels, base / 2, 3, 2, options.count_batches));
  features->push_back(std::make_shared<STDCConvBNReLU>(options.conv_type, base / 2, base, 3, 2, options.count_batches));
  int64_t in = base;
  for (size_t i = 0; i < 3; ++i) {
    const int64_t out = (base * 4) << i;
    for (int64_t j = 0; j < layers[i]; ++j) {
      features->push_back(std::make_shared<CatBottleneck>(j == 0 ? in : out, out, j == 0 ? 2 : 1, options));
    }
    in = out;
  }
  STDCFeatures f;
  f.ends = {1, 2, 2 + layers[0], 2 + layers[0] + layers[1], 2 + layers[0] + layers[1] + layers[2]};
  for (size_t i = 0; i < features->size(); ++i) f.modules.push_back((*features)[i]);
  return f;
}

std::array<Tensor, 5> STDCFeatures::forward(const Tensor& x) const {
  std::array<Tensor, 5> feats;
  Tensor y = x;
  int64_t begin = 0;
  for (size_t s = 0; s < 5; ++s) {
    for (int64_t i = begin; i < ends[s]; ++i) y = (*modules[static_cast<size_t>(i)])(y);
    feats[s] = y;
    begin = ends[s];
  }
  return feats;
}

}  // namespace cudaseg::nets
