// The .pth reader against fixtures saved by PyTorch 1.13
// (tools/make_pth_fixtures.py): exact bytes, views, wrappers, and every
// broken or hostile file refused with its own error.
#include <gtest/gtest.h>

#include "tests/weights/helpers.h"
#include "weights/pth.h"

namespace cudaseg::weights {
namespace {

using testing::expected_fixtures;
using testing::hex_of;
using testing::pth_fixture;

const char* const kMarker = "/tmp/cudaseg_pth_fixture_was_executed";

TEST(PthReader, EveryValidFixtureMatchesPyTorchBitForBit) {
  const nlohmann::json expected = expected_fixtures();
  int checked = 0;
  for (const auto& [file, spec] : expected.items()) {
    if (!spec.contains("tensors")) continue;
    SCOPED_TRACE(file);
    const PthContents c = load_pth(pth_fixture(file));
    ASSERT_EQ(c.tensors.size(), spec["tensors"].size());
    for (const auto& [name, want] : spec["tensors"].items()) {
      const Tensor* t = c.tensors.find(name);
      ASSERT_NE(t, nullptr) << name;
      EXPECT_EQ(dtype_name(t->dtype()), want["dtype"].get<std::string>()) << name;
      EXPECT_EQ(t->shape(), want["shape"].get<Shape>()) << name;
      EXPECT_EQ(hex_of(*t), want["hex"].get<std::string>()) << name;
    }
    EXPECT_EQ(c.wrapper_key, spec.value("wrapper", ""));
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST(PthReader, KeepsStateDictOrder) {
  const PthContents c = load_pth(pth_fixture("dtypes.pth"));
  ASSERT_GE(c.tensors.size(), 3u);
  EXPECT_EQ(c.tensors.entries()[0].first, "f32");
  EXPECT_EQ(c.tensors.entries()[1].first, "f32_special");
  EXPECT_EQ(c.tensors.entries()[2].first, "f16");
}

TEST(PthReader, ViewsShareOneStorageWithOffsetsAndStrides) {
  const PthContents c = load_pth(pth_fixture("views.pth"));
  const Tensor& base = c.tensors.at("base");
  const Tensor& slice = c.tensors.at("offset_slice");
  const Tensor& transposed = c.tensors.at("transposed");
  EXPECT_EQ(base.storage(), slice.storage());
  EXPECT_EQ(base.storage(), transposed.storage());
  EXPECT_EQ(slice.offset(), 5);
  EXPECT_EQ(transposed.strides(), (Shape{1, 6}));
  EXPECT_FALSE(transposed.is_contiguous());
  EXPECT_EQ(c.tensors.at("stepped").strides(), (Shape{3}));
  EXPECT_EQ(c.tensors.at("expanded").strides(), (Shape{1, 0}));
  EXPECT_EQ(c.tensors.at("column").storage(), c.tensors.at("other_block").storage());
  EXPECT_NE(c.tensors.at("column").storage(), base.storage());
  // A write through one view is seen by the other: they alias, as in PyTorch.
  slice.data<float>()[0] = 1234.5f;
  EXPECT_EQ(base.data<float>()[5], 1234.5f);
}

TEST(PthReader, StoredTensorsViewTheFileBytes) {
  const Bytes file = map_file(pth_fixture("dtypes.pth"));
  const PthContents c = read_pth(file, "dtypes.pth");
  const auto* p = static_cast<const uint8_t*>(c.tensors.at("f32").raw_data());
  EXPECT_GE(p, file.data);
  EXPECT_LT(p, file.data + file.size);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, reinterpret_cast<uintptr_t>(file.data) % 64);
}

TEST(PthReader, ZeroDimInt64Buffer) {
  const PthContents c = load_pth(pth_fixture("dtypes.pth"));
  const Tensor& n = c.tensors.at("bn.num_batches_tracked");
  EXPECT_EQ(n.dim(), 0);
  EXPECT_EQ(n.dtype(), DType::i64);
  EXPECT_EQ(*n.data<int64_t>(), 123456789012);
}

TEST(PthReader, StripsModulePrefixOnlyWhenAsked) {
  EXPECT_TRUE(load_pth(pth_fixture("module_prefix.pth")).tensors.contains("0.weight"));
  PthOptions keep;
  keep.strip_module_prefix = false;
  const PthContents c = load_pth(pth_fixture("module_prefix.pth"), keep);
  EXPECT_TRUE(c.tensors.contains("module.0.weight"));
  EXPECT_FALSE(c.tensors.contains("0.weight"));
}

TEST(PthReader, ExplicitWrapperKey) {
  PthOptions options;
  options.key = "model";
  EXPECT_EQ(load_pth(pth_fixture("wrap_model.pth"), options).wrapper_key, "model");
  options.key = "optimizer";
  try {
    load_pth(pth_fixture("wrap_model.pth"), options);
    FAIL() << "an optimizer state dict is not a dict of tensors";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'optimizer' is not a dict of tensors"), std::string::npos) << e.what();
  }
  const PthContents c = load_pth(pth_fixture("wrap_state_dict.pth"));
  EXPECT_NE(std::find(c.top_level_keys.begin(), c.top_level_keys.end(), "cur_epoch"), c.top_level_keys.end());
}

TEST(PthReader, BrokenAndHostileFilesGiveTheirErrors) {
  ::unlink(kMarker);
  const nlohmann::json expected = expected_fixtures();
  int checked = 0;
  for (const auto& [file, spec] : expected.items()) {
    if (!spec.contains("error")) continue;
    SCOPED_TRACE(file);
    try {
      load_pth(pth_fixture(file));
      ADD_FAILURE() << file << " loaded";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(spec["error"].get<std::string>()), std::string::npos) << what;
      EXPECT_NE(what.find(file), std::string::npos) << "the message names the file: " << what;
    }
    ++checked;
  }
  EXPECT_GE(checked, 8);
  EXPECT_FALSE(testing::file_exists(kMarker)) << "a malicious pickle ran code";
}

TEST(PthReader, MaliciousPickleIsRefusedByName) {
  ::unlink(kMarker);
  try {
    load_pth(pth_fixture("malicious_system.pth"));
    FAIL() << "os.system pickle loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("refusing to load global 'posix.system'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(testing::file_exists(kMarker));
}

// zh320's last.pth: the OneCycleLR state pickles a bound method
// (builtins.getattr on the scheduler object); the state dict still loads, and
// the skipped branch is named with the globals it refers to.
TEST(PthReader, RefusedObjectsOutsideTheStateDictAreSkippedAndNamed) {
  ::unlink(kMarker);
  const nlohmann::json expected = expected_fixtures();
  int checked = 0;
  for (const auto& [file, spec] : expected.items()) {
    if (!spec.contains("skipped")) continue;
    SCOPED_TRACE(file);
    const PthContents c = load_pth(pth_fixture(file));
    EXPECT_EQ(c.tensors.size(), spec["tensors"].size());
    ASSERT_EQ(c.skipped.size(), 1u);
    for (const auto& want : spec["skipped"]) {
      EXPECT_NE(c.skipped[0].find(want.get<std::string>()), std::string::npos) << c.skipped[0];
    }
    EXPECT_NE(c.skipped[0].find("never imported or called"), std::string::npos) << c.skipped[0];
    ++checked;
  }
  EXPECT_EQ(checked, 2);
  EXPECT_FALSE(testing::file_exists(kMarker)) << "a payload outside the state dict ran";
  // Files without refused globals report nothing skipped.
  EXPECT_TRUE(load_pth(pth_fixture("wrap_state_dict.pth")).skipped.empty());
}

TEST(PthReader, RefusedObjectInsideTheStateDictIsRefusedByName) {
  ::unlink(kMarker);
  try {
    load_pth(pth_fixture("malicious_state_dict.pth"));
    FAIL() << "a state dict holding os.system loaded";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("refusing to load global 'posix.system'"), std::string::npos) << what;
    EXPECT_NE(what.find("entry 'evil'"), std::string::npos) << what;
    EXPECT_NE(what.find("nothing from the file was executed"), std::string::npos) << what;
  }
  EXPECT_FALSE(testing::file_exists(kMarker));
}

TEST(PthReader, EveryTruncationFailsCleanly) {
  const std::vector<uint8_t> whole = testing::read_bytes(pth_fixture("views.pth"));
  for (size_t n = 0; n < whole.size(); n += 7) {
    std::vector<uint8_t> part(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW(read_pth(bytes_from_vector(part), "cut"), Error) << n;
  }
}

TEST(PthReader, EveryFlippedByteFailsCleanlyOrStillLoads) {
  const std::vector<uint8_t> whole = testing::read_bytes(pth_fixture("views.pth"));
  int failures = 0;
  for (size_t i = 0; i < whole.size(); ++i) {
    std::vector<uint8_t> bad = whole;
    bad[i] ^= 0x5a;
    try {
      read_pth(bytes_from_vector(bad), "flipped");
    } catch (const Error&) {
      ++failures;
    }
  }
  EXPECT_GT(failures, static_cast<int>(whole.size() / 4));
}

TEST(PthReader, NotACheckpoint) {
  try {
    read_pth(bytes_from_string("hello world, not a zip"), "notes.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a PyTorch checkpoint"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cudaseg::weights
