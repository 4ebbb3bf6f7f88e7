// Fuzzes the JSON manifest against a fixed, valid 4 KiB blob whose id is
// 00000000fuzzblob (the seeds in corpus/manifest use it).
#include "tests/fuzz/fuzz_common.h"
#include "weights/checkpoint.h"

namespace w = cudaseg::weights;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const w::Bytes blob = [] {
    std::vector<uint8_t> b(4096);
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 131 + 7);
    const char trailer[] = "CUDASEG-BLOB-v1\n00000000fuzzblob";
    b.insert(b.end(), trailer, trailer + 32);
    return w::bytes_from_vector(std::move(b));
  }();
  // Verified (checksums, finite values) and trusted: a fuzzed manifest rarely
  // holds the right checksums, so the trusted path reaches the rest of the reader.
  w::CheckpointLoadOptions trusted;
  trusted.verify_checksums = false;
  trusted.allow_nonfinite = true;
  for (const w::CheckpointLoadOptions& options : {w::CheckpointLoadOptions{}, trusted}) {
    try {
      const w::Checkpoint ck =
          w::parse_checkpoint(std::string(reinterpret_cast<const char*>(data), size), blob, "fuzz", options);
      w::fuzz::touch(ck.tensors);
      if (ck.train_state) w::fuzz::touch(ck.train_state->optimizer);
    } catch (const cudaseg::Error&) {
    }
  }
  return 0;
}
