// InferenceSession and nn/fuse.h: folding numerics, the prepared forward
// against the plain module forward (the test net and every registered net),
// strict loading that names the net and tensors, preprocessing and predict.
#include <cmath>
#include <functional>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/testing.h"
#include "nn/fuse.h"
#include "nn/hooks.h"
#include "autograd/arith.h"
#include "autograd/engine.h"
#include "ops/ops.h"
#include "runtime/gpu.h"
#include "runtime/image_io.h"
#include "runtime/thread_pool.h"
#include "tests/infer/infer_testing.h"
#include "tests/weights/helpers.h"
#include "infer/session.h"

namespace cudaseg::infer {
namespace {

using namespace cudaseg::weights;

namespace it = cudaseg::infer_testing;
namespace ct = cudaseg::testing;
namespace wt = cudaseg::weights::testing;

Tensor det_input(const Shape& shape, uint64_t seed) { return nn::det_uniform("input", shape, -1.0, 1.0, seed); }

Tensor plain_forward(nn::Module& net, const Tensor& x) {
  autograd::NoGradGuard no_grad;
  return net(x);
}

TEST(Fuse, FoldsBatchNormIntoConvolutionExactly) {
  auto seq = it::conv_bn_act(3, 4, 3, 1, false, nullptr);
  it::fill_det(*seq, 11);
  seq->eval();
  auto* conv = dynamic_cast<nn::Conv2d*>((*seq)[0].get());
  auto* bn = dynamic_cast<nn::BatchNorm2d*>((*seq)[1].get());
  const std::vector<double> w = conv->weight.to_vector(), g = bn->weight.to_vector(), b = bn->bias.to_vector(),
                            m = bn->running_mean.to_vector(), v = bn->running_var.to_vector();
  const auto keys_before = seq->state_dict();

  const nn::FuseReport report = nn::fuse_for_inference(*seq);
  EXPECT_EQ(report.folded_batchnorms, 1);
  EXPECT_TRUE(bn->bypassed());
  ASSERT_TRUE(conv->bias.defined());
  const std::vector<double> w2 = conv->weight.to_vector(), b2 = conv->bias.to_vector();
  for (int64_t c = 0; c < 4; ++c) {
    const double s = g[c] / std::sqrt(v[c] + 1e-5);
    EXPECT_EQ(static_cast<float>(b2[c]), static_cast<float>(-m[c] * s + b[c])) << c;
    for (int64_t i = 0; i < 27; ++i)
      EXPECT_EQ(static_cast<float>(w2[c * 27 + i]), static_cast<float>(w[c * 27 + i] * s)) << c << "," << i;
  }
  // The checkpoint keys stay as they were: the new bias is a non-persistent buffer.
  ASSERT_EQ(seq->state_dict().size(), keys_before.size());
  for (size_t i = 0; i < keys_before.size(); ++i) EXPECT_EQ(seq->state_dict()[i].first, keys_before[i].first);
  EXPECT_EQ(nn::fuse_for_inference(*seq).folded_batchnorms, 0);  // idempotent
}

// A BatchNorm after a grouped transposed convolution folds into its weight
// [in, out/groups, kh, kw] per output channel; the ReLU after it stays a layer
// (transposed convolutions take no epilogue). Same logits as unfolded.
TEST(Fuse, FoldsBatchNormIntoGroupedTransposedConvolution) {
  nn::ConvTranspose2dOptions o;
  o.kernel_size = {3, 3};
  o.stride = {2, 2};
  o.padding = {1, 1};
  o.output_padding = {1, 1};
  o.groups = 2;
  o.bias = false;
  auto seq = std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
      std::make_shared<nn::ConvTranspose2d>(4, 6, o), std::make_shared<nn::BatchNorm2d>(6),
      std::make_shared<nn::Activation>(nn::ActKind::relu)});
  it::fill_det(*seq, 12);
  seq->eval();
  const Tensor x = det_input({2, 4, 5, 7}, 3);
  const Tensor want = plain_forward(*seq, x);
  const nn::FuseReport report = nn::fuse_for_inference(*seq);
  EXPECT_EQ(report.folded_batchnorms, 1);
  EXPECT_EQ(report.fused_activations, 0);
  EXPECT_TRUE((*seq)[1]->bypassed());
  EXPECT_FALSE((*seq)[2]->bypassed());
  const Tensor got = plain_forward(*seq, x);
  ASSERT_EQ(got.shape(), want.shape());
  EXPECT_LE(ct::rel_l2(got, want), 1e-6);
}

// relu/relu6 fused into the convolution's store clamp like the activation
// module and let NaN through as torch does (a comparison-based clamp, not
// fmin/fmax).
TEST(Fuse, FusedReluClampsAndKeepsNaN) {
  for (const char* kind : {"relu", "relu6"}) {
    SCOPED_TRACE(kind);
    auto plain = it::conv_bn_act(2, 3, 3, 1, true, nn::make_activation(kind));
    auto fused = it::conv_bn_act(2, 3, 3, 1, true, nn::make_activation(kind));
    it::fill_det(*plain, 12);
    it::fill_det(*fused, 12);
    plain->eval();
    fused->eval();
    ASSERT_EQ(nn::fuse_for_inference(*fused).fused_activations, 1);
    Tensor x = ops::mul(det_input({1, 2, 9, 7}, 13), 20.0).contiguous();  // outputs well past 6 and below 0
    x.data<float>()[10] = NAN;
    const Tensor want = plain_forward(*plain, x), got = plain_forward(*fused, x);
    const std::vector<double> w = want.to_vector(), g = got.to_vector();
    int64_t nans = 0, clamped = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      ASSERT_EQ(std::isnan(w[i]), std::isnan(g[i])) << i;
      if (std::isnan(w[i])) {
        ++nans;
        continue;
      }
      clamped += g[i] == 0.0 || g[i] == 6.0;
      EXPECT_NEAR(g[i], w[i], 1e-4) << i;
    }
    EXPECT_GT(nans, 0);
    EXPECT_GT(clamped, 0);
  }
}

// In a Sequential, the activation straight after a Conv2d (no BatchNorm)
// joins it: relu and PReLU in the convolution's store, sigmoid as its
// epilogue; leaky_relu (an argument) stays a layer. Same output as unfused,
// and with a gradient wanted the fused convolution goes through autograd.
TEST(Fuse, ActivationAfterAConvWithoutBatchNormJoinsIt) {
  auto build = [] {
    return std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
        std::make_shared<nn::Conv2d>(3, 8, 3, 1, 1), nn::make_activation("relu"),
        std::make_shared<nn::Conv2d>(8, 8, 3, 1, 2, 2), std::make_shared<nn::PReLU>(8),
        std::make_shared<nn::Conv2d>(8, 8, 1), nn::make_activation("sigmoid"),
        std::make_shared<nn::Conv2d>(8, 4, 3, 1, 1), nn::make_activation("leaky_relu")});
  };
  auto plain = build(), fused = build();
  it::fill_det(*plain, 31);
  it::fill_det(*fused, 31);
  plain->eval();
  fused->eval();
  const nn::FuseReport report = nn::fuse_for_inference(*fused);
  EXPECT_EQ(report.folded_batchnorms, 0);
  EXPECT_EQ(report.fused_activations, 3);
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_NE(report.skipped[0].find("7: activation with arguments stays separate"), std::string::npos)
      << report.skipped[0];
  for (size_t i : {1, 3, 5}) EXPECT_TRUE((*fused)[i]->bypassed()) << i;
  EXPECT_FALSE((*fused)[7]->bypassed());
  auto* conv0 = dynamic_cast<nn::Conv2d*>((*fused)[0].get());
  auto* conv1 = dynamic_cast<nn::Conv2d*>((*fused)[2].get());
  ASSERT_TRUE(conv0->act && conv1->act && conv1->act->slope.defined());
  EXPECT_EQ(conv0->act->lo, 0.0);
  EXPECT_TRUE(dynamic_cast<nn::Conv2d*>((*fused)[4].get())->epilogue);

  Tensor x = ops::mul(det_input({2, 3, 11, 13}, 5), 4.0).contiguous();
  EXPECT_LE(ct::rel_l2(plain_forward(*fused, x), plain_forward(*plain, x)), 1e-6);

  x.set_requires_grad(true);
  Tensor xp = x.detach();
  xp.set_requires_grad(true);
  autograd::backward(fn::sum((*fused)(x)));
  const Tensor gx_fused = x.grad();
  autograd::backward(fn::sum((*plain)(xp)));
  ASSERT_TRUE(gx_fused.defined());
  EXPECT_LE(ct::rel_l2(gx_fused, xp.grad()), 1e-6);
}

// A PReLU after a folded BatchNorm, one slope or one per channel, joins the
// convolution's store.
TEST(Fuse, PReLUAfterBatchNormJoinsTheConvolution) {
  for (int64_t slopes : {1, 6}) {
    SCOPED_TRACE(slopes);
    auto plain = it::conv_bn_act(4, 6, 3, 1, false, std::make_shared<nn::PReLU>(slopes));
    auto fused = it::conv_bn_act(4, 6, 3, 1, false, std::make_shared<nn::PReLU>(slopes));
    it::fill_det(*plain, 17);
    it::fill_det(*fused, 17);
    plain->eval();
    fused->eval();
    const nn::FuseReport report = nn::fuse_for_inference(*fused);
    EXPECT_EQ(report.folded_batchnorms, 1);
    EXPECT_EQ(report.fused_activations, 1);
    EXPECT_TRUE((*fused)[2]->bypassed());
    const Tensor x = det_input({1, 4, 9, 21}, 8);
    EXPECT_LE(ct::rel_l2(plain_forward(*fused, x), plain_forward(*plain, x)), 1e-6);
  }
}

// GELU (erf form) after a Conv2d, or after a folded BatchNorm, is applied
// by the convolution as it stores: the convolution carries it as `act`, not
// as an epilogue, and the fused forward gives the unfused one's bits where no
// BatchNorm was folded.
TEST(Fuse, GeluJoinsTheConvolutionStore) {
  auto build = [] {
    auto seq = std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
        std::make_shared<nn::Conv2d>(3, 8, 3, 1, 1), nn::make_activation("gelu"),
        std::make_shared<nn::Conv2d>(8, 8, 3, 1, 1, 1, 8, true), nn::make_activation("gelu")});
    return seq;
  };
  auto plain = build(), fused = build();
  it::fill_det(*plain, 41);
  it::fill_det(*fused, 41);
  plain->eval();
  fused->eval();
  EXPECT_EQ(nn::fuse_for_inference(*fused).fused_activations, 2);
  for (size_t i : {0, 2}) {
    auto* conv = dynamic_cast<nn::Conv2d*>((*fused)[i].get());
    ASSERT_TRUE(conv->act) << i;
    EXPECT_TRUE(conv->act->gelu) << i;
    EXPECT_FALSE(conv->epilogue) << i;
  }
  const Tensor x = ops::mul(det_input({2, 3, 11, 37}, 5), 3.0).contiguous();
  const Tensor got = plain_forward(*fused, x), want = plain_forward(*plain, x);
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < got.numel(); ++i) ASSERT_EQ(got.data<float>()[i], want.data<float>()[i]) << i;

  auto plain_bn = it::conv_bn_act(4, 6, 3, 1, false, nn::make_activation("gelu"));
  auto fused_bn = it::conv_bn_act(4, 6, 3, 1, false, nn::make_activation("gelu"));
  it::fill_det(*plain_bn, 17);
  it::fill_det(*fused_bn, 17);
  plain_bn->eval();
  fused_bn->eval();
  const nn::FuseReport report = nn::fuse_for_inference(*fused_bn);
  EXPECT_EQ(report.folded_batchnorms, 1);
  EXPECT_EQ(report.fused_activations, 1);
  ASSERT_TRUE(dynamic_cast<nn::Conv2d*>((*fused_bn)[0].get())->act);
  const Tensor y = det_input({1, 4, 9, 21}, 8);
  EXPECT_LE(ct::rel_l2(plain_forward(*fused_bn, y), plain_forward(*plain_bn, y)), 1e-6);
}

// One activation module applied after two conv -> BatchNorm runs (as
// EfficientFormerV2's Mlp applies its GELU), both chains naming it: it joins
// both convolutions. When one of them cannot take it (its BatchNorm uses
// batch statistics), it joins neither and stays a layer.
TEST(Fuse, AnActivationNamedByTwoChainsJoinsBothOrNeither) {
  struct Shared : nn::Module {
    explicit Shared(bool second_tracks) : nn::Module("Shared") {
      a = register_module("a", std::make_shared<nn::Conv2d>(3, 6, 1, 1, 0, 1, 1, false));
      bn_a = register_module("bn_a", std::make_shared<nn::BatchNorm2d>(6));
      b = register_module("b", std::make_shared<nn::Conv2d>(6, 6, 3, 1, 1, 1, 6, false));
      bn_b = register_module("bn_b", std::make_shared<nn::BatchNorm2d>(6, 1e-5, 0.1, true, second_tracks));
      act = register_module("act", nn::make_activation("gelu"));
    }
    Tensor forward(const Tensor& x) override { return (*act)((*bn_b)((*b)((*act)((*bn_a)((*a)(x)))))); }
    std::vector<nn::FusableChain> fusable_chains() const override { return {{a, bn_a, act}, {b, bn_b, act}}; }
    nn::ModulePtr a, bn_a, b, bn_b, act;
  };
  for (const bool second_tracks : {true, false}) {
    SCOPED_TRACE(second_tracks);
    Shared plain(second_tracks), fused(second_tracks);
    it::fill_det(plain, 5);
    it::fill_det(fused, 5);
    plain.eval();
    fused.eval();
    const nn::FuseReport report = nn::fuse_for_inference(fused);
    EXPECT_EQ(report.fused_activations, second_tracks ? 2 : 0);
    EXPECT_EQ(fused.act->bypassed(), second_tracks);
    EXPECT_EQ(static_cast<bool>(dynamic_cast<nn::Conv2d&>(*fused.a).act), second_tracks);
    if (!second_tracks) {
      ASSERT_EQ(report.skipped.size(), 2u);
      EXPECT_NE(report.skipped[1].find("act: applied after 2 convolutions, of which only 1 can take it"),
                std::string::npos)
          << report.skipped[1];
    }
    const Tensor x = det_input({2, 3, 10, 19}, 9);
    EXPECT_LE(ct::rel_l2(plain_forward(fused, x), plain_forward(plain, x)), 1e-6);
  }
}

TEST(Fuse, RefusesTrainingModeAndMisdeclaredChains) {
  auto seq = it::conv_bn_act(3, 4, 3, 1, false, nullptr);
  EXPECT_TRUE(ct::throws_mentioning([&] { nn::fuse_for_inference(*seq); }, {"1", "training mode", "eval()"}));

  struct Wrong : nn::Module {
    Wrong() : nn::Module("Wrong") {
      a = register_module("a", std::make_shared<nn::Conv2d>(3, 4, 1));
      b = register_module("b", std::make_shared<nn::Conv2d>(4, 4, 1));
    }
    std::vector<nn::FusableChain> fusable_chains() const override { return {{a, b, nullptr}}; }
    nn::ModulePtr a, b;
  } wrong;
  wrong.eval();
  EXPECT_TRUE(ct::throws_mentioning([&] { nn::fuse_for_inference(wrong); },
                                    {"a -> b", "not Conv2d or ConvTranspose2d -> BatchNorm2d", "Conv2d -> Conv2d"}));
}

TEST(Fuse, PreparedTestNetEqualsPlainForward) {
  const auto model = it::test_model();
  nn::ModulePtr plain = it::make_net(model, 3), fused = it::make_net(model, 3);
  const Tensor x = det_input({2, 3, 20, 18}, 5);
  const Tensor want = plain_forward(*plain, x);
  const nn::FuseReport report = nn::fuse_for_inference(*fused);
  EXPECT_EQ(report.folded_batchnorms, 5);
  EXPECT_EQ(report.fused_activations, 3);  // stem relu, block relu6, plain silu
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_NE(report.skipped[0].find("mix.2"), std::string::npos) << report.skipped[0];
  auto* block = dynamic_cast<it::ResidualBlock*>(dynamic_cast<it::TestNet&>(*fused).block.get());
  EXPECT_FALSE(block->relu->bypassed());  // after the residual sum: not part of a chain
  const Tensor got = plain_forward(*fused, x);
  EXPECT_LE(ct::rel_l2(got, want), 1e-5);
  EXPECT_GT(ct::rel_l2(plain_forward(*fused, det_input({2, 3, 20, 18}, 6)), want), 0.05);
}

// Every net in the registry (the built-in ones once they land, and the test
// net), prepared, against its plain forward on a small input.
TEST(Fuse, EveryRegisteredNetPreparedEqualsPlain) {
  it::register_test_net();
  const auto names = nn::registered_nets();
  ASSERT_FALSE(names.empty());
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    // 8 classes: ESPNet's decoder splits num_classes over 5 branches (upstream fails below 5).
    const nn::Json model = {{"name", name}, {"num_classes", 8}};
    nn::ModulePtr plain = it::make_net(model, 1);
    const Tensor x = det_input({1, 3, 64, 64}, 2);
    const Tensor want = plain_forward(*plain, x);
    InferenceSession s = InferenceSession::from_net(it::make_net(model, 1), it::info_of(model));
    const Tensor got = s.logits(x);
    EXPECT_EQ(got.shape(), want.shape());
    EXPECT_LE(ct::rel_l2(got, want.to(DType::f32)), 1e-5) << "folded " << s.fuse_report().folded_batchnorms;
  }
}

TEST(Hooks, RecorderSeesChildrenCalledThroughOperator) {
  nn::ModulePtr net = it::make_net(it::test_model(), 3);
  nn::LayerRecorder rec(*net, {"block.conv_a"});
  {
    nn::ForwardHookGuard guard(&rec);
    plain_forward(*net, det_input({1, 3, 8, 6}, 1));
  }
  std::vector<std::string> names;
  for (const auto& r : rec.records()) names.push_back(r.name);
  const std::vector<std::string> want = {"stem.0", "stem.1", "stem.2", "stem", "block.conv_a", "block.bn_a",
                                         "block.act_a", "block.conv_b", "block.bn_b", "block.relu", "block",
                                         "mix.0", "mix.1", "mix.2", "mix", "plain.0", "plain.1", "plain.2",
                                         "plain", "head"};
  EXPECT_EQ(names, want);
  ASSERT_TRUE(rec.captured().count("block.conv_a"));
  EXPECT_EQ(rec.captured().at("block.conv_a").shape(), (Shape{1, 8, 4, 3}));
  EXPECT_EQ(rec.records()[0].outputs[0].shape, (Shape{1, 8, 4, 3}));
  const nn::TensorStats st = nn::tensor_stats(rec.captured().at("block.conv_a"));
  EXPECT_DOUBLE_EQ(st.sum, rec.records()[4].outputs[0].sum);
  EXPECT_GT(st.sq_sum, 0.0);
}

TEST(Session, LoadsCheckpointAndMatchesPlainForward) {
  wt::TempDir dir;
  const auto model = it::test_model();
  save_checkpoint(dir.file("m.json"), it::make_checkpoint(model, 7));
  InferenceSession s = InferenceSession::load(dir.file("m"));
  EXPECT_EQ(s.num_classes(), 5);
  EXPECT_EQ(s.fuse_report().folded_batchnorms, 5);
  EXPECT_EQ(s.info().class_names.size(), 5u);
  nn::ModulePtr plain = it::make_net(model, 7);
  const Tensor x = det_input({2, 3, 16, 12}, 9);
  EXPECT_LE(ct::rel_l2(s.logits(x), plain_forward(*plain, x)), 1e-5);
}

TEST(Session, WrongNetCheckpointNamesNetAndTensors) {
  wt::TempDir dir;
  Checkpoint ck = it::make_checkpoint(it::test_model(8), 7);
  ck.model_json = it::test_model(6).dump();
  save_checkpoint(dir.file("wide.json"), ck);
  EXPECT_TRUE(ct::throws_mentioning([&] { InferenceSession::load(dir.file("wide")); },
                                    {"net 'infer_test_net'", "\"width\":6", "wide", "mis-shaped",
                                     "stem.0.weight: expected float32[6, 3, 3, 3], found float32[8, 3, 3, 3]"}));

  Checkpoint partial = it::make_checkpoint(it::test_model(), 7);
  TensorDict kept;
  for (const auto& [name, t] : partial.tensors)
    if (name != "block.bn_b.running_var") kept.insert(name, t);
  kept.insert("extra.weight", Tensor::ones({2}));
  partial.tensors = kept;
  save_checkpoint(dir.file("partial.json"), partial);
  EXPECT_TRUE(ct::throws_mentioning([&] { InferenceSession::load(dir.file("partial")); },
                                    {"infer_test_net", "1 missing", "block.bn_b.running_var", "extra.weight"}));

  Checkpoint unknown = it::make_checkpoint(it::test_model(), 7);
  unknown.model_json = R"({"name": "no_such_net", "num_classes": 5})";
  save_checkpoint(dir.file("unknown.json"), unknown);
  EXPECT_TRUE(ct::throws_mentioning([&] { InferenceSession::load(dir.file("unknown")); },
                                    {"unknown net 'no_such_net'", "infer_test_net"}));
}

TEST(Session, HalfCheckpointLoadsIntoFloatNet) {
  wt::TempDir dir;
  Checkpoint ck = it::make_checkpoint(it::test_model(), 7);
  ck.tensors = to_half(ck.tensors);
  save_checkpoint(dir.file("h.json"), ck);
  InferenceSession s = InferenceSession::load(dir.file("h"));
  EXPECT_EQ(s.net().state_dict()[0].second.dtype(), DType::f32);
}

TEST(Session, PrecisionAndDeviceChecks) {
  const auto model = it::test_model();
  SessionOptions half;
  half.precision = Precision::fp16;
  EXPECT_TRUE(ct::throws_mentioning([&] { InferenceSession::from_net(it::make_net(model, 1), it::info_of(model), half); },
                                    {"fp16 needs a CUDA device"}));
  EXPECT_EQ(parse_precision("bfloat16"), Precision::bf16);
  EXPECT_TRUE(ct::throws_mentioning([] { parse_precision("int8"); }, {"int8", "fp32, fp16, bf16"}));
  if (gpu::device_count() == 0) {
    SessionOptions cuda;
    cuda.device = Device::cuda(0);
    EXPECT_THROW(InferenceSession::from_net(it::make_net(model, 1), it::info_of(model), cuda), Error);
  }
}

// predict = preprocess (x * scale - mean) / std, resize, net, bilinear resize
// of the logits back to the image (align_corners false), argmax.
Tensor reference_predict(nn::Module& net, const Tensor& image, const Preprocess& p, std::array<int64_t, 2> size) {
  const int64_t h = image.size(0), w = image.size(1);
  Tensor x = Tensor::empty({1, 3, h, w}, DType::f64);
  const std::vector<double> px = image.to_vector();
  std::vector<double> v(3 * h * w);
  for (int64_t c = 0; c < 3; ++c) {
    const int64_t from = p.channel_order == "BGR" ? 2 - c : c;
    for (int64_t i = 0; i < h * w; ++i) v[c * h * w + i] = (px[i * 3 + from] * p.scale - p.mean[c]) / p.std[c];
  }
  x = Tensor::from_vector(v, {1, 3, h, w});
  if (size[0] != h || size[1] != w) x = ops::upsample_bilinear2d(x, size, false);
  Tensor y = plain_forward(net, x);
  y = ops::upsample_bilinear2d(y, {h, w}, false);
  return ops::argmax(y, 1).reshape({h, w});
}

TEST(Session, PredictFollowsPreprocessAndResizesBack) {
  const auto model = it::test_model();
  const Checkpoint ck = it::make_checkpoint(model, 7);
  const Tensor image = read_image(it::image_fixture("gradient_13x7.png"));
  ASSERT_EQ(image.shape(), (Shape{7, 13, 3}));
  nn::ModulePtr plain = it::make_net(model, 7);
  for (const std::string order : {"RGB", "BGR"}) {
    ModelInfo info{ck.model_json, ck.preprocess, ck.class_names, ck.palette};
    info.preprocess.channel_order = order;
    SessionOptions keep, fixed;
    fixed.size_policy = SizePolicy::fixed;
    fixed.input_size = {16, 24};
    for (const SessionOptions& o : {keep, fixed}) {
      InferenceSession s = InferenceSession::from_net(it::make_net(model, 7), info, o);
      const Tensor labels = s.predict(image);
      EXPECT_EQ(labels.dtype(), DType::i64);
      const auto size = s.input_size_for(7, 13);
      const Tensor want = reference_predict(*plain, image, info.preprocess, size);
      EXPECT_EQ(labels.to_vector(), want.to_vector()) << order << " " << size[0] << "x" << size[1];
      std::set<double> classes;
      for (double c : labels.to_vector()) classes.insert(c);
      EXPECT_GE(classes.size(), 2u) << "a constant label map tests nothing";
    }
  }
}

TEST(Session, SizePolicies) {
  const auto model = it::test_model();
  ModelInfo info = it::info_of(model);
  info.preprocess.input_size = {32, 48};
  SessionOptions o;
  EXPECT_EQ((InferenceSession::from_net(it::make_net(model, 1), info, o).input_size_for(7, 13)),
            (std::array<int64_t, 2>{32, 48}));
  o.size_policy = SizePolicy::keep;
  EXPECT_EQ((InferenceSession::from_net(it::make_net(model, 1), info, o).input_size_for(7, 13)),
            (std::array<int64_t, 2>{7, 13}));
  info.preprocess.input_size = {};
  o.size_policy = SizePolicy::checkpoint;
  EXPECT_EQ((InferenceSession::from_net(it::make_net(model, 1), info, o).input_size_for(7, 13)),
            (std::array<int64_t, 2>{7, 13}));
}

TEST(Session, PredictBatchEqualsSinglePredicts) {
  const auto model = it::test_model();
  InferenceSession s = InferenceSession::from_net(it::make_net(model, 2), it::info_of(model));
  const Tensor a = read_image(it::image_fixture("gradient_13x7.png"));
  std::vector<double> inverted = a.to_vector();
  for (double& v : inverted) v = 255 - v;
  const std::vector<Tensor> images = {a, a.slice(0, 1, 6).contiguous(), Tensor::from_vector(inverted, a.shape(), DType::u8),
                                      a.slice(1, 2, 11)};
  const std::vector<Tensor> batch = s.predict_batch(images);
  ASSERT_EQ(batch.size(), images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    EXPECT_EQ(batch[i].shape(), (Shape{images[i].size(0), images[i].size(1)})) << i;
    EXPECT_EQ(batch[i].to_vector(), s.predict(images[i]).to_vector()) << i;
  }
  EXPECT_NE(batch[0].to_vector(), batch[2].to_vector());
  EXPECT_TRUE(ct::throws_mentioning([&] { s.predict(Tensor::zeros({4, 4, 3})); }, {"u8", "[H, W, 3]"}));
}

// SessionOptions::tf32 is the calling thread's TF32 setting during each
// forward (what cuBLAS and cuDNN read on CUDA), and the thread's own setting
// comes back afterwards.
TEST(Session, Tf32OptionHoldsDuringTheForwardAndIsRestored) {
  const it::json model = {{"name", "tf32_probe_net"}, {"num_classes", 2}};
  const Tensor x = det_input({1, 3, 4, 5}, 3);
  for (const bool option : {true, false}) {
    for (const bool outside : {false, true}) {
      SessionOptions o;
      o.tf32 = option;
      InferenceSession s = InferenceSession::from_net(std::make_shared<it::Tf32Probe>(2), it::info_of(model), o);
      it::Tf32Probe::seen().clear();
      set_allow_tf32(outside);
      s.logits(x);
      s.predict(Tensor::zeros({6, 7, 3}, DType::u8));
      EXPECT_EQ(allow_tf32(), outside);
      set_allow_tf32(false);
      ASSERT_EQ(it::Tf32Probe::seen().size(), 2u);
      for (bool seen : it::Tf32Probe::seen()) EXPECT_EQ(seen, option) << "outside " << outside;
    }
  }
}

// Issue 23: a moved-from session segfaulted in predict() and net().
TEST(Session, MovedFromSessionThrowsAClearError) {
  const it::json model = it::test_model();
  InferenceSession a = InferenceSession::from_net(it::make_net(model, 1), it::info_of(model));
  InferenceSession b = std::move(a);
  const Tensor image = Tensor::zeros({6, 7, 3}, DType::u8);
  EXPECT_EQ(b.predict(image).shape(), (Shape{6, 7}));
  for (const auto& use : std::vector<std::function<void()>>{
           [&] { a.predict(image); }, [&] { a.net(); }, [&] { a.net_ptr(); }, [&] { a.last_forward(); },
           [&] { a.logits(det_input({1, 3, 4, 4}, 1)); }, [&] { a.predict_batch({image, image}); }})
    EXPECT_TRUE(ct::throws_mentioning(use, {"InferenceSession::", "moved from"}));
}

// A net that records the thread cap its forward runs under.
class ThreadProbe : public nn::SegNet {
 public:
  ThreadProbe() : nn::SegNet("ThreadProbe") { head = register_module("head", std::make_shared<nn::Conv2d>(3, 2, 1)); }
  Tensor forward(const Tensor& x) override {
    seen = thread_limit();
    return fn::relu((*head)(x));
  }
  std::shared_ptr<nn::Conv2d> head;
  int seen = -1;
};

TEST(Session, NumThreadsCapsTheForwardOnly) {
  const it::json model = {{"name", "thread_probe"}, {"num_classes", 2}};
  for (const int threads : {0, 1, 3}) {
    auto probe = std::make_shared<ThreadProbe>();
    SessionOptions o;
    o.num_threads = threads;
    o.fuse = false;
    InferenceSession s = InferenceSession::from_net(probe, it::info_of(model), o);
    s.predict(Tensor::zeros({6, 7, 3}, DType::u8));
    EXPECT_EQ(probe->seen, threads);
    EXPECT_EQ(thread_limit(), 0);
  }
  SessionOptions bad;
  bad.num_threads = -2;
  EXPECT_THROW(InferenceSession::from_net(std::make_shared<ThreadProbe>(), it::info_of(model), bad), Error);
}

// Issue 23: threads sharing a session raced in ForwardRunner::shape_for (a
// std::map insert per new size) or failed with "PlanScope ... already in
// use". Calls now serialise their forwards: every call succeeds with the
// labels a lone call gives, whatever size each thread runs.
TEST(Session, ThreadsSharingASessionWithDifferentSizes) {
  const it::json model = it::test_model();
  InferenceSession reference = InferenceSession::from_net(it::make_net(model, 4), it::info_of(model));
  InferenceSession shared = InferenceSession::from_net(it::make_net(model, 4), it::info_of(model));
  constexpr int kThreads = 4, kSizes = 3;
  std::vector<std::vector<Tensor>> images(kThreads), expected(kThreads);
  for (int t = 0; t < kThreads; ++t)
    for (int k = 0; k < kSizes; ++k) {
      images[t].push_back(it::photo(6 + 2 * t + 7 * k, 8 + 5 * t + 3 * k));
      expected[t].push_back(reference.predict(images[t].back()));
    }
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 8; ++round)
        for (int k = 0; k < kSizes; ++k) {
          try {
            if (shared.predict(images[t][k]).to_vector() != expected[t][k].to_vector()) ++failures[t];
          } catch (const Error&) {
            ++failures[t];
          }
        }
    });
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace cudaseg::infer
