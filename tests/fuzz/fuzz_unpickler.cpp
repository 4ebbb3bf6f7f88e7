// Fuzzes the restricted unpickler on raw pickle streams.
#include "tests/fuzz/fuzz_common.h"
#include "weights/pickle.h"

namespace w = cudaseg::weights;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const w::PickleResult r = w::unpickle(data, size, "fuzz");
    volatile size_t sink = r.root->items.size() + r.root->entries.size() + r.root->text.size();
    (void)sink;
  } catch (const cudaseg::Error&) {
  }
  return 0;
}
