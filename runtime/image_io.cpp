#include "runtime/image_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include <stb_image.h>
#include <stb_image_write.h>

#include "runtime/atomic_file.h"
#pragma GCC diagnostic pop

namespace cudaseg {
namespace {

// Only regular files, opened without blocking: a directory, a FIFO or a
// device (/dev/zero reads forever, a FIFO without a writer blocks the open)
// is refused up front, and so is a file over kMaxImageFileBytes.
std::vector<unsigned char> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  CUDASEG_CHECK(fd >= 0, "read_image: cannot open '", path, "': ", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  CUDASEG_CHECK(::fstat(fd, &st) == 0, "read_image: cannot stat '", path, "': ", std::strerror(errno));
  CUDASEG_CHECK(!S_ISDIR(st.st_mode), "read_image: '", path, "' is a directory, not an image file");
  CUDASEG_CHECK(S_ISREG(st.st_mode), "read_image: '", path,
                "' is not a regular file (a device, FIFO or socket); images are read from regular files only");
  CUDASEG_CHECK(st.st_size <= kMaxImageFileBytes, "read_image: '", path, "' has ", st.st_size,
                " bytes, over the limit of ", kMaxImageFileBytes, " for an image file");
  std::vector<unsigned char> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    CUDASEG_CHECK(n >= 0, "read_image: error reading '", path, "': ", std::strerror(errno));
    if (n == 0) break;  // the file shrank while being read: the checks below see what is there
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

// stb_image 2.27 trusts a JPEG Huffman table's code counts: more than 256
// codes overrun its tables (found by tests/fuzz/fuzz_image.cpp). Each DHT
// segment is checked here, walking the markers as stb does: segments by
// their length, entropy-coded data up to the next marker.
void check_jpeg_tables(const std::vector<unsigned char>& b, const std::string& path) {
  size_t i = 2;
  while (i + 1 < b.size()) {
    if (b[i] != 0xFF) {
      ++i;
      continue;
    }
    const unsigned char m = b[i + 1];
    if (m == 0xFF) {
      ++i;
      continue;
    }
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
      i += 2;
      continue;
    }
    if (m == 0xD9 || i + 4 > b.size()) return;
    const size_t length = static_cast<size_t>(b[i + 2]) << 8 | b[i + 3];
    if (m == 0xC4) {
      // As stb counts: tables follow each other while the segment's length
      // is not used up, even past its end, and bytes past the file read as 0.
      int64_t left = static_cast<int64_t>(length) - 2;
      for (size_t p = i + 4; left > 0 && p < b.size();) {
        size_t codes = 0;
        for (size_t k = 1; k <= 16; ++k) codes += p + k < b.size() ? b[p + k] : 0;
        CUDASEG_CHECK(codes <= 256, "read_image: '", path, "' is a corrupt JPEG (a Huffman table of ", codes,
                      " codes; at most 256)");
        p += 17 + codes;
        left -= static_cast<int64_t>(17 + codes);
      }
    }
    i += 2 + length;
  }
}

uint32_t le32(const unsigned char* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }
uint32_t be32(const unsigned char* p) { return static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

// stb_image 2.27 grows its IDAT buffer to a chunk's claimed length before it
// reads the chunk: a 215-byte PNG claiming a 1.3 GB IDAT made it allocate
// 2 GB (found by tests/fuzz/fuzz_image.cpp). Each chunk up to IEND, walked
// as stb does, must fit in the file.
void check_png_chunks(const std::vector<unsigned char>& b, const std::string& path) {
  for (size_t i = 8; i + 8 <= b.size();) {
    const uint64_t length = be32(&b[i]), left = b.size() - i - 8;
    const std::string type(reinterpret_cast<const char*>(&b[i + 4]), 4);
    CUDASEG_CHECK(length + 4 <= left, "read_image: '", path, "' is a corrupt PNG (its ", type, " chunk claims ",
                  length, " bytes, ", left >= 4 ? left - 4 : 0, " left in the file)");
    if (type == "IEND") return;
    i += 12 + static_cast<size_t>(length);
  }
}

// stb_image decodes some truncated files without complaint (it pads a cut
// JPEG scan or BMP pixel array), so the container is checked for its end first.
void check_complete(const std::vector<unsigned char>& b, const std::string& path) {
  const size_t n = b.size();
  CUDASEG_CHECK(n > 0, "read_image: '", path, "' is empty");
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
    bool eoi = false;  // the end-of-image marker, allowing trailing padding
    for (size_t i = n - 1; i > 0 && i + 64 > n; --i)
      if (b[i - 1] == 0xFF && b[i] == 0xD9) eoi = true;
    CUDASEG_CHECK(eoi, "read_image: '", path, "' is a truncated JPEG (no end-of-image marker)");
    check_jpeg_tables(b, path);
  } else if (n >= 8 && std::memcmp(b.data(), "\x89PNG\r\n\x1a\n", 8) == 0) {
    static const unsigned char iend[] = {'I', 'E', 'N', 'D'};
    bool found = false;
    for (size_t i = n >= 12 ? n - 12 : 0; i + 4 <= n && !found; ++i) found = std::memcmp(&b[i], iend, 4) == 0;
    CUDASEG_CHECK(found, "read_image: '", path, "' is a truncated PNG (no IEND chunk)");
    check_png_chunks(b, path);
  } else if (n >= 2 && b[0] == 'B' && b[1] == 'M') {
    CUDASEG_CHECK(n >= 14 && le32(&b[2]) <= n, "read_image: '", path, "' is a truncated BMP (header says ",
                  n >= 14 ? le32(&b[2]) : 0, " bytes, file has ", n, ")");
  } else {
    CUDASEG_FAIL("read_image: '", path, "' is not a JPEG, PNG or BMP image");
  }
}

}  // namespace

Tensor read_image(const std::string& path, int channels) {
  CUDASEG_CHECK(channels >= 0 && channels <= 4, "read_image: channels must be 0..4, got ", channels);
  const std::vector<unsigned char> bytes = read_file(path);
  check_complete(bytes, path);
  int w = 0, h = 0, file_channels = 0;
  if (stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &file_channels)) {
    const int64_t claimed = static_cast<int64_t>(w) * h;
    CUDASEG_CHECK(claimed <= kMaxImagePixels, "read_image: '", path, "' claims ", w, "x", h,
                  " pixels, over the limit of ", kMaxImagePixels, " (16384x16384)");
    // A JPEG codes every 8x8 block of its full-resolution component with at
    // least one bit (a Huffman code), so it holds at most 512 pixels a byte;
    // stb_image fills what a crafted or cut file lacks, and a 783-byte file
    // claiming 1549x40455 pixels took 34 s to decode under the fuzzer.
    const bool jpeg = bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8;
    CUDASEG_CHECK(!jpeg || claimed <= 512 * static_cast<int64_t>(bytes.size()), "read_image: '", path, "' claims ",
                  w, "x", h, " pixels in ", bytes.size(),
                  " bytes, more than a JPEG can code (512 pixels a byte): a corrupt or crafted file");
  }
  unsigned char* pixels = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h,
                                                &file_channels, channels);
  CUDASEG_CHECK(pixels != nullptr, "read_image: cannot decode '", path, "': ", stbi_failure_reason());
  const int c = channels == 0 ? file_channels : channels;
  Tensor out = Tensor::empty({h, w, c}, DType::u8);
  std::memcpy(out.raw_data(), pixels, static_cast<size_t>(h) * w * c);
  stbi_image_free(pixels);
  return out;
}

namespace {

// Checks a u8 [H, W] or [H, W, C<=4] image and returns what `encode` (an
// stb_image_write *_to_func call) produces.
template <typename Encode>
std::string encode(const char* what, const std::string& path, const Tensor& image, Encode&& to_func) {
  CUDASEG_CHECK(image.dtype() == DType::u8, what, ": '", path, "': expected a uint8 image, got ", image.str());
  CUDASEG_CHECK(image.dim() == 2 || (image.dim() == 3 && image.size(2) >= 1 && image.size(2) <= 4), what, ": '",
                path, "': expected [H, W] or [H, W, C<=4], got ", shape_str(image.shape()));
  Tensor host = image.to(Device::cpu()).contiguous();
  const int h = static_cast<int>(host.size(0)), w = static_cast<int>(host.size(1));
  const int c = host.dim() == 3 ? static_cast<int>(host.size(2)) : 1;
  std::string encoded;
  auto sink = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  CUDASEG_CHECK(to_func(+sink, &encoded, w, h, c, host.raw_data()) != 0, what, ": encoding '", path, "' failed");
  return encoded;
}

int png_to_func(stbi_write_func* f, void* ctx, int w, int h, int c, const void* px) {
  return stbi_write_png_to_func(f, ctx, w, h, c, px, w * c);
}

void write_atomic(const char* what, const std::string& path, const std::string& bytes) {
  try {
    write_file_atomic(path, bytes);
  } catch (const Error& e) {
    throw e.with_context(what);
  }
}

}  // namespace

std::string encode_png(const Tensor& image) { return encode("encode_png", "(memory)", image, png_to_func); }

void write_png(const std::string& path, const Tensor& image) {
  write_atomic("write_png", path, encode("write_png", path, image, png_to_func));
}

void write_jpeg(const std::string& path, const Tensor& image, int quality) {
  CUDASEG_CHECK(quality >= 1 && quality <= 100, "write_jpeg: '", path, "': quality ", quality, " must be in 1..100");
  write_atomic("write_jpeg", path,
               encode("write_jpeg", path, image, [quality](stbi_write_func* f, void* ctx, int w, int h, int c,
                                                           const void* px) {
                 return stbi_write_jpg_to_func(f, ctx, w, h, c, px, quality);
               }));
}

}  // namespace cudaseg
