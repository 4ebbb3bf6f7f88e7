#include "nets/swin_t_att_unet.h"

#include "autograd/arith.h"
#include "autograd/shape.h"
#include "nn/fuse.h"
#include "nn/registry.h"

namespace cudaseg::nets {
namespace {

std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t k, bool bias = true) {
  return std::make_shared<nn::Conv2d>(in, out, k, 1, k / 2, 1, 1, bias);
}

nn::ModulePtr bn(int64_t c) { return std::make_shared<nn::BatchNorm2d>(c); }
nn::ModulePtr relu() { return nn::make_activation("relu"); }

// conv_block: two 3x3 conv (bias)-BN-ReLU, children of `conv`.
class ConvBlock : public nn::Module {
 public:
  ConvBlock(int64_t in, int64_t out) : Module("conv_block") {
    auto s = std::make_shared<nn::Sequential>();
    s->push_back(conv(in, out, 3)).push_back(bn(out)).push_back(relu());
    s->push_back(conv(out, out, 3)).push_back(bn(out)).push_back(relu());
    body = register_module("conv", s);
  }
  Tensor forward(const Tensor& x) override { return (*body)(x); }

 private:
  nn::ModulePtr body;
};

// up_conv: nearest x2, 3x3 conv (bias)-BN-ReLU, children of `up`.
class UpConv : public nn::Module {
 public:
  UpConv(int64_t in, int64_t out) : Module("up_conv") {
    auto s = std::make_shared<nn::Sequential>();
    s->push_back(std::make_shared<nn::Upsample>(std::nullopt, std::array<double, 2>{2.0, 2.0}, "nearest"));
    s->push_back(conv(in, out, 3)).push_back(bn(out)).push_back(relu());
    body = register_module("up", s);
  }
  Tensor forward(const Tensor& x) override { return (*body)(x); }

 private:
  nn::ModulePtr body;
};

// Attention_block(F_g, F_l, F_int): W_g acts on g with F_l inputs and W_x on
// x with F_g ones (upstream's swapped names; every call has F_g == F_l).
class AttentionBlock : public nn::Module {
 public:
  AttentionBlock(int64_t f_g, int64_t f_l, int64_t f_int) : Module("Attention_block") {
    auto wg = std::make_shared<nn::Sequential>();
    wg->push_back(conv(f_l, f_int, 1)).push_back(bn(f_int));
    W_g = register_module("W_g", wg);
    auto wx = std::make_shared<nn::Sequential>();
    wx->push_back(conv(f_g, f_int, 1)).push_back(bn(f_int));
    W_x = register_module("W_x", wx);
    auto p = std::make_shared<nn::Sequential>();
    p->push_back(conv(f_int, 1, 1)).push_back(bn(1)).push_back(nn::make_activation("sigmoid"));
    psi = register_module("psi", p);
    act = register_module("relu", relu());
  }
  Tensor gate(const Tensor& g, const Tensor& x) {
    return observed_call({g, x}, [&] {
      const Tensor g1 = (*W_g)(g);
      const Tensor x1 = (*W_x)(x);
      return fn::mul(x, (*psi)(nn::activate_sum(*act, g1, x1)));
    });
  }

 private:
  nn::ModulePtr W_g, W_x, psi, act;
};

std::shared_ptr<nn::Sequential> conv_bn_relu(int64_t in, int64_t out, int64_t k, bool bias) {
  auto s = std::make_shared<nn::Sequential>();
  s->push_back(conv(in, out, k, bias)).push_back(bn(out)).push_back(relu());
  return s;
}

}  // namespace

SwinTAttUNet::SwinTAttUNet(int64_t num_classes, const std::string& backbone, int64_t embed_dim, int64_t base,
                           double drop_path_rate)
    : nn::SegNet("swinTS_Att_Unet") {
  CUDASEG_CHECK(backbone != "convnext_t", "swin_t_att_unet: backbone convnext_t (ConvNeXt-T) is not implemented; "
                "use swin_T_224 or swin_S_224");
  const SwinConfig& cfg = swin_config(backbone);
  CUDASEG_CHECK(num_classes > 0 && base > 0, "swin_t_att_unet: num_classes ", num_classes, " and base ", base,
                " must be positive");
  CUDASEG_CHECK(embed_dim == cfg.embed_dim, "swin_t_att_unet: embed_dim ", embed_dim, " must be ", backbone,
                "'s width ", cfg.embed_dim, " (the decoder's input widths)");
  small_ = backbone == "swin_S_224";
  common_backbone = register_module("common_backbone", std::make_shared<SwinTransformer>(cfg, drop_path_rate));
  const std::array<int64_t, 5> f = {base, base * 2, base * 4, base * 8, base * 16};
  convert_[0] = register_module("convert1", conv(f[3], 2 * embed_dim, 1));
  convert_[1] = register_module("convert2", conv(f[2], embed_dim, 1));
  convert_[2] = register_module("convert3", conv(f[1], base * 2, 1));
  convert_[3] = register_module("convert4", conv(f[0], base, 1));
  att_[3] = register_module("Att4", std::make_shared<AttentionBlock>(f[3], f[3], f[2]));
  att_[2] = register_module("Att3", std::make_shared<AttentionBlock>(f[2], f[2], f[1]));
  att_[1] = register_module("Att2", std::make_shared<AttentionBlock>(f[1], f[1], f[0]));
  const int64_t f1 = small_ ? f[1] : f[0];  // the 1/2 stage's width
  att_[0] = register_module("Att1", std::make_shared<AttentionBlock>(f1, f1, f1 / 2));
  bottle_ = register_module("bottle", conv_bn_relu(8 * embed_dim, f[4], 3, false));
  up_[3] = register_module("up4", std::make_shared<UpConv>(f[4], f[3]));
  up_[2] = register_module("up3", std::make_shared<UpConv>(f[3], f[2]));
  up_[1] = register_module("up2", std::make_shared<UpConv>(f[2], f[1]));
  up_[0] = register_module("up1", std::make_shared<UpConv>(f[1], f1));
  conv_[3] = register_module("conv4", std::make_shared<ConvBlock>(2 * embed_dim + f[3], f[3]));
  conv_[2] = register_module("conv3", std::make_shared<ConvBlock>(embed_dim + f[2], f[2]));
  conv_[1] = register_module("conv2", std::make_shared<ConvBlock>(base * 2 + f[1], f[1]));
  conv_[0] = register_module("conv1", std::make_shared<ConvBlock>(small_ ? base * 2 + f[1] : base + f[0], f1));
  auto final_up = std::make_shared<nn::Sequential>();
  final_up->push_back(std::make_shared<nn::Upsample>(std::nullopt, std::array<double, 2>{2.0, 2.0}, "bilinear", false));
  final_up->push_back(conv(f1, num_classes, 3));
  final_up_conv_ = register_module("final_up_conv", final_up);
  auto cnn_up = std::make_shared<nn::Sequential>();
  cnn_up->push_back(std::make_shared<nn::MaxPool2d>(2, 2)).push_back(std::make_shared<ConvBlock>(3, f1));
  cnn_up_ = register_module("cnn_up", cnn_up);
  change_[0] = register_module("change1", conv_bn_relu(embed_dim * 4, f[3], 1, true));
  change_[1] = register_module("change2", conv_bn_relu(embed_dim * 2, f[2], 1, true));
  change_[2] = register_module("change3", conv_bn_relu(embed_dim, f[1], 1, true));
}

std::vector<Tensor> SwinTAttUNet::run(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.shape()[2] % 32 == 0 && x.shape()[3] % 32 == 0,
                "swin_t_att_unet: the input's sides must be multiples of 32 (the decoder meets the encoder's 1/32, "
                "1/16, 1/8, 1/4 and 1/2 maps), got ", x.str());
  auto gate = [&](int i, const Tensor& g, const Tensor& skip) {
    return static_cast<AttentionBlock&>(*att_[static_cast<size_t>(i)]).gate(g, skip);
  };
  const Tensor x1 = (*cnn_up_)(x);
  const std::vector<Tensor> feats = common_backbone->forward_features(x);
  const Tensor bottle = (*bottle_)(feats[3]);
  Tensor d4 = (*up_[3])(bottle);
  const Tensor a4 = (*conv_[3])(fn::cat({d4, (*convert_[0])(gate(3, d4, (*change_[0])(feats[2])))}, 1));
  Tensor d3 = (*up_[2])(a4);
  const Tensor a3 = (*conv_[2])(fn::cat({d3, (*convert_[1])(gate(2, d3, (*change_[1])(feats[1])))}, 1));
  Tensor d2 = (*up_[1])(a3);
  const Tensor a2 = (*conv_[1])(fn::cat({d2, (*convert_[2])(gate(1, d2, (*change_[2])(feats[0])))}, 1));
  Tensor d1 = (*up_[0])(a2);
  Tensor e1 = gate(0, d1, x1);
  if (!small_) e1 = (*convert_[3])(e1);
  const Tensor a1 = (*conv_[0])(fn::cat({d1, e1}, 1));
  const Tensor out = (*final_up_conv_)(a1);
  return {feats[0], feats[1], feats[2], feats[3], bottle, a3, a1, out};
}

Tensor SwinTAttUNet::forward(const Tensor& x) { return run(x).back(); }

std::vector<Tensor> SwinTAttUNet::forward_fork(const Tensor& x) {
  return observed_call({x}, [&] { return run(x); });
}

CUDASEG_REGISTER_NETS(swin_t_att_unet) {
  nn::NetSpec spec;
  spec.name = "swin_t_att_unet";
  spec.summary = "Swin-T-Att-UNet: Swin Transformer encoder + attention U-Net decoder (FastSegFormer's teacher)";
  spec.args = {
      {"backbone", "swin_T_224", {"swin_T_224", "swin_S_224", "convnext_t"}, "encoder (convnext_t is refused)"},
      {"pretrained", false, {}, "ignored by upstream for the Swin backbones"},
      {"embed_dim", 96, {}, "the encoder's width (96 for both Swin backbones)"},
      {"base", 64, {}, "decoder widths base * 1, 2, 4, 8, 16"},
      {"fork_feat", false, {}, "upstream returns the distillation list: see forward_fork()"},
      {"drop_path_rate", 0.1, {}, "the Swin's stochastic depth, rising linearly over the blocks"},
  };
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<SwinTAttUNet>(a["num_classes"].get<int64_t>(), a["backbone"].get<std::string>(),
                                          a["embed_dim"].get<int64_t>(), a["base"].get<int64_t>(),
                                          a["drop_path_rate"].get<double>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
