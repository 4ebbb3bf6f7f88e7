// Checkpoints in other layouts (weights/layouts.h) against the fixtures of
// tools/make_layout_fixtures.py: a Hugging Face SegFormer (safetensors and
// pytorch_model.bin), mmseg 1.x MixVisionTransformer names in an mmengine
// wrapper, PaddleSeg .pdparams (NumPy pickles, protocols 2 and 4). Each mapped
// tensor must equal, byte for byte, the rows of the source tensors it is made
// of, as the fixture's expected.json lists them.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/weights/helpers.h"
#include "weights/convert.h"
#include "weights/layouts.h"

namespace cudaseg::weights {
namespace {

std::string layout_fixture(const std::string& name) { return std::string(CUDASEG_TEST_DATA) + "/layouts/" + name; }

nlohmann::json layout_expected() {
  std::ifstream in(layout_fixture("expected.json"));
  return nlohmann::json::parse(in);
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

TEST(Layouts, EveryFixtureIsDetectedAndMappedFromItsOwnTensors) {
  const nlohmann::json expected = layout_expected();
  int checked = 0;
  for (const auto& [file, spec] : expected.items()) {
    if (!spec.contains("tensors")) continue;
    SCOPED_TRACE(file);
    const LoadedTensors raw = load_tensors(layout_fixture(file), "", "torch");
    const LoadedTensors mapped = load_tensors(layout_fixture(file), "", "auto");
    EXPECT_EQ(layout_name(mapped.layout), spec["layout"].get<std::string>());
    ASSERT_EQ(mapped.tensors.size(), spec["tensors"].size());
    for (const auto& [name, want] : spec["tensors"].items()) {
      const Tensor* t = mapped.tensors.find(name);
      ASSERT_NE(t, nullptr) << name;
      EXPECT_EQ(t->shape(), want["shape"].get<Shape>()) << name;
      std::vector<uint8_t> bytes;
      for (const auto& piece : want["pieces"]) {
        const Tensor& src = raw.tensors.at(piece[0].get<std::string>());
        const int64_t begin = piece[1].get<int64_t>(), end = piece[2].get<int64_t>();
        const std::vector<uint8_t> b =
            contiguous_bytes(src.dim() == 0 ? src : src.contiguous().narrow(0, begin, end - begin));
        bytes.insert(bytes.end(), b.begin(), b.end());
      }
      EXPECT_EQ(contiguous_bytes(*t), bytes) << name;
    }
    for (const auto& w : spec.value("warnings", nlohmann::json::array())) {
      EXPECT_NE(joined(mapped.warnings).find(w.get<std::string>()), std::string::npos) << joined(mapped.warnings);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 5);
}

TEST(Layouts, PaddleArraysKeepTheirDtypesAndFortranOrder) {
  const LoadedTensors p2 = load_tensors(layout_fixture("ppliteseg_tiny_p2.pdparams"), "", "auto");
  const LoadedTensors p4 = load_tensors(layout_fixture("ppliteseg_tiny_p4.pdparams"), "", "auto");
  EXPECT_EQ(p2.format, CheckpointFormat::pdparams);
  EXPECT_EQ(p2.tensors.at("ppseg_head.cm.stages.0.1.conv.weight").dtype(), DType::f64);
  EXPECT_EQ(p2.tensors.at("seg_heads.0.step").dtype(), DType::i64);
  EXPECT_EQ(p2.tensors.at("seg_heads.0.step").item(), 12.0);
  // The two protocols (bytes as _codecs.encode at 2, BINBYTES at 4) give the same tensors.
  for (const auto& [name, t] : p2.tensors) EXPECT_EQ(contiguous_bytes(t), contiguous_bytes(p4.tensors.at(name))) << name;
  // Nothing of the name table is loaded as a tensor.
  EXPECT_FALSE(p4.tensors.contains("StructuredToParameterName@@"));
}

TEST(Layouts, HostileNumpyPickleIsRefusedAndNeverRuns) {
  const std::string marker = "/tmp/cudaseg_pth_fixture_was_executed";
  ::unlink(marker.c_str());
  try {
    load_tensors(layout_fixture("malicious.pdparams"), "", "auto");
    FAIL() << "a pdparams calling os.system loaded";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(layout_expected()["malicious.pdparams"]["error"].get<std::string>()), std::string::npos)
        << what;
    EXPECT_NE(what.find("malicious.pdparams"), std::string::npos) << what;
  }
  EXPECT_FALSE(testing::file_exists(marker));
}

// torch.save's legacy (pre-zip) format is a bare pickle too; its magic number
// (after a protocol 4 FRAME as well) keeps it from being read as a .pdparams.
TEST(Layouts, TorchLegacyPickleIsNotTakenForPdparams) {
  testing::TempDir dir;
  for (const std::string& header : {std::string("\x80\x02", 2), std::string("\x80\x04\x95\x0d\0\0\0\0\0\0\0", 11)}) {
    const std::string magic("\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 13);
    std::ofstream(dir.file("legacy.pth"), std::ios::binary) << header << magic;
    EXPECT_EQ(detect_format(dir.file("legacy.pth")), CheckpointFormat::pth);
    try {
      load_tensors(dir.file("legacy.pth"));
      FAIL() << "a legacy pickle loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("_use_new_zipfile_serialization=True"), std::string::npos) << e.what();
    }
  }
}

TEST(Layouts, DetectionThatCannotTellNamesWhatItFound) {
  TensorDict hf;
  hf.insert("segformer.encoder.layer_norm.0.weight", Tensor::ones({4}));
  try {
    detect_layout(false, {"meta", "state_dict"}, hf, "x.pth");
    FAIL() << "hf names in an mmseg wrapper were accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot tell"), std::string::npos) << what;
    EXPECT_NE(what.find("segformer.encoder.layer_norm.0.weight"), std::string::npos) << what;
    EXPECT_NE(what.find("{'state_dict', 'meta'}"), std::string::npos) << what;
    EXPECT_NE(what.find("--from"), std::string::npos) << what;
  }
  TensorDict bn;
  bn.insert("a.running_mean", Tensor::ones({4}));
  bn.insert("b._mean", Tensor::ones({4}));
  EXPECT_THROW(detect_layout(false, {}, bn, "y.pth"), Error);
  TensorDict plain;
  plain.insert("conv.weight", Tensor::ones({4}));
  EXPECT_EQ(detect_layout(false, {"state_dict", "optimizer"}, plain, "z.pth"), SourceLayout::torch);
  EXPECT_EQ(detect_layout(true, {}, plain, "z.pdparams"), SourceLayout::paddle);
  // An explicit layout that does not fit says what the file holds.
  std::vector<std::string> notes;
  try {
    map_layout(SourceLayout::hf, plain, "z.pth", &notes);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'conv.weight'"), std::string::npos) << e.what();
  }
}

TEST(Layouts, HuggingFaceKeyWithoutValueIsAnError) {
  TensorDict hf;
  hf.insert("segformer.encoder.block.0.0.attention.self.key.weight", Tensor::ones({4, 4}));
  std::vector<std::string> notes;
  try {
    map_layout(SourceLayout::hf, hf, "k.safetensors", &notes);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("backbone.block1.0.attn.kv.weight' has a key but no value"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace cudaseg::weights
