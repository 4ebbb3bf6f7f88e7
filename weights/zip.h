// The zip container of PyTorch checkpoints: a reader (stored and deflated
// entries, ZIP64 records, every offset and size checked against the buffer,
// CRC-32 verified) and a writer of stored entries whose data start on 64-byte
// boundaries, as torch.save lays them out.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "weights/file_io.h"

namespace cudaseg::weights {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflated
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_header_offset = 0;
  uint64_t data_offset = 0;  // resolved from the local header
};

class ZipReader {
 public:
  // Parses the central directory of `archive`; `source` names it in errors.
  ZipReader(Bytes archive, std::string source);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const;
  // The entry's content: a view into the archive for stored entries (no
  // copy), a new buffer for deflated ones. Throws on a CRC mismatch.
  Bytes read(const ZipEntry& entry) const;
  Bytes read(const std::string& name) const;

 private:
  void parse_central_directory(uint64_t offset, uint64_t size, uint64_t count);
  Bytes archive_;
  std::string source_;
  std::vector<ZipEntry> entries_;
};

// Streams a zip of stored entries through `sink`; each entry's data starts at
// a multiple of `alignment`, padded with an extra field as torch does.
class ZipWriter {
 public:
  using Sink = std::function<void(const void* data, size_t size)>;
  explicit ZipWriter(Sink sink, uint64_t alignment = 64) : sink_(std::move(sink)), alignment_(alignment) {}

  void add(const std::string& name, const void* data, size_t size);
  // Writes the central directory; the sink holds a complete archive afterwards.
  void finish();

 private:
  void emit(const void* data, size_t size);
  Sink sink_;
  uint64_t alignment_;
  uint64_t position_ = 0;
  std::vector<ZipEntry> written_;
  bool finished_ = false;
};

}  // namespace cudaseg::weights
