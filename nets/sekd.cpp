#include "nets/sekd.h"

#include <sstream>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/reduce.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/registry.h"

namespace cudaseg::nets {
namespace {

// Hook reports carry upstream's return as one flat list: features, logits, embeds.
std::vector<Tensor> flatten_outputs(const SekdOutputs& o) {
  std::vector<Tensor> flat = o.features;
  flat.push_back(o.logits);
  flat.insert(flat.end(), o.embeds.begin(), o.embeds.end());
  return flat;
}

SekdOutputs unflatten_outputs(std::vector<Tensor> flat, size_t n_features) {
  SekdOutputs o;
  o.features.assign(flat.begin(), flat.begin() + static_cast<std::ptrdiff_t>(n_features));
  o.logits = flat[n_features];
  o.embeds.assign(flat.begin() + static_cast<std::ptrdiff_t>(n_features) + 1, flat.end());
  return o;
}

Tensor resize_to_input(const Tensor& logits, const Tensor& x) {
  return fn::interpolate(logits, std::array<int64_t, 2>{x.shape()[2], x.shape()[3]}, std::nullopt, "bilinear",
                         false);
}

// CBAM's channel attention: one shared 1x1-conv MLP (C -> C/16 -> C) on the
// average- and the max-pooled map, summed, sigmoid.
class ChannelAttention : public nn::Module {
 public:
  explicit ChannelAttention(int64_t channels, int64_t reduction = 16) : Module("ChannelAttention") {
    CUDASEG_CHECK(channels / reduction > 0, "ChannelAttention: ", channels, " channels, reduction ", reduction);
    avg_pool = register_module("avg_pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    max_pool = register_module("max_pool", std::make_shared<nn::AdaptiveMaxPool2d>(1));
    auto mlp = std::make_shared<nn::Sequential>();
    mlp->push_back(std::make_shared<nn::Conv2d>(channels, channels / reduction, 1, 1, 0, 1, 1, false));
    mlp->push_back(nn::make_activation("relu"));
    mlp->push_back(std::make_shared<nn::Conv2d>(channels / reduction, channels, 1, 1, 0, 1, 1, false));
    fc = register_module("fc", mlp);
    sigmoid = register_module("sigmoid", nn::make_activation("sigmoid"));
  }
  Tensor forward(const Tensor& x) override {
    Tensor avg = (*fc)((*avg_pool)(x));
    Tensor mx = (*fc)((*max_pool)(x));
    return (*sigmoid)(fn::add(avg, mx));
  }

 private:
  nn::ModulePtr avg_pool, max_pool, fc, sigmoid;
};

// CBAM's spatial attention: a 7x7 conv over the channel mean and max, sigmoid.
class SpatialAttention : public nn::Module {
 public:
  SpatialAttention() : Module("SpatialAttention") {
    conv = register_module("conv", std::make_shared<nn::Conv2d>(2, 1, 7, 1, 3, 1, 1, false));
    sigmoid = register_module("sigmoid", nn::make_activation("sigmoid"));
  }
  Tensor forward(const Tensor& x) override {
    Tensor pooled = fn::cat({fn::mean(x, {1}, true), fn::amax(x, {1}, true)}, 1);
    return (*sigmoid)((*conv)(pooled));
  }

 private:
  nn::ModulePtr conv, sigmoid;
};

class CBAM : public nn::Module {
 public:
  explicit CBAM(int64_t channels) : Module("CBAM") {
    channel_attention = register_module("channel_attention", std::make_shared<ChannelAttention>(channels));
    spatial_attention = register_module("spatial_attention", std::make_shared<SpatialAttention>());
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = fn::mul(x, (*channel_attention)(x));
    return fn::mul(y, (*spatial_attention)(y));
  }

 private:
  nn::ModulePtr channel_attention, spatial_attention;
};

// FEA's FeatureEmbedding: 1x1 conv-BN-ReLU to mid, CBAM, 3x3 conv-BN to out, CBAM.
class FeatureEmbedding : public nn::Module {
 public:
  FeatureEmbedding(int64_t in, int64_t mid, int64_t out) : Module("FeatureEmbedding") {
    auto c1 = std::make_shared<nn::Sequential>();
    c1->push_back(std::make_shared<nn::Conv2d>(in, mid, 1, 1, 0, 1, 1, false));
    c1->push_back(std::make_shared<nn::BatchNorm2d>(mid));
    c1->push_back(nn::make_activation("relu"));
    conv1 = register_module("conv1", c1);
    cbam1 = register_module("cbam1", std::make_shared<CBAM>(mid));
    auto c2 = std::make_shared<nn::Sequential>();
    c2->push_back(std::make_shared<nn::Conv2d>(mid, out, 3, 1, 1, 1, 1, false));
    c2->push_back(std::make_shared<nn::BatchNorm2d>(out));
    conv2 = register_module("conv2", c2);
    cbam2 = register_module("cbam2", std::make_shared<CBAM>(out));
  }
  Tensor forward(const Tensor& x) override { return (*cbam2)((*conv2)((*cbam1)((*conv1)(x)))); }

 private:
  nn::ModulePtr conv1, cbam1, conv2, cbam2;
};

// FEF's mid_channel.
constexpr int64_t kMidChannels = 64;

}  // namespace

// ---------------------------------------------------------------- SEKD's SegFormer

SekdSegFormer::SekdSegFormer(const std::string& backbone, int64_t num_classes, double drop_path_rate)
    : nn::SegNet("SekdSegFormer"), config_(mit_config(backbone)) {
  CUDASEG_CHECK(num_classes > 0, "SekdSegFormer: num_classes must be positive, got ", num_classes);
  CUDASEG_CHECK(drop_path_rate >= 0 && drop_path_rate < 1, "SekdSegFormer: drop_path_rate ", drop_path_rate,
                " must be in [0, 1)");
  stages_ = register_mit_stages(*this, config_, drop_path_rate);
  fuse_ = register_segformer_fuse(*this, config_.embed_dims, config_.decoder_embed_dim);
  if (drop_path_rate > 0) dropout_ = register_module("dropout", std::make_shared<nn::Dropout>(drop_path_rate, true));
  linear_pred_ = register_module("linear_pred",
                                 std::make_shared<nn::Conv2d>(config_.decoder_embed_dim, num_classes, 1));
}

SekdOutputs SekdSegFormer::compute(const Tensor& x) {
  SekdOutputs o;
  o.features = mit_forward_features(stages_, x, &o.embeds);
  Tensor y = segformer_fuse(fuse_, o.features);
  if (dropout_) y = (*dropout_)(y);
  o.logits = (*linear_pred_)(y);
  return o;
}

SekdOutputs SekdSegFormer::forward_kd(const Tensor& x) {
  return unflatten_outputs(observed_call({x}, [&] { return flatten_outputs(compute(x)); }), 4);
}

Tensor SekdSegFormer::forward(const Tensor& x) { return resize_to_input(compute(x).logits, x); }

std::vector<Tensor> SekdSegFormer::forward_train(const Tensor& x) {
  Tensor logits = compute(x).logits;
  return {resize_to_input(logits, x), logits};
}

// ---------------------------------------------------------------- FEF student

SekdStudent::SekdStudent(const std::string& backbone, int64_t num_classes, int64_t embed,
                         const std::vector<int64_t>& in_channels, const std::vector<int64_t>& out_channels,
                         double drop_path_rate)
    : nn::SegNet("FEA"), embed_(embed) {
  CUDASEG_CHECK(embed >= 0 && embed <= 5, "SEKD student: embed must be 0 (no embedding projections), 1..4 (that "
                "stage's) or 5 (all four), got ", embed);
  student = register_module("student", std::make_shared<SekdSegFormer>(backbone, num_classes, drop_path_rate));
  const auto& dims = student->config().embed_dims;
  const std::vector<int64_t> widths(dims.begin(), dims.end());
  CUDASEG_CHECK(in_channels.empty() || in_channels == widths, "SEKD student: in_channels must be ", backbone,
                "'s stage widths (or empty for them)");
  CUDASEG_CHECK(out_channels.size() == 4, "SEKD student: out_channels needs 4 widths, got ", out_channels.size());
  embeddings_ = register_module("embeddings", std::make_shared<nn::ModuleList>());
  for (int s = 0; s < 4; ++s)
    embeddings_->push_back(std::make_shared<FeatureEmbedding>(widths[static_cast<size_t>(s)], kMidChannels,
                                                              out_channels[static_cast<size_t>(s)]));
  if (embed > 0) {
    embed_projections_ = register_module("embed_projections", std::make_shared<nn::ModuleList>());
    for (int s = 0; s < 4; ++s)
      embed_projections_->push_back(
          std::make_shared<nn::Linear>(widths[static_cast<size_t>(s)], out_channels[static_cast<size_t>(s)]));
  }
}

SekdOutputs SekdStudent::compute(const Tensor& x) {
  SekdOutputs s = student->forward_kd(x);
  SekdOutputs o;
  o.logits = s.logits;
  for (size_t i = 0; i < s.features.size(); ++i) o.features.push_back((*(*embeddings_)[i])(s.features[i]));
  for (size_t i = 0; i < s.embeds.size(); ++i)
    if (embed_ == 5 || static_cast<int64_t>(i) + 1 == embed_)
      o.embeds.push_back((*(*embed_projections_)[i])(s.embeds[i]));
  return o;
}

SekdOutputs SekdStudent::forward_kd(const Tensor& x) {
  return unflatten_outputs(observed_call({x}, [&] { return flatten_outputs(compute(x)); }), 4);
}

Tensor SekdStudent::forward(const Tensor& x) { return resize_to_input(compute(x).logits, x); }

std::vector<Tensor> SekdStudent::forward_train(const Tensor& x) {
  Tensor logits = compute(x).logits;
  return {resize_to_input(logits, x), logits};
}

CUDASEG_REGISTER_NETS(sekd) {
  std::vector<nn::Json> backbones;
  for (const auto& c : mit_configs()) backbones.push_back(c.name);
  const nn::ArgSpec drop_path = {"drop_path_rate", 0.1, {},
                                 "stochastic depth (rising linearly over the blocks) and Dropout2d before linear_pred"};
  nn::NetSpec teacher;
  teacher.name = "sekd_teacher";
  teacher.summary = "SEKD's SegFormer (MiT + all-MLP decoder, KD outputs), the teacher (xl-alt/SEKD)";
  teacher.args = {{"backbone", "mit_b3", backbones, "MiT encoder variant"}, drop_path};
  teacher.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<SekdSegFormer>(a["backbone"].get<std::string>(), a["num_classes"].get<int64_t>(),
                                           a["drop_path_rate"].get<double>());
  };
  nn::register_net(std::move(teacher));

  nn::NetSpec student;
  student.name = "sekd_student";
  student.summary = "SEKD student: FEF(SegFormer MiT) with CBAM feature embeddings and embedding projections";
  student.args = {
      {"backbone", "mit_b0", backbones, "MiT encoder variant of the student"},
      {"embed", 5, {}, "embedding projections: 0 none, 1..4 that stage's, 5 all four"},
      {"in_channels", nn::Json::array(), {}, "the student's stage widths (empty: the backbone's)"},
      {"out_channels", nn::Json::array({64, 128, 320, 512}), {}, "the teacher's stage widths"},
      drop_path,
  };
  student.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<SekdStudent>(a["backbone"].get<std::string>(), a["num_classes"].get<int64_t>(),
                                         a["embed"].get<int64_t>(), a["in_channels"].get<std::vector<int64_t>>(),
                                         a["out_channels"].get<std::vector<int64_t>>(),
                                         a["drop_path_rate"].get<double>());
  };
  nn::register_net(std::move(student));
}

}  // namespace cudaseg::nets
