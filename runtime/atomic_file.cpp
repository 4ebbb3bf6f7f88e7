#include "runtime/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "runtime/error.h"

namespace cudaseg {
namespace {

std::string errno_text() { return std::strerror(errno); }

std::string parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  std::string pattern = path_ + ".tmp-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  fd_ = ::mkstemp(buffer.data());
  CUDASEG_CHECK(fd_ >= 0, path_, ": cannot create a temporary file beside it: ", errno_text());
  temp_path_ = buffer.data();
  ::fchmod(fd_, 0644);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_path_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t size) {
  CUDASEG_CHECK(fd_ >= 0, path_, ": write after commit");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    CUDASEG_CHECK(n > 0, path_, ": write failed after ", position_, " bytes: ", errno_text());
    p += n;
    size -= static_cast<size_t>(n);
    position_ += static_cast<uint64_t>(n);
  }
}

void AtomicFile::write_zeros(size_t size) {
  static const char zeros[4096] = {};
  while (size > 0) {
    const size_t n = size < sizeof(zeros) ? size : sizeof(zeros);
    write(zeros, n);
    size -= n;
  }
}

void AtomicFile::commit() {
  CUDASEG_CHECK(fd_ >= 0, path_, ": committed twice");
  CUDASEG_CHECK(::fsync(fd_) == 0, path_, ": fsync failed: ", errno_text());
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0 || ::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(temp_path_.c_str());
    CUDASEG_FAIL(path_, ": cannot move the finished file into place: ", why);
  }
  // The rename itself must reach the disk, or a crash could bring back the old name.
  const int dir = ::open(parent_dir(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  AtomicFile file(path);
  file.write(content.data(), content.size());
  file.commit();
}

}  // namespace cudaseg
