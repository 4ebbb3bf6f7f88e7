// Bytes in memory with shared ownership (a read-only file mapping or a
// vector), and atomic file replacement. Every reader in weights/ takes Bytes,
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

// Writes a file under a temporary name in the same folder and, on commit(),
// fsyncs it, renames it over `path` and fsyncs the folder. Destroyed without
// commit() (an exception while writing) it removes the temporary file, so the
// final name holds either the old content or the complete new one.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  void write(const void* data, size_t size);
  void write_zeros(size_t size);
  uint64_t position() const { return position_; }
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  uint64_t position_ = 0;
};

// Whole-file helpers for small files (manifests, configs).
std::string read_text_file(const std::string& path);
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace cudaseg::weights
