// Fuzzes the safetensors reader: header length, JSON, dtypes, offsets.
#include "tests/fuzz/fuzz_common.h"
#include "weights/safetensors.h"

namespace w = cudaseg::weights;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    w::fuzz::touch(w::read_safetensors(w::bytes_from_vector({data, data + size}), "fuzz").tensors);
  } catch (const cudaseg::Error&) {
  }
  return 0;
}
