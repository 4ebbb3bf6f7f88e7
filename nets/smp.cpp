#include "nets/smp.h"

#include <algorithm>
#include <functional>
#include <map>

#include "autograd/resize.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/smp_blocks.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace smp {

Tensor upsample_nearest_x2(const Tensor& x) {
  return fn::interpolate(x, std::nullopt, std::array<double, 2>{2.0, 2.0}, "nearest");
}

}  // namespace smp

namespace {

// What smp's model classes fix around their decoder: the encoder depth and
// output stride (EncoderMixin.make_dilated), and SegmentationHead's kernel
// size and bilinear upsampling back to the input.
struct DecoderArch {
  int64_t depth;
  int64_t output_stride;
  int64_t head_kernel;
  int64_t head_upsampling;
  std::function<smp::DecoderPtr(const std::vector<int64_t>&, bool dropout)> build;
};

const std::map<std::string, DecoderArch>& decoder_archs() {
  using C = const std::vector<int64_t>&;
  static const std::map<std::string, DecoderArch> archs = {
      {"deeplabv3", {5, 8, 1, 8, [](C c, bool d) { return smp::deeplabv3_decoder(c, d); }}},
      {"deeplabv3p", {5, 16, 1, 4, [](C c, bool d) { return smp::deeplabv3plus_decoder(c, d); }}},
      {"fpn", {5, 32, 1, 4, [](C c, bool d) { return smp::fpn_decoder(c, d); }}},
      {"linknet", {5, 32, 1, 1, [](C c, bool) { return smp::linknet_decoder(c); }}},
      {"manet", {5, 32, 3, 1, [](C c, bool) { return smp::manet_decoder(c); }}},
      {"pan", {5, 16, 3, 4, [](C c, bool) { return smp::pan_decoder(c); }}},
      {"pspnet", {3, 32, 3, 8, [](C c, bool d) { return smp::psp_decoder(c, d); }}},
      {"unet", {5, 32, 3, 1, [](C c, bool) { return smp::unet_decoder(c); }}},
      {"unetpp", {5, 32, 3, 1, [](C c, bool) { return smp::unetplusplus_decoder(c); }}},
  };
  return archs;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// smp's SegmentationHead: "0" conv (kernel k, padding k // 2, with bias),
// "1" UpsamplingBilinear2d (align_corners) or Identity, "2" smp's
// Activation(None), a module whose child "activation" is an Identity: zh320's
// Activation("none") is the same tree.
std::shared_ptr<nn::Sequential> segmentation_head(int64_t in_channels, int64_t out_channels, int64_t kernel,
                                                  int64_t upsampling) {
  auto head = std::make_shared<nn::Sequential>();
  head->push_back(std::make_shared<nn::Conv2d>(in_channels, out_channels, kernel, 1, kernel / 2));
  if (upsampling > 1)
    head->push_back(std::make_shared<nn::Upsample>(
        std::nullopt, std::array<double, 2>{double(upsampling), double(upsampling)}, "bilinear", true));
  else
    head->push_back(std::make_shared<nn::Identity>());
  head->push_back(std::make_shared<zh320::Activation>("none"));
  return head;
}

// EncoderMixin.output_stride: a shallower encoder never reaches its nominal stride.
int64_t arch_input_multiple(const DecoderArch& arch) { return std::min(arch.output_stride, int64_t{1} << arch.depth); }

}  // namespace

const std::vector<std::string>& smp_decoder_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [name, arch] : decoder_archs()) n.push_back(name);
    return n;
  }();
  return names;
}

const std::vector<std::string>& smp_encoder_names() { return resnet_types(); }

Smp::Smp(const std::string& decoder, const std::string& encoder, int64_t num_classes, bool dropout)
    : nn::SegNet("Smp"), decoder_name_(decoder) {
  const auto it = decoder_archs().find(decoder);
  CUDASEG_CHECK(it != decoder_archs().end(), "smp: unsupported decoder '", decoder,
                "' (accepted: ", joined(smp_decoder_names()), ")");
  CUDASEG_CHECK(num_classes > 0, "smp: num_classes (", num_classes, ") must be positive");
  const DecoderArch& arch = it->second;
  depth_ = arch.depth;
  input_multiple_ = arch_input_multiple(arch);
  encoder_ = register_module("encoder", std::make_shared<ResNet>(encoder, smp_output_stride(arch.output_stride)));
  std::vector<int64_t> channels{3, 64};
  for (int64_t i = 0; i + 1 < depth_; ++i) channels.push_back(encoder_->channels()[i]);
  decoder_ = register_module("decoder", arch.build(channels, dropout));
  segmentation_head_ = register_module(
      "segmentation_head",
      segmentation_head(decoder_->out_channels(), num_classes, arch.head_kernel, arch.head_upsampling));
}

Tensor Smp::forward(const Tensor& x) {
  const int64_t m = input_multiple_;
  CUDASEG_CHECK(x.dim() == 4 && x.size(2) % m == 0 && x.size(3) % m == 0, "smp ", decoder_name_, ": input ",
                x.str(), " must be [N, 3, H, W] with H and W multiples of ", m);
  std::vector<Tensor> features{x};
  for (const Tensor& f : encoder_->forward_stages(x, depth_ - 1)) features.push_back(f);
  return (*segmentation_head_)(decoder_->decode(features));
}

CUDASEG_REGISTER_NETS(smp) {
  nn::NetSpec spec;
  spec.name = "smp";
  spec.summary = "segmentation-models-pytorch 0.3.3 nets on torchvision ResNets (zh320 models/smp_wrapper.py, "
                 "the KD teacher): DeepLabV3/V3+, FPN, Linknet, MAnet, PAN, PSPNet, Unet, Unet++";
  spec.args = {
      {"decoder", "deeplabv3p", {}, "zh320's decoder_hub key: the smp model class"},
      {"encoder", "resnet101", {}, "smp encoder_name: a torchvision ResNet"},
      {"dropout", true, {}, "not upstream's: false sets the decoders' Dropout and Dropout2d to p = 0"},
  };
  for (const auto& name : smp_decoder_names()) spec.args[0].choices.push_back(name);
  for (const auto& name : smp_encoder_names()) spec.args[1].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<Smp>(a["decoder"].get<std::string>(), a["encoder"].get<std::string>(),
                                 a["num_classes"].get<int64_t>(), a["dropout"].get<bool>());
  };
  spec.size_divisor = [](const nn::Json& a) -> int64_t {
    return arch_input_multiple(decoder_archs().at(a.at("decoder").get<std::string>()));
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
