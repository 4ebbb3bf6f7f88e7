// Forward hooks on the real nets: every module a net calls reports to the
// hooks, whatever its forward's signature (SegFormer's blocks take (x, H, W),
// PP-LiteSeg's UAFM two maps, ENet's bottlenecks return pooling indices), so
// layer dumps line up with PyTorch's forward hooks on the upstream modules,
// and per-layer timing and MAC counts reach them.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "common/testing.h"
#include "nn/hooks.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nn/segnet.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;

namespace {

using Json = nn::Json;

// mit_b0 with a narrow decoder; 64x64 gives stage grids 16, 8, 4, 2 and a 2x2
// reduced grid for every stage's keys and values.
const Json kSegFormer = {{"name", "segformer"}, {"backbone", "mit_b0"}, {"num_classes", 4}, {"embed_dim", 32}};

std::shared_ptr<nn::SegNet> build(const Json& model) {
  nn::manual_seed(5);
  auto net = std::dynamic_pointer_cast<nn::SegNet>(nn::create_net(model));
  net->eval();
  return net;
}

std::vector<Tensor> run_train_outputs(nn::SegNet& net, nn::ForwardHook& hook, int64_t size = 64) {
  autograd::NoGradGuard no_grad;
  const Tensor x = ct::randn({1, 3, size, size}, 3, DType::f32);
  nn::ForwardHookGuard guard(&hook);
  return net.forward_train(x);
}

std::map<std::string, const nn::LayerRecord*> first_records(const nn::LayerRecorder& rec) {
  std::map<std::string, const nn::LayerRecord*> out;
  for (const auto& r : rec.records()) out.emplace(r.name, &r);
  return out;
}

std::vector<Shape> shapes(const nn::LayerRecord& r) {
  std::vector<Shape> out;
  for (const auto& o : r.outputs) out.push_back(o.shape);
  return out;
}

}  // namespace

// "NAME#K" captures the K-th of a module's outputs: the backbone's third
// feature map (rtseg_infer --dump-layer backbone#2).
TEST(Hooks, CapturesTheKthOutputOfAModuleReturningSeveral) {
  auto net = build(kSegFormer);
  nn::LayerRecorder rec(*net, {"backbone#2"});
  run_train_outputs(*net, rec);
  const auto by_name = first_records(rec);
  ASSERT_TRUE(rec.captured().count("backbone#2"));
  EXPECT_FALSE(rec.captured().count("backbone"));
  ASSERT_EQ(by_name.at("backbone")->outputs.size(), 4u);
  EXPECT_EQ(rec.captured().at("backbone#2").shape(), by_name.at("backbone")->outputs[2].shape);
  EXPECT_EQ(nn::tensor_stats(rec.captured().at("backbone#2")).sum, by_name.at("backbone")->outputs[2].sum);
}

TEST(Hooks, SegFormerBlocksAndStagesAreRecordedWithTheirOutputs) {
  auto net = build(kSegFormer);
  nn::LayerRecorder rec(*net, {"backbone.block1.0.attn"});
  run_train_outputs(*net, rec);
  const auto by_name = first_records(rec);
  auto expect_shapes = [&](const std::string& name, const std::vector<Shape>& want) {
    SCOPED_TRACE(name);
    auto it = by_name.find(name);
    ASSERT_NE(it, by_name.end());
    EXPECT_EQ(shapes(*it->second), want);
  };
  // Tokens [N, H*W, C] as upstream's modules return them.
  expect_shapes("backbone.patch_embed1", {{1, 256, 32}});
  expect_shapes("backbone.block1.0.attn", {{1, 256, 32}});
  expect_shapes("backbone.block1.0.mlp", {{1, 256, 32}});
  expect_shapes("backbone.block1.0.mlp.dwconv", {{1, 256, 128}});
  expect_shapes("backbone.block1.1", {{1, 256, 32}});
  expect_shapes("backbone.block4.1.attn", {{1, 4, 256}});
  // The encoder returns its four stages; PyTorch's hook sees the whole list.
  expect_shapes("backbone", {{1, 32, 16, 16}, {1, 64, 8, 8}, {1, 160, 4, 4}, {1, 256, 2, 2}});
  expect_shapes("decode_head.linear_c4", {{1, 4, 32}});
  expect_shapes("decode_head", {{1, 4, 16, 16}});
  EXPECT_EQ(by_name.at("backbone.block1.0.attn")->type, "Attention");
  EXPECT_EQ(by_name.at("backbone.block1.0.mlp")->type, "Mlp");
  // A child reports before its parent, as PyTorch's forward hooks fire.
  auto index = [&](const std::string& name) {
    const auto& r = rec.records();
    return std::find_if(r.begin(), r.end(), [&](const nn::LayerRecord& l) { return l.name == name; }) - r.begin();
  };
  EXPECT_LT(index("backbone.block1.0.attn.proj"), index("backbone.block1.0.attn"));
  EXPECT_LT(index("backbone.block1.0.attn"), index("backbone.block1.0"));
  ASSERT_TRUE(rec.captured().count("backbone.block1.0.attn"));
  EXPECT_EQ(nn::tensor_stats(rec.captured().at("backbone.block1.0.attn")).sum,
            by_name.at("backbone.block1.0.attn")->outputs[0].sum);
}

TEST(Hooks, LayerTimerTimesMultiArgumentModules) {
  auto net = build(kSegFormer);
  nn::LayerTimer timer(*net);
  run_train_outputs(*net, timer);
  std::vector<std::string> names;
  for (const auto& e : timer.entries()) names.push_back(e.name);
  auto pos = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) - names.begin(); };
  ASSERT_LT(pos("backbone.block1.0.attn"), static_cast<ptrdiff_t>(names.size()));
  // Entries follow the calls' starts: a parent before its children.
  EXPECT_EQ(pos("backbone"), 0);
  EXPECT_LT(pos("backbone.block1.0"), pos("backbone.block1.0.attn"));
  EXPECT_LT(pos("backbone.block1.0.attn"), pos("backbone.block1.0.attn.q"));
  for (const auto& e : timer.entries())
    if (e.name == "backbone.block2.1.mlp") {
      EXPECT_EQ(e.calls, 1);
    }
}

// Every module of the tree that the forward uses reports, under its name. Not
// called, here as upstream: ModuleLists (no forward), SegFormer's conv_seg
// (built by mmseg's BaseDecodeHead, unused by SegFormerHead) and STDC's
// detail_conv (used by the detail loss only).
TEST(Hooks, EveryCalledModuleOfEveryNetIsRecorded) {
  const std::vector<Json> models = {
      {{"name", "stdc"}, {"num_classes", 4}, {"use_aux", true}},
      {{"name", "stdc"}, {"num_classes", 4}, {"use_detail_head", true}},
      {{"name", "ppliteseg"}, {"num_classes", 4}},
      {{"name", "ppliteseg"}, {"num_classes", 4}, {"fusion_type", "channel"}},
      {{"name", "bisenetv2"}, {"num_classes", 4}},
      {{"name", "fastscnn"}, {"num_classes", 4}},
      {{"name", "ddrnet"}, {"num_classes", 4}, {"arch_type", "DDRNet-39"}},
      {{"name", "pidnet"}, {"num_classes", 4}, {"arch_type", "pidnet_s"}},
      {{"name", "pidnet"}, {"num_classes", 4}, {"arch_type", "pidnet_l"}},
      {{"name", "enet"}, {"num_classes", 4}},
      {{"name", "adscnet"}, {"num_classes", 4}},
      {{"name", "fpenet"}, {"num_classes", 4}},
      {{"name", "fssnet"}, {"num_classes", 4}},
      {{"name", "mininetv2"}, {"num_classes", 4}},
      {{"name", "lednet"}, {"num_classes", 4}},
      {{"name", "aglnet"}, {"num_classes", 4}},
      {{"name", "dabnet"}, {"num_classes", 4}},
      {{"name", "mininet"}, {"num_classes", 4}},
      kSegFormer,
      {{"name", "erfnet"}, {"num_classes", 4}},
      {{"name", "edanet"}, {"num_classes", 4}},
      {{"name", "esnet"}, {"num_classes", 4}},
      {{"name", "fddwnet"}, {"num_classes", 4}},
      {{"name", "cgnet"}, {"num_classes", 4}},
      {{"name", "cfpnet"}, {"num_classes", 4}},
      {{"name", "espnet"}, {"num_classes", 5}},
      {{"name", "espnet"}, {"num_classes", 4}, {"arch_type", "espnet-b"}},
      {{"name", "espnetv2"}, {"num_classes", 4}},
      {{"name", "linknet"}, {"num_classes", 4}},
      {{"name", "swiftnet"}, {"num_classes", 4}},
      {{"name", "swiftnet"}, {"num_classes", 4}, {"backbone_type", "mobilenet_v2"}},
      {{"name", "bisenetv1"}, {"num_classes", 4}},
      {{"name", "dfanet"}, {"num_classes", 4}},
      {{"name", "dfanet"}, {"num_classes", 4}, {"use_extra_backbone", false}},
      {{"name", "litehrnet"}, {"num_classes", 4}},
      {{"name", "farseenet"}, {"num_classes", 4}},
      {{"name", "liteseg"}, {"num_classes", 4}},
      {{"name", "liteseg"}, {"num_classes", 4}, {"backbone_type", "resnet18"}},
      {{"name", "shelfnet"}, {"num_classes", 4}},
      {{"name", "sfnet"}, {"num_classes", 4}, {"fpn_dsn", true}},
      {{"name", "sfnet"}, {"num_classes", 4}, {"head_type", "v2"}, {"fa_type", "spatial_atten"}},
      {{"name", "sfnet"}, {"num_classes", 4}, {"head_type", "v2"}, {"global_context", "sppm"}},
      {{"name", "sekd_student"}, {"backbone", "mit_b0"}, {"num_classes", 4}},
      {{"name", "sekd_teacher"}, {"backbone", "mit_b0"}, {"num_classes", 4}},
      {{"name", "swin_t_att_unet"}, {"num_classes", 4}, {"base", 8}},
      {{"name", "fastsegformer"}, {"num_classes", 4}, {"fork_feat", true}},
      {{"name", "fastsegformer"}, {"num_classes", 4}, {"Pyramid", "multiscale"}, {"cnn_branch", true}},
      {{"name", "fastsegformer"}, {"num_classes", 4}, {"backbone", "efficientformerV2_s0"}, {"cnn_branch", true}},
      {{"name", "stdcseg"}, {"num_classes", 4}, {"use_boundary_8", true}},
      {{"name", "stdcseg"}, {"num_classes", 4}, {"backbone", "STDCNet1446"}, {"use_conv_last", true},
       {"use_boundary_2", true}, {"use_boundary_4", true}, {"use_boundary_8", true}},
      {{"name", "pp_mobileseg"}, {"num_classes", 4}},
      {{"name", "pp_mobileseg"}, {"num_classes", 4}, {"variant", "tiny"}},
  };
  const std::set<std::string> unused = {"decode_head.conv_seg", "detail_conv"};
  // SFNet-Lite's head builds layer4's lateral and never calls it, as upstream.
  const std::set<std::string> unused_lite = {"head.fpn_in.2", "head.fpn_in.2.0", "head.fpn_in.2.1", "head.fpn_in.2.2"};
  // STDC-Seg's backbone keeps its ImageNet head (in the released checkpoints); conv_last runs with
  // use_conv_last; `features` runs stage by stage (upstream: through its x2..x32 slices), never whole.
  const std::set<std::string> unused_stdcseg = {"cp.backbone.fc", "cp.backbone.bn", "cp.backbone.linear",
                                                "cp.backbone.features"};
  const std::set<std::string> conv_last = {"cp.backbone.conv_last", "cp.backbone.conv_last.conv",
                                           "cp.backbone.conv_last.bn", "cp.backbone.conv_last.relu"};
  for (const Json& model : models) {
    SCOPED_TRACE(model.dump());
    auto net = build(model);
    nn::LayerRecorder rec(*net);
    // EfficientFormerV2's attention biases fix its input size.
    run_train_outputs(*net, rec, model.value("backbone", "") == "efficientformerV2_s0" ? 224 : 64);
    std::set<std::string> want, got;
    for (const auto& [m, name] : nn::module_names(*net))
      // PP-MobileSeg's head is not mmseg's BaseDecodeHead: its conv_seg is the classifier.
      if (!name.empty() && m->type_name() != "ModuleList" &&
          !(unused.count(name) && model["name"] != "pp_mobileseg") &&
          !(model.value("head_type", "") == "v2" && unused_lite.count(name)) &&
          !(model["name"] == "stdcseg" &&
            (unused_stdcseg.count(name) || (!model.value("use_conv_last", false) && conv_last.count(name)))))
        want.insert(name);
    for (const auto& r : rec.records()) got.insert(r.name);
    std::vector<std::string> missing, extra;
    std::set_difference(want.begin(), want.end(), got.begin(), got.end(), std::back_inserter(missing));
    std::set_difference(got.begin(), got.end(), want.begin(), want.end(), std::back_inserter(extra));
    EXPECT_TRUE(missing.empty()) << missing.size() << " never reported, e.g. " << missing.front();
    EXPECT_TRUE(extra.empty()) << extra.size() << " reported though unused, e.g. " << extra.front();
  }
}

TEST(Hooks, MultiOutputModulesReportEveryTensor) {
  auto ddrnet = build({{"name", "ddrnet"}, {"num_classes", 4}});
  nn::LayerRecorder rec(*ddrnet);
  run_train_outputs(*ddrnet, rec);
  auto by_name = first_records(rec);
  // Stage4 returns (x_low at 1/16, x_high at 1/8) of DDRNet-23-slim.
  ASSERT_TRUE(by_name.count("conv4"));
  EXPECT_EQ(shapes(*by_name.at("conv4")), (std::vector<Shape>{{1, 128, 4, 4}, {1, 64, 8, 8}}));

  auto enet = build({{"name", "enet"}, {"num_classes", 4}});
  nn::LayerRecorder enet_rec(*enet);
  run_train_outputs(*enet, enet_rec);
  by_name = first_records(enet_rec);
  // A downsampling stage returns its output and the max-pool indices, as upstream.
  ASSERT_TRUE(by_name.count("bottleneck1"));
  EXPECT_EQ(shapes(*by_name.at("bottleneck1")), (std::vector<Shape>{{1, 64, 16, 16}, {1, 16, 16, 16}}));
}

// MiT-B0 plus the decoder at 64x64, counted by hand: every Linear of the
// attention and Mix-FFN blocks, the spatial-reduction, patch-embedding and
// depth-wise convs, and the head's linear_c*, linear_fuse and linear_pred.
TEST(Hooks, MacCounterCountsSegFormerLinearsInsideTheBlocks) {
  auto net = build(kSegFormer);
  nn::MacCounter macs(*net);
  run_train_outputs(*net, macs);
  const int64_t dims[4] = {32, 64, 160, 256}, sr[4] = {8, 4, 2, 1}, depth = 2, embed = 32, classes = 4;
  int64_t want = 0, side = 64, in = 3;
  int64_t block_linears = 0;
  for (int s = 0; s < 4; ++s) {
    const int64_t k = s == 0 ? 7 : 3;
    side = s == 0 ? (side - 1) / 4 + 1 : (side - 1) / 2 + 1;
    const int64_t n = side * side, c = dims[s], m = (side / sr[s]) * (side / sr[s]);
    want += n * c * in * k * k;  // patch_embed.proj
    for (int64_t b = 0; b < depth; ++b) {
      const int64_t linears = n * c * c + m * c * 2 * c + n * c * c + n * c * 4 * c + n * 4 * c * c;
      block_linears += linears;  // q, kv, proj, fc1, fc2
      want += linears + n * 4 * c * 9;
      if (sr[s] > 1) want += m * c * c * sr[s] * sr[s];
    }
    want += n * c * embed;  // decode_head.linear_c{s+1}
    in = c;
  }
  want += 16 * 16 * (4 * embed * embed + embed * classes);
  EXPECT_GT(block_linears, want / 2);  // the attention blocks are most of the work
  EXPECT_EQ(macs.macs(), want);
  // conv_seg is the one such module never called.
  EXPECT_EQ(macs.counted_modules(), macs.total_modules() - 1);
}
