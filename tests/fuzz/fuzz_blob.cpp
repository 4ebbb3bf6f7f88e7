// Fuzzes the blob under a fixed manifest (tensors at fixed offsets, blob id
// 00000000fuzzblob) whose blob.size follows the input's size, so that the
// trailer and the range checks are reached at every length.
#include "tests/fuzz/fuzz_common.h"
#include "weights/checkpoint.h"

namespace w = cudaseg::weights;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string manifest =
      R"({"format": "cudaseg-checkpoint", "version": 1, "model": {"name": "fuzz"},
          "blob": {"file": "fuzz.bin", "id": "00000000fuzzblob", "size": )" +
      std::to_string(size) + R"(},
          "tensors": [
            {"name": "a", "dtype": "float32", "shape": [4, 8], "offset": 0, "nbytes": 128},
            {"name": "b", "dtype": "int64", "shape": [], "offset": 128, "nbytes": 8},
            {"name": "c", "dtype": "bfloat16", "shape": [3, 0], "offset": 192, "nbytes": 0},
            {"name": "d", "dtype": "uint8", "shape": [100], "offset": 256, "nbytes": 100}]})";
  // The manifest carries no checksums: the trusted path reads the tensors,
  // the verified one refuses them (and must do so without a crash).
  w::CheckpointLoadOptions trusted;
  trusted.verify_checksums = false;
  for (const w::CheckpointLoadOptions& options : {w::CheckpointLoadOptions{}, trusted}) {
    try {
      const w::Checkpoint ck = w::parse_checkpoint(manifest, w::bytes_from_vector({data, data + size}), "fuzz", options);
      w::fuzz::touch(ck.tensors);
    } catch (const cudaseg::Error&) {
    }
  }
  return 0;
}
