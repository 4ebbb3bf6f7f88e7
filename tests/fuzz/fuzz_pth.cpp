// Fuzzes the whole .pth path: zip, unpickler, state-dict search, storages and
// views (offsets, strides) over the records.
#include "tests/fuzz/fuzz_common.h"
#include "weights/pth.h"

namespace w = cudaseg::weights;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    w::fuzz::touch(w::read_pth(w::bytes_from_vector({data, data + size}), "fuzz").tensors);
  } catch (const cudaseg::Error&) {
  }
  return 0;
}
