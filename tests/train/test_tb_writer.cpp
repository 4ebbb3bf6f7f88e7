// TensorBoard event files (train/tb_writer.h): the TFRecord framing and the
// Event encoding byte for byte against what TensorBoard's own Python writer
// and protobuf produce (the hex below was printed by tensorboard 2.21's
// RecordWriter and event_pb2), and a written file read back record by record.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "runtime/crc32c.h"
#include "runtime/error.h"
#include "train/tb_writer.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace fs = std::filesystem;

namespace {

std::string hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : bytes) out += {digits[b >> 4], digits[b & 15]};
  return out;
}

uint64_t le64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(p[i]);
  return v;
}

uint32_t le32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(p[i]);
  return v;
}

// The payloads of a file of TFRecords, each checksum checked.
std::vector<std::string> read_records(const std::string& bytes) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < bytes.size()) {
    EXPECT_LE(at + 12, bytes.size());
    const uint64_t n = le64(&bytes[at]);
    EXPECT_EQ(le32(&bytes[at + 8]), masked_crc32c(&bytes[at], 8));
    EXPECT_LE(at + 16 + n, bytes.size());
    out.push_back(bytes.substr(at + 12, n));
    EXPECT_EQ(le32(&bytes[at + 12 + n]), masked_crc32c(&bytes[at + 12], n));
    at += 16 + n;
  }
  return out;
}

}  // namespace

TEST(TbWriter, MaskedCrcMatchesTensorBoard) {
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);  // the CRC-32C check value
  EXPECT_EQ(masked_crc32c("123456789", 9), 0xc78ab0e5u);
  EXPECT_EQ(masked_crc32c("", 0), 0xa282ead8u);
  const char length5[8] = {5, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(masked_crc32c(length5, 8), 0x3e04b2eau);
  EXPECT_EQ(hex(tfrecord("hello")), "0500000000000000eab2043e68656c6c6fbb1f1c19");
}

TEST(TbWriter, EventsMatchProtobufsEncoding) {
  EXPECT_EQ(hex(version_event(2.0)), "0900000000000000401a0d627261696e2e4576656e743a32");
  EXPECT_EQ(hex(scalar_event(1.5, 7, "loss/seg", 0.25f)),
            "09000000000000f83f10072a110a0f0a086c6f73732f736567150000803e");
  EXPECT_EQ(hex(session_start_event(2.0, 3)), "09000000000000004010033a020801");
  EXPECT_EQ(hex(image_event(2.0, 300, "val/predictions", "PNG", 2, 3, 3)),
            "09000000000000004010ac022a200a1e0a0f76616c2f70726564696374696f6e73220b0802100318032203504e47");
}

TEST(TbWriter, FileReadsBackRecordByRecord) {
  const fs::path dir = fs::temp_directory_path() / "cudaseg_test_tb_writer";
  fs::remove_all(dir);
  std::string first_path;
  {
    TbWriter tb((dir / "tb").string());
    first_path = tb.path();
    EXPECT_NE(fs::path(tb.path()).filename().string().find("events.out.tfevents."), std::string::npos);
    tb.session_start(1);
    tb.scalar("loss/total", 1, 0.5);
    // Flushed at once: a reader sees the record while the writer is open.
    std::ifstream live(tb.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(live)), std::istreambuf_iterator<char>());
    const auto records = read_records(bytes);
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[0].substr(9), std::string("\x1a\x0d") + "brain.Event:2");
    EXPECT_EQ(records[2].substr(9), scalar_event(0, 1, "loss/total", 0.5f).substr(9));
    Tensor rgb = Tensor::zeros({4, 5, 3}, DType::u8);
    tb.image("val/predictions", 1, rgb);
    EXPECT_THROW(tb.image("bad", 1, Tensor::zeros({4, 5}, DType::u8)), Error);
  }
  std::ifstream in(first_path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto records = read_records(bytes);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_NE(records[3].find("\x89PNG"), std::string::npos);
  // A second writer in the same second gets a file of its own.
  TbWriter again((dir / "tb").string());
  EXPECT_NE(again.path(), first_path);
  fs::remove_all(dir);
}
