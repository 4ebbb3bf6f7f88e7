// Checkpoint conversion: format detection by content, loading any supported
// format into a TensorDict, and conversion between formats (rtseg_convert).
#pragma once

#include <string>
#include <vector>

#include "weights/checkpoint.h"
#include "weights/layouts.h"
#include "weights/tensor_dict.h"

namespace cudaseg::weights {

enum class CheckpointFormat { pth, safetensors, cudaseg, pdparams };
const char* format_name(CheckpointFormat format);

// By content, not by extension: a zip (or torch's legacy pickle) is .pth, any
// other bare pickle is a pickle of NumPy arrays (PaddleSeg .pdparams), a
// length-prefixed JSON header is safetensors, a cudaseg manifest (or a blob
// carrying its trailer, whose manifest lies beside it) is ours. Throws when
// none fits.
CheckpointFormat detect_format(const std::string& path);

struct LoadedTensors {
  CheckpointFormat format = CheckpointFormat::pth;
  SourceLayout layout = SourceLayout::torch;
  TensorDict tensors;
  std::string note;  // e.g. "state dict under 'model'"
  // What was skipped or changed on the way (refused objects outside the state
  // dict, layout mapping), one line each.
  std::vector<std::string> warnings;
};
// `from`: the naming layout (weights/layouts.h) the tensors are mapped from:
// "torch" keeps the names, "auto" detects it, "hf", "mmseg", "paddle".
LoadedTensors load_tensors(const std::string& path, const std::string& pth_key = "",
                           const std::string& from = "torch");

// The `model`, `classes`, `palette` and `preprocess` entries of a run config
// or checkpoint manifest JSON at `path`, copied into `ck`.
void apply_run_config(const std::string& path, Checkpoint& ck);

struct ConvertOptions {
  std::string config;  // a JSON with a "model" object: copied into the manifest, tensors checked against the net
  bool fp16 = false;   // floating tensors stored as float16
  std::string to;      // "" (cudaseg NAME.json + NAME.bin), "pth" or "safetensors"
  std::string key;     // the state dict's key inside a wrapping .pth dict
  std::string strip_prefix;  // removed from every tensor name that starts with it (e.g. "model.")
  std::string from = "auto";  // the naming layout: auto, torch, hf, mmseg or paddle
};

// `tensors` with `prefix` removed from the names that start with it; an
// error when none does (a mistyped prefix would otherwise change nothing).
TensorDict strip_name_prefix(const TensorDict& tensors, const std::string& prefix, const std::string& source);
// Converts the checkpoint at `input` (any format load_tensors reads) and
// writes `output`; returns a one-line summary of what was written. With a
// config, a Hugging Face SegFormer gets layer_norm_eps 1e-5 (its LayerNorms'),
// and a segformer checkpoint without mmseg's unused decode_head.conv_seg gets
// it as zeros. `warnings` (when given) receives LoadedTensors::warnings.
std::string convert_checkpoint(const std::string& input, const std::string& output, const ConvertOptions& options,
                               std::vector<std::string>* warnings = nullptr);

}  // namespace cudaseg::weights
