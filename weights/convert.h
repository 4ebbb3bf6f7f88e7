// Checkpoint conversion: format detection by content, loading any supported
// format into a TensorDict, and conversion between formats (rtseg_convert).
#pragma once

#include <string>
#include <vector>

#include "weights/checkpoint.h"
#include "weights/tensor_dict.h"

namespace cudaseg::weights {

enum class CheckpointFormat { pth, safetensors, cudaseg };
const char* format_name(CheckpointFormat format);

// By content, not by extension: a zip or pickle is .pth, a length-prefixed
// JSON header is safetensors, a cudaseg manifest (or a blob carrying its
// trailer, whose manifest lies beside it) is ours. Throws when none fits.
CheckpointFormat detect_format(const std::string& path);

struct LoadedTensors {
  CheckpointFormat format = CheckpointFormat::pth;
  TensorDict tensors;
  std::string note;  // e.g. "state dict under 'model'"
};
LoadedTensors load_tensors(const std::string& path, const std::string& pth_key = "");

// The `model`, `classes`, `palette` and `preprocess` entries of a run config
// or checkpoint manifest JSON at `path`, copied into `ck`.
void apply_run_config(const std::string& path, Checkpoint& ck);

struct ConvertOptions {
  std::string config;  // a JSON with a "model" object: copied into the manifest, tensors checked against the net
  bool fp16 = false;   // floating tensors stored as float16
  std::string to;      // "" (cudaseg NAME.json + NAME.bin), "pth" or "safetensors"
  std::string key;     // the state dict's key inside a wrapping .pth dict
  std::string strip_prefix;  // removed from every tensor name that starts with it (e.g. "model.")
};

// `tensors` with `prefix` removed from the names that start with it; an
// error when none does (a mistyped prefix would otherwise change nothing).
TensorDict strip_name_prefix(const TensorDict& tensors, const std::string& prefix, const std::string& source);
// Converts the checkpoint at `input` (any format load_tensors reads) and
// writes `output`; returns a one-line summary of what was written.
std::string convert_checkpoint(const std::string& input, const std::string& output, const ConvertOptions& options);

}  // namespace cudaseg::weights
