// Fuzzes the restricted unpickler on raw pickle streams, in each mode: strict,
// placeholders for refused globals (the .pth reader), NumPy arrays (.pdparams)
// and both, walking the placeholders of whatever it built.
#include "tests/fuzz/fuzz_common.h"
#include "weights/pickle.h"

namespace w = cudaseg::weights;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (int m = 0; m < 4; ++m) {
    w::UnpickleMode mode;
    mode.placeholders = (m & 1) != 0;
    mode.numpy_arrays = (m & 2) != 0;
    try {
      const w::PickleResult r = w::unpickle(data, size, "fuzz", {}, mode);
      volatile size_t sink = r.root->items.size() + r.root->entries.size() + r.root->text.size() +
                             w::placeholders_in(r.root).size();
      (void)sink;
    } catch (const cudaseg::Error&) {
    }
  }
  return 0;
}
