// cudaseg's own checkpoint: NAME.json (the manifest) + NAME.bin (the blob of
// raw little-endian tensor data, each tensor 64-byte aligned). The format is
// specified in docs/checkpoint-format.md. Loading maps the blob and views it
// (no copy); saving is atomic per file and the pair is tied by a blob id, so
// a crash mid-save never yields tensors read from the wrong blob.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "weights/file_io.h"
#include "weights/tensor_dict.h"

namespace cudaseg::weights {

inline constexpr const char* kCheckpointFormat = "cudaseg-checkpoint";
inline constexpr int kCheckpointVersion = 1;

// How images are turned into the net's input: x = (pixel * scale - mean) / std
// per channel, channels in `channel_order`, sized by `fit`:
//   "resize"  bilinearly to `input_size` ([H, W]), the logits resized back;
//   "pad"     bottom and right to the net's size divisor (nn/registry.h) with
//             x = 0, the logits cropped back to the image;
//   "none"    the image's own size (the net must accept it).
// An empty fit (checkpoints written before it existed) is "resize" when
// input_size is set, else "pad": resolved_fit().
struct Preprocess {
  std::vector<double> mean{0.485, 0.456, 0.406};
  std::vector<double> std{0.229, 0.224, 0.225};
  double scale = 1.0 / 255.0;
  std::string channel_order = "RGB";
  std::vector<int64_t> input_size;
  std::string fit;
};

// p.fit, or its default when empty; throws for an unknown fit and for
// "resize" without an input_size.
std::string resolved_fit(const Preprocess& p);

// What a training run needs to resume exactly. JSON-valued fields hold JSON
// text (an object), which keeps the JSON library out of this header.
struct TrainState {
  int64_t step = 0;
  int64_t epoch = 0;
  uint64_t rng_seed = 0;    // runtime/rng.h Generator state
  uint64_t rng_offset = 0;
  std::string loader_json = "{}";     // data-loader position (epoch, index, shuffle seed, ...)
  std::string optimizer_json = "{}";  // optimizer name and hyper-parameters
  TensorDict optimizer;               // optimizer tensors ("exp_avg/backbone.conv1.weight", ...)
};

struct Checkpoint {
  std::string model_json = "{}";  // the registry `model` object: {"name": "stdc", ...}
  Preprocess preprocess;
  std::vector<std::string> class_names;
  std::vector<std::array<uint8_t, 3>> palette;  // RGB per class
  TensorDict tensors;                           // parameters and buffers, state-dict names
  std::optional<TrainState> train_state;
  std::string metadata_json = "{}";  // free-form provenance (source file, converter, ...)
};

struct CheckpointLoadOptions {
  // When set, the tensors must match exactly (weights/tensor_dict.h check_tensors).
  std::optional<std::vector<TensorSpec>> expected;
  // Each tensor's CRC-32C against the manifest's. Off is the trusted fast
  // path: a manifest without checksums is then accepted too.
  bool verify_checksums = true;
  // NaN or Inf in a floating-point tensor is refused, naming it; on only for
  // debugging a diverged run.
  bool allow_nonfinite = false;
};

// NAME.json and NAME.bin for a path ending in .json or .bin, or a bare NAME.
struct CheckpointPaths {
  std::string json, bin;
};
CheckpointPaths checkpoint_paths(const std::string& path);

// One commit, so a crash at any instant leaves wholly the old or wholly the
// new checkpoint: the blob is written as NAME.bin.pending-<id> (a name no
// other save uses), then NAME.json is renamed into place naming blob id <id>:
// that rename is the commit. The pending blob is then renamed over NAME.bin.
// A crash before that last rename leaves a manifest whose blob is still
// pending, which loading finds and the next save or clean_checkpoint_files
// moves into place. Stale temporary and pending files of NAME are removed
// first (after that roll-forward).
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// Completes an interrupted save of NAME (the rename of a committed pending
// blob) and removes NAME's stale temporary and pending files.
void clean_checkpoint_files(const std::string& path);

// Maps NAME.bin and returns tensors viewing the mapping; every offset and
// size is checked against the blob before use.
Checkpoint load_checkpoint(const std::string& path, const CheckpointLoadOptions& options = {});

// The same from memory (fuzzing, tests): `manifest` is the JSON text, `blob`
// the bytes of NAME.bin; `source` names them in errors.
Checkpoint parse_checkpoint(const std::string& manifest, const Bytes& blob, const std::string& source,
                            const CheckpointLoadOptions& options = {});

// True when `bytes` start like a cudaseg manifest (a JSON object naming the format).
bool looks_like_manifest(const Bytes& bytes);

namespace test_hooks {
// Called at each step of save_checkpoint (after each tensor is written
// "blob.tensor", then "blob.committed", "manifest.committed", "blob.renamed"),
// so a test can crash the process there; empty: none.
void set_save_fault_hook(std::function<void(const char* point)> hook);
}  // namespace test_hooks

}  // namespace cudaseg::weights
