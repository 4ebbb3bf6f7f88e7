// Upstream checkpoints whose modules are registered twice (STDC-Seg's
// backbone aliases x2..x32 of `features`, nets/stdcseg.h): an upstream-style
// state_dict (every backbone tensor under both names, the segmentation
// model's InPlaceABN norms without num_batches_tracked, DistributedDataParallel's
// `module.` prefix) saved as a .pth converts with --config and loads
// strictly (rtseg_convert's conversion with --config, then the inference
// session); an alias that differs from its original, or has none, is refused
// naming both.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "common/testing.h"
#include "infer/session.h"
#include "nn/registry.h"
#include "weights/convert.h"
#include "weights/net_tensors.h"
#include "weights/pth.h"
#include "tests/weights/helpers.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
using weights::testing::TempDir;

namespace {

const nn::Json kModel = {{"name", "stdcseg"}, {"backbone", "STDCNet813"}, {"num_classes", 3}};

// The net's state_dict laid out as upstream's BiSeNet.state_dict() is: each
// original entry, then (as torch lists the x2..x32 Sequentials after the
// backbone's other modules) every alias entry sharing its tensor.
weights::TensorDict upstream_style(const nn::SegNet& net, const std::string& prefix) {
  weights::TensorDict out;
  const auto state = net.state_dict();
  for (const auto& [name, t] : state) out.insert(prefix + name, t);
  for (const auto& [alias, original] : net.state_dict_aliases())
    for (const auto& [name, t] : state)
      if (name.compare(0, original.size(), original) == 0) out.insert(prefix + alias + name.substr(original.size()), t);
  return out;
}

std::string write_config(const TempDir& dir) {
  const std::string path = dir.file("model.json");
  std::ofstream(path) << nn::Json{{"model", kModel}}.dump();
  return path;
}

}  // namespace

TEST(StateAliases, UpstreamStyleStdcSegConvertsAndLoads) {
  autograd::NoGradGuard no_grad;
  const nn::SegNetPtr net = nn::create_net(kModel);
  net->eval();
  const weights::TensorDict upstream = upstream_style(*net, "module.");
  size_t aliases = 0, nbt = 0;
  for (const auto& [name, t] : upstream) {
    aliases += name.find(".x8.0.3.") != std::string::npos;
    nbt += name.find("num_batches_tracked") != std::string::npos && name.find("cp.backbone.") == std::string::npos;
  }
  ASSERT_GT(aliases, 0u);
  EXPECT_EQ(nbt, 0u);  // InPlaceABN: none outside the backbone

  TempDir dir;
  weights::save_pth(dir.file("upstream.pth"), upstream);
  weights::ConvertOptions options;
  options.config = write_config(dir);
  weights::convert_checkpoint(dir.file("upstream.pth"), dir.file("converted.bin"), options);

  const Tensor x = ct::uniform({1, 3, 64, 96}, -1, 1, 7, DType::f32);
  const std::vector<double> expected = net->forward(x).to_vector();
  auto session = infer::InferenceSession::load(dir.file("converted.json"));
  const std::vector<double> got = session.logits(x).to_vector();
  ASSERT_EQ(got.size(), expected.size());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::abs(got[i] - expected[i]));
    scale = std::max(scale, std::abs(expected[i]));
  }
  // The session folds BatchNorm into the convolutions: float32 rounding only.
  EXPECT_LT(worst, 1e-5 * scale);
  const weights::Checkpoint ck = weights::load_checkpoint(dir.file("converted.json"));
  EXPECT_EQ(ck.tensors.size(), net->state_dict().size());
}

TEST(StateAliases, DifferingOrMissingOriginalIsRefusedNamingBoth) {
  autograd::NoGradGuard no_grad;
  const nn::SegNetPtr net = nn::create_net(kModel);
  const weights::TensorDict upstream = upstream_style(*net, "");
  const std::string alias = "cp.backbone.x8.0.3.conv_list.0.conv.weight";
  const std::string original = "cp.backbone.features.3.conv_list.0.conv.weight";

  weights::TensorDict changed;
  for (const auto& [name, t] : upstream) changed.insert(name, name == alias ? fn::add(t, 1.0) : t);
  EXPECT_TRUE(ct::throws_mentioning([&] { weights::fold_state_aliases(changed, kModel, "ck.pth"); },
                                    {"ck.pth", alias, original, "differs"}));

  weights::TensorDict orphan;
  for (const auto& [name, t] : upstream)
    if (name != original) orphan.insert(name, t);
  EXPECT_TRUE(ct::throws_mentioning([&] { weights::fold_state_aliases(orphan, kModel, "ck.pth"); },
                                    {"ck.pth", alias, original, "missing"}));

  EXPECT_EQ(weights::fold_state_aliases(upstream, kModel, "ck.pth").size(), net->state_dict().size());
}
