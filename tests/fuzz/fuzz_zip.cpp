// Fuzzes the zip reader: central directory, ZIP64 records, local headers,
// deflate and CRC of every entry.
#include "tests/fuzz/fuzz_common.h"
#include "weights/zip.h"

namespace w = cudaseg::weights;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    w::ZipReader zip(w::bytes_from_vector({data, data + size}), "fuzz");
    for (const w::ZipEntry& e : zip.entries()) {
      try {
        const w::Bytes b = zip.read(e);
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < b.size; ++i) sink = static_cast<uint8_t>(sink + b.data[i]);
      } catch (const cudaseg::Error&) {
      }
    }
  } catch (const cudaseg::Error&) {
  }
  return 0;
}
