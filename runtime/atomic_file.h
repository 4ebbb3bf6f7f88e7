// The one writer of final output files (checkpoints, exported weights, PNGs,
// plots, configs, reports, layer dumps): a file is written under a unique
// temporary name in its own folder and renamed over the final name only when
// complete, so a reader, a crash or a failed write never sees half a file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cudaseg {

// Writes a file under a unique temporary name beside `path` (mkstemp, so two
// writers of one path never share a temporary) and, on commit(), fsyncs it,
// renames it over `path` and fsyncs the folder. Destroyed without commit()
// (an exception while writing) it removes the temporary file, so the final
// name holds either the old content or the complete new one.
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
  // The temporary file's name until commit().
  const std::string& temp_path() const { return temp_path_; }

 private:
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  uint64_t position_ = 0;
};

// The whole content at once, through AtomicFile.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace cudaseg
