// FastSegFormer's backbones beyond the variants its goldens run:
// EfficientFormerV2 S0/S1/S2/L and PoolFormer S12/S24/S36/M36/M48 against
// the parameter and state_dict entry counts of upstream's *_feat models
// (caixiongjiang/FastSegFormer 8f673e0, counted with torch 1.13), their
// feature pyramids, and the layer-scale init of the deeper PoolFormers.
#include <gtest/gtest.h>

#include "autograd/engine.h"
#include "common/testing.h"
#include "nets/efficientformer_v2.h"
#include "nets/poolformer.h"

using namespace cudaseg;

namespace {

int64_t num_parameters(const nn::Module& m) {
  int64_t n = 0;
  for (const auto& [name, p] : m.named_parameters()) n += p.numel();
  return n;
}

}  // namespace

TEST(FastSegFormerBackbones, EfficientFormerV2VariantsMatchUpstreamCounts) {
  const struct {
    const char* name;
    int64_t params, entries;
  } want[] = {{"s0", 3246608, 584}, {"s1", 5735960, 738}, {"s2", 12132592, 1074}, {"l", 25552912, 1410}};
  for (const auto& w : want) {
    SCOPED_TRACE(w.name);
    nets::EfficientFormerV2 net(nets::efficientformerv2_config(w.name));
    EXPECT_EQ(num_parameters(net), w.params);
    EXPECT_EQ(static_cast<int64_t>(net.state_dict().size()), w.entries);
  }
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([] { nets::efficientformerv2_config("s3"); },
                                                  {"EfficientFormerV2", "s3", "s0, s1, s2, l"}));
}

TEST(FastSegFormerBackbones, PoolFormerVariantsMatchUpstreamCounts) {
  const struct {
    const char* name;
    int64_t params, entries;
    double layer_scale;
  } want[] = {{"s12", 11403200, 136, 1e-5},
              {"s24", 20876992, 256, 1e-5},
              {"s36", 30350784, 376, 1e-6},
              {"m36", 55404864, 376, 1e-6},
              {"m48", 72705792, 496, 1e-6}};
  for (const auto& w : want) {
    SCOPED_TRACE(w.name);
    nets::PoolFormer net(nets::poolformer_config(w.name));
    EXPECT_EQ(num_parameters(net), w.params);
    EXPECT_EQ(static_cast<int64_t>(net.state_dict().size()), w.entries);
    EXPECT_EQ(net.get("network.0.0.layer_scale_1").to_vector()[0], static_cast<float>(w.layer_scale));
  }
}

TEST(FastSegFormerBackbones, FeaturePyramids) {
  autograd::NoGradGuard no_grad;
  nets::EfficientFormerV2 e(nets::efficientformerv2_config("s0"));
  e.eval();
  std::vector<Shape> shapes;
  for (const Tensor& f : e.forward_features(Tensor::zeros({1, 3, 224, 224}))) shapes.push_back(f.shape());
  EXPECT_EQ(shapes, (std::vector<Shape>{{1, 32, 56, 56}, {1, 48, 28, 28}, {1, 96, 14, 14}, {1, 176, 7, 7}}));
  nets::PoolFormer p(nets::poolformer_config("s12"));
  p.eval();
  shapes.clear();
  for (const Tensor& f : p.forward_features(Tensor::zeros({1, 3, 64, 96}))) shapes.push_back(f.shape());
  EXPECT_EQ(shapes, (std::vector<Shape>{{1, 64, 16, 24}, {1, 128, 8, 12}, {1, 320, 4, 6}, {1, 512, 2, 3}}));
}
