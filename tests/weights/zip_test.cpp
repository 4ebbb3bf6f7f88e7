// The zip reader and writer: layout torch expects, ZIP64 and deflate, and
// header fields that point outside the archive.
#include <gtest/gtest.h>

#include "tests/weights/helpers.h"
#include "weights/zip.h"

namespace cudaseg::weights {
namespace {

std::vector<uint8_t> small_archive(std::vector<std::string>* contents) {
  std::vector<uint8_t> out;
  ZipWriter zip([&out](const void* p, size_t n) {
    out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  });
  contents->clear();
  for (int i = 0; i < 4; ++i) {
    std::string data;
    for (int k = 0; k < 13 * i + 1; ++k) data += static_cast<char>('a' + (k * 7 + i) % 26);
    contents->push_back(data);
    zip.add("archive/data/" + std::to_string(i), data.data(), data.size());
  }
  zip.finish();
  return out;
}

TEST(Zip, WriterOutputReadsBackAlignedAndZeroCopy) {
  std::vector<std::string> contents;
  const Bytes archive = bytes_from_vector(small_archive(&contents));
  ZipReader zip(archive, "mem.zip");
  ASSERT_EQ(zip.entries().size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const ZipEntry& e = zip.entries()[i];
    EXPECT_EQ(e.name, "archive/data/" + std::to_string(i));
    EXPECT_EQ(e.data_offset % 64, 0u);
    const Bytes b = zip.read(e);
    EXPECT_EQ(b.str(), contents[i]);
    EXPECT_EQ(b.data, archive.data + e.data_offset);
  }
}

TEST(Zip, DeflatedAndZip64FixturesMatchTheStoredOnes) {
  ZipReader stored(map_file(testing::pth_fixture("dtypes.pth")), "dtypes.pth");
  ZipReader deflated(map_file(testing::pth_fixture("deflated.pth")), "deflated.pth");
  ASSERT_EQ(stored.entries().size(), deflated.entries().size());
  for (const ZipEntry& e : stored.entries()) {
    const ZipEntry* d = deflated.find(e.name);
    ASSERT_NE(d, nullptr) << e.name;
    EXPECT_EQ(d->method, 8) << e.name;
    EXPECT_EQ(deflated.read(*d).str(), stored.read(e).str()) << e.name;
  }
  ZipReader zip64(map_file(testing::pth_fixture("zip64.pth")), "zip64.pth");
  ZipReader plain(map_file(testing::pth_fixture("views.pth")), "views.pth");
  for (const ZipEntry& e : plain.entries()) EXPECT_EQ(zip64.read(e.name).str(), plain.read(e).str()) << e.name;
}

TEST(Zip, BadCrcIsDetected) {
  ZipReader zip(map_file(testing::pth_fixture("bad_crc.pth")), "bad_crc.pth");
  try {
    zip.read("dtypes/data/0");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CRC-32 mismatch"), std::string::npos) << e.what();
  }
}

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}

TEST(Zip, OffsetsAndSizesOutsideTheArchiveAreRefused) {
  std::vector<std::string> contents;
  const std::vector<uint8_t> good = small_archive(&contents);
  const size_t end = good.size() - 22;
  const uint32_t cd = good[end + 16] | (good[end + 17] << 8) | (good[end + 18] << 16) | (uint32_t{good[end + 19]} << 24);
  struct Case {
    size_t at;
    uint32_t value;
    const char* message;
  };
  const Case cases[] = {
      {end + 16, 0x7fffff00u, "central directory"},         // directory offset
      {end + 12, 0x7fffff00u, "central directory"},         // directory size
      {end + 10, 0x0000ffffu, "ZIP64"},                     // entry count saturated, no ZIP64 record
      {cd + 42, 0x7fffff00u, "local header"},               // first entry's local header
      {cd + 20, 0x7fffff00u, "stored with size"},           // compressed size
      {cd + 16, 0x12345678u, "CRC-32 mismatch"},            // CRC
      {cd + 10, 0x00000063u, "compression method 99"},      // method (and time)
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> bad = good;
    if (c.at == end + 10) {
      bad[c.at] = 0xff;
      bad[c.at + 1] = 0xff;
    } else {
      put32(bad, c.at, c.value);
    }
    try {
      ZipReader zip(bytes_from_vector(bad), "bad.zip");
      for (const ZipEntry& e : zip.entries()) zip.read(e);
      ADD_FAILURE() << c.message;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace cudaseg::weights
