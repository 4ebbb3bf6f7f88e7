// Bytes in memory with shared ownership (a read-only file mapping or a
// vector). Every reader in weights/ takes Bytes,
// so the same parser serves files, in-memory buffers and the fuzz harnesses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cudaseg::weights {

// A read-only byte range kept alive by `owner`. Sub-ranges share the owner, so
// a tensor over a mapped file keeps the mapping alive and never copies it.
struct Bytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;

  // [offset, offset + length) of this range; throws naming `what` when it
  // does not lie inside.
  Bytes sub(uint64_t offset, uint64_t length, const std::string& what) const;
  std::string str() const { return std::string(reinterpret_cast<const char*>(data), size); }
};

// Maps `path` copy-on-write (MAP_PRIVATE): pages are read on first touch,
// and a write into a tensor over the mapping copies that page, never reaching
// the file. An empty file gives empty Bytes.
Bytes map_file(const std::string& path);
// Takes ownership of `data`.
Bytes bytes_from_vector(std::vector<uint8_t> data);
Bytes bytes_from_string(const std::string& data);

// A whole small file (manifests, configs), at most kMaxTextFileBytes: more is
// an error, so an endless source (/dev/zero, a pipe) cannot exhaust memory.
// Files are written through runtime/atomic_file.h.
constexpr size_t kMaxTextFileBytes = size_t{64} << 20;
std::string read_text_file(const std::string& path);

}  // namespace cudaseg::weights
