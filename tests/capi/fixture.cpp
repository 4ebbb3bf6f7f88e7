// The one piece of tests/capi that is C++: it writes the checkpoint the C
// tests load (the test_infer suite's small net, registered in this process).
#include <exception>
#include <cstdio>

#include "tests/infer/infer_testing.h"
#include "weights/checkpoint.h"

extern "C" int capi_fixture_checkpoint(const char* path, int num_classes) {
  try {
    namespace it = cudaseg::infer_testing;
    cudaseg::weights::save_checkpoint(path, it::make_checkpoint(it::test_model(8, num_classes), 7));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "capi_fixture_checkpoint: %s\n", e.what());
    return 1;
  }
}
