#include "weights/file_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "runtime/error.h"

namespace cudaseg::weights {

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Bytes Bytes::sub(uint64_t offset, uint64_t length, const std::string& what) const {
  CUDASEG_CHECK(offset <= size && length <= size - offset, what, ": range [", offset, ", +", length,
                ") lies outside the ", size, " bytes available");
  return Bytes{data + offset, static_cast<size_t>(length), owner};
}

Bytes map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  CUDASEG_CHECK(fd >= 0, path, ": cannot open: ", errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    CUDASEG_FAIL(path, ": not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return Bytes{};
  }
  void* ptr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const std::string why = errno_text();
  ::close(fd);
  CUDASEG_CHECK(ptr != MAP_FAILED, path, ": cannot map ", size, " bytes: ", why);
  std::shared_ptr<const void> owner(ptr, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  return Bytes{static_cast<const uint8_t*>(ptr), size, std::move(owner)};
}

Bytes bytes_from_vector(std::vector<uint8_t> data) {
  auto holder = std::make_shared<std::vector<uint8_t>>(std::move(data));
  return Bytes{holder->data(), holder->size(), holder};
}

Bytes bytes_from_string(const std::string& data) {
  return bytes_from_vector(std::vector<uint8_t>(data.begin(), data.end()));
}

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

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  CUDASEG_CHECK(in.good(), path, ": cannot open: ", errno_text());
  std::ostringstream text;
  text << in.rdbuf();
  CUDASEG_CHECK(!in.bad(), path, ": read failed");
  return text.str();
}

void write_file_atomic(const std::string& path, const std::string& content) {
  AtomicFile file(path);
  file.write(content.data(), content.size());
  file.commit();
}

}  // namespace cudaseg::weights
