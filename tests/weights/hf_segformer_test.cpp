// A Hugging Face transformers SegFormer-B0 checkpoint, laid out as
// SegformerForSemanticSegmentation.state_dict() is (segformer.encoder.*,
// key and value split, decode_head.batch_norm/classifier, no conv_seg) from
// a cudaseg SegFormer built with Hugging Face's LayerNorm eps: converted with
// --config, it must load strictly and give the net's logits, with
// layer_norm_eps 1e-5 in the manifest. tools/check_layout_parity.py checks the
// same against transformers itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>

#include "autograd/engine.h"
#include "common/testing.h"
#include "infer/session.h"
#include "nn/registry.h"
#include "weights/convert.h"
#include "weights/safetensors.h"
#include "tests/weights/helpers.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
using weights::testing::TempDir;

namespace {

std::string minus_one(const std::string& index) { return std::to_string(std::stoll(index) - 1); }

// NVlabs names -> Hugging Face's, as transformers' modeling_segformer.py names them.
weights::TensorDict hf_layout(const nn::SegNet& net) {
  static const std::regex kEmbed(R"(backbone\.patch_embed(\d)\.(proj|norm)\.(.+))");
  static const std::regex kBlock(R"(backbone\.block(\d)\.(\d+)\.(.+))");
  static const std::regex kNorm(R"(backbone\.norm(\d)\.(.+))");
  static const std::regex kLinearC(R"(decode_head\.linear_c(\d)\.proj\.(.+))");
  static const std::pair<const char*, const char*> kInner[] = {
      {"norm1.", "layer_norm_1."},      {"norm2.", "layer_norm_2."},
      {"attn.q.", "attention.self.query."}, {"attn.sr.", "attention.self.sr."},
      {"attn.norm.", "attention.self.layer_norm."}, {"attn.proj.", "attention.output.dense."},
      {"mlp.fc1.", "mlp.dense1."},      {"mlp.dwconv.dwconv.", "mlp.dwconv.dwconv."},
      {"mlp.fc2.", "mlp.dense2."}};
  weights::TensorDict out;
  for (const auto& [name, t] : net.state_dict()) {
    std::smatch m;
    if (std::regex_match(name, m, kEmbed)) {
      out.insert("segformer.encoder.patch_embeddings." + minus_one(m[1]) +
                     (m[2] == "proj" ? ".proj." : ".layer_norm.") + m[3].str(), t);
    } else if (std::regex_match(name, m, kBlock)) {
      const std::string block = "segformer.encoder.block." + minus_one(m[1]) + "." + m[2].str() + ".";
      const std::string rest = m[3];
      if (rest.rfind("attn.kv.", 0) == 0) {
        const int64_t c = t.shape()[0] / 2;
        const std::string param = rest.substr(8);
        out.insert(block + "attention.self.key." + param, t.narrow(0, 0, c).contiguous());
        out.insert(block + "attention.self.value." + param, t.narrow(0, c, c).contiguous());
        continue;
      }
      for (const auto& [ours, theirs] : kInner)
        if (rest.rfind(ours, 0) == 0) out.insert(block + theirs + rest.substr(std::string(ours).size()), t);
    } else if (std::regex_match(name, m, kNorm)) {
      out.insert("segformer.encoder.layer_norm." + minus_one(m[1]) + "." + m[2].str(), t);
    } else if (std::regex_match(name, m, kLinearC)) {
      out.insert("decode_head.linear_c." + minus_one(m[1]) + ".proj." + m[2].str(), t);
    } else if (name.rfind("decode_head.linear_fuse.conv.", 0) == 0) {
      out.insert("decode_head.linear_fuse." + name.substr(29), t);
    } else if (name.rfind("decode_head.linear_fuse.bn.", 0) == 0) {
      out.insert("decode_head.batch_norm." + name.substr(27), t);
    } else if (name.rfind("decode_head.linear_pred.", 0) == 0) {
      out.insert("decode_head.classifier." + name.substr(24), t);
    }
  }
  return out;
}

}  // namespace

TEST(HfSegformer, ConvertsWithItsLayerNormEpsAndGivesTheNetsLogits) {
  autograd::NoGradGuard no_grad;
  const nn::Json model = {{"name", "segformer"}, {"backbone", "mit_b0"}, {"num_classes", 3}};
  nn::Json hf_model = model;
  hf_model["layer_norm_eps"] = 1e-5;
  const nn::SegNetPtr net = nn::create_net(hf_model);
  net->eval();
  const weights::TensorDict hf = hf_layout(*net);
  // 8 blocks' kv split in two, conv_seg's weight and bias left out.
  ASSERT_EQ(hf.size(), net->state_dict().size() + 16 - 2);

  TempDir dir;
  weights::save_safetensors(dir.file("model.safetensors"), hf, {{"format", "pt"}});
  std::ofstream(dir.file("cfg.json")) << nn::Json{{"model", model}}.dump();
  weights::ConvertOptions options;
  options.config = dir.file("cfg.json");
  std::vector<std::string> notes;
  weights::convert_checkpoint(dir.file("model.safetensors"), dir.file("converted.bin"), options, &notes);

  const weights::Checkpoint ck = weights::load_checkpoint(dir.file("converted.json"));
  EXPECT_EQ(nn::Json::parse(ck.model_json).value("layer_norm_eps", 0.0), 1e-5);
  EXPECT_EQ(nn::Json::parse(ck.metadata_json).value("source_layout", ""), "hf");
  for (const auto& [name, t] : net->state_dict()) {
    const Tensor& got = ck.tensors.at(name);
    if (name.rfind("decode_head.conv_seg.", 0) == 0) {
      const std::vector<double> v = got.to_vector();
      EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](double e) { return e == 0.0; })) << name;
    } else {
      EXPECT_EQ(weights::contiguous_bytes(got), weights::contiguous_bytes(t)) << name;
    }
  }
  std::string all;
  for (const std::string& n : notes) all += n + "\n";
  EXPECT_NE(all.find("16 key/value pairs concatenated"), std::string::npos) << all;
  EXPECT_NE(all.find("layer_norm_eps set to 1e-5"), std::string::npos) << all;

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
  // The session folds BatchNorm into the convolution: float32 rounding only.
  EXPECT_LT(worst, 1e-5 * scale);
}

// layer_norm_eps reaches the blocks' and stages' LayerNorms: the same weights
// give other logits under Hugging Face's 1e-5 than under NVlabs' 1e-6.
TEST(HfSegformer, LayerNormEpsChangesTheBlocksNorms) {
  autograd::NoGradGuard no_grad;
  const nn::Json model = {{"name", "segformer"}, {"backbone", "mit_b0"}, {"num_classes", 3}};
  EXPECT_EQ(nn::resolve_model_config(model)["layer_norm_eps"].get<double>(), 1e-6);
  nn::Json hf_model = model;
  hf_model["layer_norm_eps"] = 1e-5;
  const nn::SegNetPtr nvlabs = nn::create_net(model), hf = nn::create_net(hf_model);
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : nvlabs->state_dict()) state.emplace(name, t);
  hf->load_state_dict(state);
  nvlabs->eval();
  hf->eval();
  const Tensor x = ct::uniform({1, 3, 64, 64}, -1, 1, 3, DType::f32);
  EXPECT_NE(nvlabs->forward(x).to_vector(), hf->forward(x).to_vector());
  nn::Json bad = model;
  bad["layer_norm_eps"] = 0.0;
  EXPECT_THROW(nn::create_net(bad), Error);
}
