// weights/npy.h against numpy's own files (tests/data/infer/npy, written by
// tools/make_npy_fixtures.py): every dtype and header version read exactly,
// our writer reproducing numpy's bytes, round trips, and a clear error for
// each malformed or unsupported file.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/testing.h"
#include "tests/weights/helpers.h"
#include "weights/npy.h"

namespace cudaseg::infer {
namespace {

using namespace cudaseg::weights;

namespace wt = cudaseg::weights::testing;

std::string npy_fixture(const std::string& name) { return std::string(CUDASEG_TEST_DATA) + "/infer/npy/" + name; }

nlohmann::json expected() {
  std::ifstream in(npy_fixture("expected.json"));
  return nlohmann::json::parse(in);
}

DType dtype_of_code(const std::string& code) {
  if (code == "<f4") return DType::f32;
  if (code == "<f8") return DType::f64;
  if (code == "<f2") return DType::f16;
  if (code == "<i8") return DType::i64;
  if (code == "<i4") return DType::i32;
  if (code == "|u1") return DType::u8;
  if (code == "|b1") return DType::boolean;
  ADD_FAILURE() << code;
  return DType::f32;
}

TEST(Npy, ReadsEveryNumpyFixtureExactly) {
  const nlohmann::json all = expected();
  ASSERT_GE(all.size(), 12u);
  for (const auto& [name, e] : all.items()) {
    const Tensor t = read_npy(npy_fixture(name));
    EXPECT_EQ(t.dtype(), dtype_of_code(e["dtype"])) << name;
    EXPECT_EQ(t.shape(), e["shape"].get<Shape>()) << name;
    std::vector<double> want;
    for (const auto& v : e["values"]) want.push_back(v.is_boolean() ? double(v.get<bool>()) : v.get<double>());
    EXPECT_EQ(t.to_vector(), want) << name;
  }
}

TEST(Npy, WriterReproducesNumpyBytes) {
  const nlohmann::json all = expected();
  for (const auto& [name, e] : all.items()) {
    if (name == "f4_v2.npy" || name == "f4_v3.npy") continue;  // numpy wrote those versions on request
    EXPECT_EQ(npy_bytes(read_npy(npy_fixture(name))), wt::read_bytes(npy_fixture(name))) << name;
  }
}

TEST(Npy, RoundTripOfStridedTensorsOfEveryDtype) {
  wt::TempDir dir;
  const DType dtypes[] = {DType::f32, DType::f64, DType::f16, DType::i64, DType::i32, DType::u8, DType::boolean};
  int seed = 1;
  for (DType dt : dtypes) {
    const Tensor base = wt::random_tensor({3, 4, 5}, dt, seed++);
    const Tensor view = base.permute({2, 0, 1}).slice(0, 1, 5);  // non-contiguous
    const std::string path = dir.file(std::string(dtype_name(dt)) + ".npy");
    write_npy(path, view);
    const Tensor back = read_npy(path);
    EXPECT_EQ(back.dtype(), dt);
    EXPECT_EQ(back.shape(), view.shape());
    EXPECT_EQ(wt::hex_of(back), wt::hex_of(view)) << dtype_name(dt);
  }
  write_npy(dir.file("scalar.npy"), Tensor::from_vector({2.5}, {}, DType::f64));
  EXPECT_EQ(read_npy(dir.file("scalar.npy")).to_vector(), std::vector<double>{2.5});
}

TEST(Npy, MalformedAndUnsupportedFilesAreClearErrors) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"bad_fortran.npy", {"bad_fortran.npy", "Fortran-order"}},
      {"bad_bigendian.npy", {"unsupported .npy dtype '>f4'", "<f4"}},
      {"bad_dtype.npy", {"unsupported .npy dtype '<c8'"}},
      {"bad_truncated.npy", {"holds 59 bytes", "needs 64"}},
      {"bad_trailing.npy", {"holds 68 bytes", "needs 64"}},
      {"bad_magic.npy", {"not a .npy file"}},
      {"bad_header_len.npy", {"runs past the end"}},
      {"bad_header.npy", {"malformed .npy header", "expected a string, True, False or a tuple"}},
      {"bad_bool.npy", {"bool element 5 is 2"}},
      {"missing.npy", {"missing.npy"}},
  };
  for (const auto& [name, fragments] : cases)
    EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { read_npy(npy_fixture(name)); }, fragments)) << name;
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { npy_bytes(Tensor::zeros({2}, DType::bf16)); },
                                                  {"no .npy dtype for bfloat16"}));
  std::string deep = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::string(17 * 3, ' ') + "), }";
  for (int i = 0; i < 17; ++i) deep.replace(i * 3 + 51, 2, "1,");
  const std::string deep_file = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(deep.size()) + '\0' + deep +
                                std::string(4, '\0');
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { parse_npy(bytes_from_string(deep_file), "deep"); },
                                                  {"more than 16 dimensions"}));
  const std::vector<uint8_t> bad_version = {0x93, 'N', 'U', 'M', 'P', 'Y', 4, 0, 0, 0};
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { parse_npy(bytes_from_vector(bad_version), "v4"); }, {"unsupported .npy version 4.0"}));
}

}  // namespace
}  // namespace cudaseg::infer
