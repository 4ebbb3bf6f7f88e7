#include "weights/zip.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "runtime/error.h"

namespace cudaseg::weights {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr uint32_t kMax32 = 0xffffffffu;

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const uint8_t* p) { return static_cast<uint32_t>(u16(p)) | (static_cast<uint32_t>(u16(p + 2)) << 16); }
uint64_t u64(const uint8_t* p) { return static_cast<uint64_t>(u32(p)) | (static_cast<uint64_t>(u32(p + 4)) << 32); }

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v));
  put16(out, static_cast<uint16_t>(v >> 16));
}

uint32_t crc_of(const uint8_t* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const uInt n = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, data, n);
    data += n;
    size -= n;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

ZipReader::ZipReader(Bytes archive, std::string source) : archive_(std::move(archive)), source_(std::move(source)) {
  const uint8_t* base = archive_.data;
  const size_t size = archive_.size;
  // The end record sits in the last 22 + 65535 bytes; prefer one whose comment
  // length reaches exactly the end of the file.
  int64_t end = -1;
  const size_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
  for (size_t pos = size >= 22 ? size - 22 + 1 : 0; pos-- > lowest;) {
    if (u32(base + pos) != kEndSig) continue;
    if (end < 0) end = static_cast<int64_t>(pos);
    if (pos + 22 + u16(base + pos + 20) == size) {
      end = static_cast<int64_t>(pos);
      break;
    }
  }
  CUDASEG_CHECK(end >= 0, source_, ": no zip end of central directory record (not a zip archive, or truncated; ",
                size, " bytes)");
  const uint8_t* e = base + end;
  uint64_t count = u16(e + 10), cd_size = u32(e + 12), cd_offset = u32(e + 16);
  CUDASEG_CHECK(u16(e + 4) == 0 || u16(e + 4) == 0xffff, source_, ": multi-disk zip archives are not supported");
  if (count == 0xffff || cd_size == kMax32 || cd_offset == kMax32) {
    CUDASEG_CHECK(end >= 20 && u32(e - 20) == kLocator64Sig, source_,
                  ": the zip end record needs ZIP64 values but has no ZIP64 locator");
    const uint64_t record = u64(e - 20 + 8);
    Bytes r = archive_.sub(record, 56, source_ + ": ZIP64 end of central directory record");
    CUDASEG_CHECK(u32(r.data) == kEnd64Sig, source_, ": ZIP64 locator points at offset ", record,
                  ", which holds no ZIP64 end record");
    count = u64(r.data + 32);
    cd_size = u64(r.data + 40);
    cd_offset = u64(r.data + 48);
  }
  parse_central_directory(cd_offset, cd_size, count);
}

void ZipReader::parse_central_directory(uint64_t offset, uint64_t size, uint64_t count) {
  Bytes cd = archive_.sub(offset, size, source_ + ": zip central directory");
  CUDASEG_CHECK(count <= size / 46, source_, ": zip central directory of ", size, " bytes cannot hold ", count,
                " entries");
  std::unordered_set<std::string> names;
  size_t pos = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const std::string where = source_ + ": zip central directory entry " + std::to_string(i);
    Bytes h = cd.sub(pos, 46, where);
    CUDASEG_CHECK(u32(h.data) == kCentralSig, where, ": bad signature at offset ", offset + pos);
    const uint16_t flags = u16(h.data + 8), name_len = u16(h.data + 28), extra_len = u16(h.data + 30),
                   comment_len = u16(h.data + 32);
    ZipEntry entry;
    entry.method = u16(h.data + 10);
    entry.crc32 = u32(h.data + 16);
    entry.compressed_size = u32(h.data + 20);
    entry.size = u32(h.data + 24);
    entry.local_header_offset = u32(h.data + 42);
    entry.name = cd.sub(pos + 46, name_len, where + " name").str();
    Bytes extra = cd.sub(pos + 46 + name_len, extra_len, where + " extra field");
    cd.sub(pos + 46 + name_len + extra_len, comment_len, where + " comment");
    for (size_t x = 0; x + 4 <= extra.size;) {
      const uint16_t id = u16(extra.data + x), len = u16(extra.data + x + 2);
      Bytes field = extra.sub(x + 4, len, where + " extra field record");
      if (id == 0x0001) {  // ZIP64: the 64-bit values of the fields saturated above, in order
        size_t f = 0;
        auto take = [&](uint64_t& value) {
          if (value != kMax32) return;
          CUDASEG_CHECK(f + 8 <= field.size, where, ": ZIP64 extra field too short");
          value = u64(field.data + f);
          f += 8;
        };
        take(entry.size);
        take(entry.compressed_size);
        take(entry.local_header_offset);
      }
      x += 4 + len;
    }
    pos += 46 + static_cast<size_t>(name_len) + extra_len + comment_len;
    const std::string label = source_ + ": zip entry '" + entry.name + "'";
    CUDASEG_CHECK((flags & 1) == 0, label, " is encrypted");
    CUDASEG_CHECK(entry.method == 0 || entry.method == 8, label, " uses compression method ", entry.method,
                  " (only stored and deflated are supported)");
    CUDASEG_CHECK(entry.method != 0 || entry.size == entry.compressed_size, label, " is stored with size ",
                  entry.size, " but compressed size ", entry.compressed_size);
    CUDASEG_CHECK(names.insert(entry.name).second, label, " appears twice");
    Bytes local = archive_.sub(entry.local_header_offset, 30, label + " local header");
    CUDASEG_CHECK(u32(local.data) == kLocalSig, label, ": no local header at offset ", entry.local_header_offset);
    const uint64_t local_name_len = u16(local.data + 26), local_extra_len = u16(local.data + 28);
    CUDASEG_CHECK(archive_.sub(entry.local_header_offset + 30, local_name_len, label + " local name").str() ==
                      entry.name,
                  label, ": the local header names another file");
    entry.data_offset = entry.local_header_offset + 30 + local_name_len + local_extra_len;
    archive_.sub(entry.data_offset, entry.compressed_size, label + " data");
    entries_.push_back(std::move(entry));
  }
}

const ZipEntry* ZipReader::find(const std::string& name) const {
  for (const ZipEntry& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Bytes ZipReader::read(const std::string& name) const {
  const ZipEntry* entry = find(name);
  CUDASEG_CHECK(entry != nullptr, source_, ": zip archive has no entry '", name, "'");
  return read(*entry);
}

Bytes ZipReader::read(const ZipEntry& entry) const {
  const std::string label = source_ + ": zip entry '" + entry.name + "'";
  Bytes raw = archive_.sub(entry.data_offset, entry.compressed_size, label + " data");
  Bytes out;
  if (entry.method == 0) {
    out = raw;
  } else {
    // Deflate expands at most ~1032:1; a larger claim is a corrupt or hostile header.
    CUDASEG_CHECK(entry.size <= entry.compressed_size * 1040 + 1024, label, " claims ", entry.size,
                  " bytes from ", entry.compressed_size, " compressed");
    // One spare byte: zlib rejects a null output pointer for empty entries.
    std::vector<uint8_t> buffer(static_cast<size_t>(entry.size) + 1);
    z_stream zs{};
    CUDASEG_CHECK(inflateInit2(&zs, -MAX_WBITS) == Z_OK, label, ": zlib initialisation failed");
    zs.next_in = const_cast<Bytef*>(raw.data);
    zs.next_out = buffer.data();
    int rc = Z_OK;
    size_t in_left = raw.size, out_left = buffer.size() - 1;
    while (rc == Z_OK) {
      zs.avail_in = static_cast<uInt>(std::min<size_t>(in_left, 1u << 30));
      zs.avail_out = static_cast<uInt>(std::min<size_t>(out_left, 1u << 30));
      const uInt in_before = zs.avail_in, out_before = zs.avail_out;
      rc = inflate(&zs, Z_NO_FLUSH);
      in_left -= in_before - zs.avail_in;
      out_left -= out_before - zs.avail_out;
      if (rc == Z_OK && in_before == zs.avail_in && out_before == zs.avail_out) rc = Z_BUF_ERROR;
    }
    inflateEnd(&zs);
    CUDASEG_CHECK(rc == Z_STREAM_END && out_left == 0, label, ": corrupt deflate data (zlib code ", rc, ", ",
                  entry.size - out_left, " of ", entry.size, " bytes inflated)");
    buffer.pop_back();
    out = bytes_from_vector(std::move(buffer));
  }
  const uint32_t crc = crc_of(out.data, out.size);
  CUDASEG_CHECK(crc == entry.crc32, label, ": CRC-32 mismatch (stored ", entry.crc32, ", computed ", crc,
                "): the file is corrupt");
  return out;
}

void ZipWriter::emit(const void* data, size_t size) {
  if (size == 0) return;
  sink_(data, size);
  position_ += size;
}

void ZipWriter::add(const std::string& name, const void* data, size_t size) {
  CUDASEG_CHECK(!finished_, "zip writer: add('", name, "') after finish()");
  CUDASEG_CHECK(name.size() < 0xffff, "zip writer: name too long");
  ZipEntry entry;
  entry.name = name;
  entry.size = entry.compressed_size = size;
  entry.crc32 = crc_of(static_cast<const uint8_t*>(data), size);
  entry.local_header_offset = position_;
  const uint64_t unpadded = position_ + 30 + name.size() + 4;
  const uint64_t pad = (alignment_ - unpadded % alignment_) % alignment_;
  entry.data_offset = unpadded + pad;
  CUDASEG_CHECK(entry.data_offset + size < kMax32, "zip writer: archives over 4 GiB are not supported ('",
                name, "')");
  std::vector<uint8_t> h;
  put32(h, kLocalSig);
  put16(h, 20);
  put16(h, 0x0800);  // UTF-8 names
  put16(h, 0);
  put16(h, 0);
  put16(h, 0);
  put32(h, entry.crc32);
  put32(h, static_cast<uint32_t>(size));
  put32(h, static_cast<uint32_t>(size));
  put16(h, static_cast<uint16_t>(name.size()));
  put16(h, static_cast<uint16_t>(4 + pad));
  h.insert(h.end(), name.begin(), name.end());
  put16(h, 0x4246);  // "FB": torch's padding record
  put16(h, static_cast<uint16_t>(pad));
  h.resize(h.size() + pad, 'Z');
  emit(h.data(), h.size());
  emit(data, size);
  written_.push_back(std::move(entry));
}

void ZipWriter::finish() {
  CUDASEG_CHECK(!finished_, "zip writer: finish() called twice");
  finished_ = true;
  const uint64_t cd_offset = position_;
  std::vector<uint8_t> cd;
  for (const ZipEntry& e : written_) {
    put32(cd, kCentralSig);
    put16(cd, 20);
    put16(cd, 20);
    put16(cd, 0x0800);
    put16(cd, 0);
    put16(cd, 0);
    put16(cd, 0);
    put32(cd, e.crc32);
    put32(cd, static_cast<uint32_t>(e.size));
    put32(cd, static_cast<uint32_t>(e.size));
    put16(cd, static_cast<uint16_t>(e.name.size()));
    put16(cd, 0);
    put16(cd, 0);
    put16(cd, 0);
    put16(cd, 0);
    put32(cd, 0);
    put32(cd, static_cast<uint32_t>(e.local_header_offset));
    cd.insert(cd.end(), e.name.begin(), e.name.end());
  }
  CUDASEG_CHECK(written_.size() < 0xffff && cd_offset + cd.size() < kMax32,
                "zip writer: archives over 4 GiB or 65535 entries are not supported");
  const uint32_t cd_size = static_cast<uint32_t>(cd.size());
  put32(cd, kEndSig);
  put16(cd, 0);
  put16(cd, 0);
  put16(cd, static_cast<uint16_t>(written_.size()));
  put16(cd, static_cast<uint16_t>(written_.size()));
  put32(cd, cd_size);
  put32(cd, static_cast<uint32_t>(cd_offset));
  put16(cd, 0);
  emit(cd.data(), cd.size());
}

}  // namespace cudaseg::weights
