#include "weights/file_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "runtime/error.h"

namespace cudaseg::weights {

namespace {

std::string errno_text() { return std::strerror(errno); }

// A folder opens like a file and reads as empty, which parsers then call "not
// valid JSON": say what it is instead.
void check_not_directory(const std::string& path) {
  struct stat st {};
  CUDASEG_CHECK(::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode), path, ": is a directory, not a file");
}

}  // namespace

Bytes Bytes::sub(uint64_t offset, uint64_t length, const std::string& what) const {
  CUDASEG_CHECK(offset <= size && length <= size - offset, what, ": range [", offset, ", +", length,
                ") lies outside the ", size, " bytes available");
  return Bytes{data + offset, static_cast<size_t>(length), owner};
}

Bytes map_file(const std::string& path) {
  check_not_directory(path);
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

std::string read_text_file(const std::string& path) {
  check_not_directory(path);
  std::ifstream in(path, std::ios::binary);
  CUDASEG_CHECK(in.good(), path, ": cannot open: ", errno_text());
  // Read in chunks up to a bound rather than to the end: a character device
  // (/dev/zero) or an endless pipe would otherwise grow the string until the
  // process runs out of memory. Pipes stay allowed (`<(...)` configs).
  std::string text;
  std::vector<char> chunk(1 << 16);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    text.append(chunk.data(), static_cast<size_t>(in.gcount()));
    CUDASEG_CHECK(text.size() <= kMaxTextFileBytes, path, ": more than ", kMaxTextFileBytes >> 20,
                  " MiB; configs and checkpoint manifests are text files far smaller than that");
  }
  CUDASEG_CHECK(!in.bad(), path, ": read failed");
  return text;
}

}  // namespace cudaseg::weights
