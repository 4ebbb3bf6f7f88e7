#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/image_io.h"

using namespace cudaseg;

namespace {
std::string fixture(const std::string& name) { return std::string(CUDASEG_TEST_DATA) + "/images/" + name; }

// The fixture's pixel rule (tools/make_image_fixtures.py).
int expected(int x, int y, int c) {
  if (c == 0) return (x * 37 + y * 11) % 256;
  if (c == 1) return (x * 5 + y * 53) % 256;
  return (x * y) % 256;
}

void expect_error(const std::string& path, const std::string& reason) {
  try {
    read_image(path);
    FAIL() << "expected an error for " << path;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find(reason), std::string::npos) << what;
  }
}
}  // namespace

TEST(ImageIO, ReadsPngAndBmpExactly) {
  for (const char* name : {"gradient_13x7.png", "gradient_13x7.bmp"}) {
    Tensor img = read_image(fixture(name));
    ASSERT_EQ(img.shape(), (Shape{7, 13, 3})) << name;
    ASSERT_EQ(img.dtype(), DType::u8);
    const uint8_t* p = img.data<uint8_t>();
    for (int y = 0; y < 7; ++y)
      for (int x = 0; x < 13; ++x)
        for (int c = 0; c < 3; ++c) ASSERT_EQ(p[(y * 13 + x) * 3 + c], expected(x, y, c)) << name;
  }
}

TEST(ImageIO, ReadsJpegApproximately) {
  Tensor img = read_image(fixture("gradient_13x7.jpg"));
  ASSERT_EQ(img.shape(), (Shape{7, 13, 3}));
  Tensor gray = read_image(fixture("gradient_13x7.jpg"), 1);
  EXPECT_EQ(gray.shape(), (Shape{7, 13, 1}));
}

TEST(ImageIO, PngWriteReadRoundTrip) {
  Tensor img = Tensor::empty({5, 9, 4}, DType::u8);
  uint8_t* p = img.data<uint8_t>();
  for (int i = 0; i < 5 * 9 * 4; ++i) p[i] = static_cast<uint8_t>(i * 7 + 3);
  const std::string path = testing::TempDir() + "roundtrip.png";
  write_png(path, img);
  Tensor back = read_image(path, 0);
  ASSERT_EQ(back.shape(), img.shape());
  EXPECT_EQ(back.to_vector(), img.to_vector());
  // A strided view is written as its logical content.
  Tensor label = img.select(2, 1);
  write_png(path, label);
  EXPECT_EQ(read_image(path, 0).squeeze(2).to_vector(), label.to_vector());
  std::remove(path.c_str());
}

// encode_png gives the bytes write_png puts in the file, with the same checks.
TEST(ImageIO, EncodePngIsTheFileInMemory) {
  Tensor img = Tensor::empty({3, 4, 3}, DType::u8);
  for (int i = 0; i < 36; ++i) img.data<uint8_t>()[i] = static_cast<uint8_t>(i * 11);
  const std::string path = testing::TempDir() + "encoded.png";
  write_png(path, img);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::string file;
  for (int c; (c = std::fgetc(f)) != EOF;) file.push_back(static_cast<char>(c));
  std::fclose(f);
  std::remove(path.c_str());
  EXPECT_EQ(encode_png(img), file);
  EXPECT_EQ(encode_png(img).substr(0, 8), "\x89PNG\r\n\x1a\n");
  EXPECT_THROW(encode_png(Tensor::zeros({2, 2})), Error);
  EXPECT_THROW(encode_png(Tensor::zeros({2, 2, 5}, DType::u8)), Error);
}

// JPEG is lossy: a smooth image comes back within a few levels at quality 95.
TEST(ImageIO, JpegWriteReadRoundTrip) {
  Tensor img = Tensor::empty({16, 24, 3}, DType::u8);
  uint8_t* p = img.data<uint8_t>();
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 24; ++x)
      for (int c = 0; c < 3; ++c) p[(y * 24 + x) * 3 + c] = static_cast<uint8_t>(40 + 4 * x + 3 * y + 20 * c);
  const std::string path = testing::TempDir() + "roundtrip.jpg";
  write_jpeg(path, img, 95);
  Tensor back = read_image(path, 3);
  ASSERT_EQ(back.shape(), img.shape());
  const std::vector<double> a = img.to_vector(), b = back.to_vector();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 8.0) << i;
  EXPECT_THROW(write_jpeg(path, img, 0), Error);
  EXPECT_THROW(write_jpeg(path, Tensor::zeros({4, 4, 3}), 90), Error);  // not u8
  std::remove(path.c_str());
}

TEST(ImageIO, BadFilesNameTheFileAndTheReason) {
  expect_error(fixture("does_not_exist.png"), "cannot open");
  expect_error(fixture("not_an_image.png"), "not a JPEG, PNG or BMP");
  expect_error(fixture("gradient_13x7_truncated.png"), "truncated");
  expect_error(fixture("gradient_13x7_truncated.jpg"), "truncated");
  expect_error(fixture("gradient_13x7_truncated.bmp"), "truncated");
  // Found by tests/fuzz/fuzz_image.cpp: their Huffman tables (the second one's
  // counts read past the file's end) overran stb_image's.
  expect_error(fixture("huffman_overflow.jpg"), "corrupt JPEG (a Huffman table of 781 codes");
  expect_error(fixture("huffman_past_end.jpg"), "corrupt JPEG (a Huffman table of 1519 codes");
  // Found by the fuzzer too: 783 bytes whose frame claims 1549x40455 pixels,
  // which stb_image filled in for 34 s (sanitised).
  expect_error(fixture("tiny_jpeg_huge_frame.jpg"), "claims 1549x40455 pixels in 783 bytes");
  // And 215 bytes whose second IDAT chunk claims 1.3 GB, for which stb_image
  // allocated 2 GB before reading it.
  expect_error(fixture("png_idat_past_end.png"), "corrupt PNG (its IDAT chunk claims 1291845687 bytes, 103 left");
  EXPECT_THROW(write_png("/nonexistent-dir/x.png", Tensor::zeros({2, 2}, DType::u8)), Error);
  EXPECT_THROW(write_png(testing::TempDir() + "f.png", Tensor::zeros({2, 2})), Error);
}

// A 45-byte PNG whose header claims 20000x20000 grey pixels (within what
// stb_image itself accepts) is refused before the decoder allocates 400 MB.
TEST(ImageIO, OversizedHeaderIsRefusedBeforeDecoding) {
  std::string png("\x89PNG\r\n\x1a\n", 8);
  auto be32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) png += static_cast<char>((v >> s) & 0xff);
  };
  be32(13);
  png += "IHDR";
  be32(20000);
  be32(20000);
  png += std::string("\x08\x00\x00\x00\x00", 5);
  be32(0);  // CRC (stb does not check it)
  be32(0);
  png += "IEND";
  be32(0);
  const std::string path = testing::TempDir() + "huge_header.png";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(png.data(), 1, png.size(), f);
  std::fclose(f);
  expect_error(path, "claims 20000x20000 pixels, over the limit");
  std::remove(path.c_str());
}

// A directory used to escape as std::ios_base::failure, /dev/zero read until
// memory ran out and a FIFO without a writer blocked: all are refused by
// type before a byte is read.
TEST(ImageIO, OnlyRegularFilesAreRead) {
  const std::string dir = testing::TempDir() + "image_io_dir";
  ::mkdir(dir.c_str(), 0755);
  expect_error(dir, "is a directory");
  expect_error("/dev/zero", "not a regular file");
  const std::string fifo = testing::TempDir() + "image_io_fifo";
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  expect_error(fifo, "not a regular file");
  ::unlink(fifo.c_str());
  ::rmdir(dir.c_str());
}
