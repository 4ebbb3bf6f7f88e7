// safetensors: round trip of every dtype and the metadata, and validation of
// the header length, JSON, dtypes, shapes and data offsets.
#include <gtest/gtest.h>

#include "tests/weights/helpers.h"
#include "weights/safetensors.h"

namespace cudaseg::weights {
namespace {

std::vector<uint8_t> with_header(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(header.size() >> (8 * i)));
  for (char c : header) out.push_back(static_cast<uint8_t>(c));
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<uint8_t>(i * 37 + 11));
  return out;
}

std::string error_of(const std::vector<uint8_t>& file) {
  try {
    read_safetensors(bytes_from_vector(file), "x.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Safetensors, RoundTripEveryDtypeAndMetadata) {
  testing::TempDir dir;
  const TensorDict d = testing::all_dtypes_dict(21);
  save_safetensors(dir.file("m.safetensors"), d, {{"format", "pt"}, {"origin", "test"}});
  const SafetensorsContents back = load_safetensors(dir.file("m.safetensors"));
  testing::expect_same_tensors(d, back.tensors);
  EXPECT_EQ(back.metadata.at("origin"), "test");
  const std::vector<uint8_t> bytes = testing::read_bytes(dir.file("m.safetensors"));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<size_t>(i)];
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_NE(std::string(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n)).find("\"BF16\""),
            std::string::npos);
}

TEST(Safetensors, HandWrittenFile) {
  const std::string header = R"({"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]},)"
                             R"("a":{"dtype":"U8","shape":[2,4],"data_offsets":[0,8]}})";
  const SafetensorsContents c = read_safetensors(bytes_from_vector(with_header(header, 16)), "h");
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors.entries()[0].first, "a");  // data order
  EXPECT_EQ(c.tensors.at("a").to_vector()[3], static_cast<double>((3 * 37 + 11) & 255));
  EXPECT_EQ(c.tensors.at("b").shape(), (Shape{2}));
}

TEST(Safetensors, InvalidHeadersAreRefused) {
  const auto t = [](const std::string& fields) { return "{\"t\":{" + fields + "}}"; };
  EXPECT_NE(error_of({1, 2, 3}).find("too short"), std::string::npos);
  EXPECT_NE(error_of(with_header("{}", 0)).find("no error"), std::string::npos);
  std::vector<uint8_t> huge = with_header("{}", 0);
  huge[5] = 1;
  EXPECT_NE(error_of(huge).find("exceeds the file"), std::string::npos);
  EXPECT_NE(error_of(with_header("{not json", 0)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(with_header("[1]", 0)).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(with_header(t(R"("dtype":"C64","shape":[1],"data_offsets":[0,8])"), 8)).find("'C64'"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(t(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])"), 8)).find("needs 12 bytes"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(t(R"("dtype":"F32","shape":[2],"data_offsets":[0,80])"), 8)).find("lie outside"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(t(R"("dtype":"F32","shape":[2],"data_offsets":[8,0])"), 8)).find("lie outside"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(t(R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])"), 8)).find("non-negative"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(t(R"("dtype":"F32","shape":[2])"), 8)).find("data_offsets"), std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"__metadata__":{"k":1}})", 0)).find("not a string"), std::string::npos);
  const std::string overlap = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                              R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})";
  EXPECT_NE(error_of(with_header(overlap, 8)).find("overlap"), std::string::npos);
}

}  // namespace
}  // namespace cudaseg::weights
