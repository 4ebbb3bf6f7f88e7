// Export back to PyTorch: the layout torch.save writes, read back by our own
// reader, and (when Debian's PyTorch is installed) torch.load(weights_only=True)
// giving bit-identical tensors for every fixture, also through a cudaseg
// checkpoint in between.
#include <gtest/gtest.h>

#include "tests/weights/helpers.h"
#include "weights/checkpoint.h"
#include "weights/pth.h"
#include "weights/zip.h"

namespace cudaseg::weights {
namespace {

TEST(PthExport, LayoutMatchesTorchSave) {
  const Bytes bytes = bytes_from_vector(pth_bytes(testing::all_dtypes_dict(3)));
  ZipReader zip(bytes, "export");
  EXPECT_EQ(zip.read("archive/version").str(), "3\n");
  EXPECT_EQ(zip.read("archive/byteorder").str(), "little");
  ASSERT_NE(zip.find("archive/data.pkl"), nullptr);
  int records = 0;
  for (const ZipEntry& e : zip.entries()) {
    EXPECT_EQ(e.method, 0) << e.name;
    if (e.name.rfind("archive/data/", 0) == 0) {
      EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
      ++records;
    }
  }
  EXPECT_EQ(records, 9);
}

TEST(PthExport, OwnReaderRoundTripKeepsViewsShared) {
  const PthContents original = load_pth(testing::pth_fixture("views.pth"));
  const PthContents back = read_pth(bytes_from_vector(pth_bytes(original.tensors)), "export");
  testing::expect_same_tensors(original.tensors, back.tensors);
  EXPECT_EQ(back.tensors.at("base").storage(), back.tensors.at("offset_slice").storage());
  EXPECT_EQ(back.tensors.at("transposed").strides(), (Shape{1, 6}));
}

TEST(PthExport, RecordCoversOnlyTheElementsUsed) {
  const Tensor big = testing::random_tensor({1000}, DType::f32, 8);
  TensorDict d;
  d.insert("window", big.slice(0, 600, 610));
  const std::vector<uint8_t> bytes = pth_bytes(d);
  EXPECT_LT(bytes.size(), 1500u);
  const PthContents back = read_pth(bytes_from_vector(bytes), "export");
  EXPECT_EQ(testing::hex_of(back.tensors.at("window")), testing::hex_of(d.at("window")));
}

bool have_torch() { return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

TEST(PthExport, TorchLoadsExportsBitIdentically) {
  if (!have_torch()) GTEST_SKIP() << "skipped: /usr/bin/python3 cannot import torch (Debian python3-torch)";
  testing::TempDir dir;
  const nlohmann::json expected = testing::expected_fixtures();
  std::string args;
  for (const auto& [file, spec] : expected.items()) {
    if (!spec.contains("tensors")) continue;
    const PthContents c = load_pth(testing::pth_fixture(file));
    const std::string source = testing::pth_fixture(spec.value("same_as", file));
    // Directly, keeping views and shared storages ...
    save_pth(dir.file("direct_" + file), c.tensors);
    args += " '" + source + "' '" + dir.file("direct_" + file) + "'";
    if (file == "views.pth") args += " --shared base,offset_slice --shared column,other_block";
    // ... and through a cudaseg checkpoint (tensors come back from the mapping).
    Checkpoint ck;
    ck.tensors = c.tensors;
    save_checkpoint(dir.file("ck_" + file), ck);
    // The fixtures hold NaN and Inf on purpose (bit-exact special values).
    CheckpointLoadOptions special;
    special.allow_nonfinite = true;
    save_pth(dir.file("via_" + file), load_checkpoint(dir.file("ck_" + file), special).tensors);
    args += " '" + source + "' '" + dir.file("via_" + file) + "'";
  }
  const std::string command = std::string("/usr/bin/python3 '") + CUDASEG_SOURCE_DIR +
                              "/tools/check_pth_roundtrip.py'" + args + " > '" + dir.file("log") + "' 2>&1";
  const int status = std::system(command.c_str());
  EXPECT_EQ(status, 0) << read_text_file(dir.file("log"));
}

}  // namespace
}  // namespace cudaseg::weights
