// PyTorch checkpoints (.pth, .pt) in the zip format of torch.save (PyTorch
// 1.6 and later): reading without Python and without executing anything from
// the file (weights/pickle.h), and writing state dicts torch.load accepts
// with weights_only=True.
#pragma once

#include <string>
#include <vector>

#include "weights/file_io.h"
#include "weights/tensor_dict.h"

namespace cudaseg::weights {

struct PthOptions {
  // The key of the state dict inside a wrapping dict; empty picks the first
  // of state_dict, model_state_dict, model, ema that holds tensors.
  std::string key;
  // Strip the "module." prefix of nn.DataParallel / DDP when every name has it.
  bool strip_module_prefix = true;
};

struct PthContents {
  TensorDict tensors;
  std::string wrapper_key;  // the key the state dict came from; empty for a bare one
  std::vector<std::string> top_level_keys;
  // One line per top-level entry outside the state dict that refers to
  // globals the reader refuses (an LR scheduler's bound method, an optimizer
  // object): kept as inert placeholders, never imported or called, and skipped.
  std::vector<std::string> skipped;
};

// Reads a .pth from memory. Tensors over stored entries view `bytes` (no copy:
// with map_file the tensors share the mapping); tensors sharing one storage in
// the file share one Storage. Throws cudaseg::Error naming `source` on
// anything malformed, on a global outside the allowed list inside the state
// dict (outside it, see `skipped`), and on the legacy pre-zip format (with how
// to re-save it).
PthContents read_pth(const Bytes& bytes, const std::string& source, const PthOptions& options = {});
PthContents load_pth(const std::string& path, const PthOptions& options = {});

// An OrderedDict of `tensors` in torch.save's zip layout: `archive/data.pkl`,
// `archive/data/N` (stored, 64-byte aligned), `archive/version` and
// `archive/byteorder`. Tensors sharing a storage stay views of one record.
std::vector<uint8_t> pth_bytes(const TensorDict& tensors);
// Writes atomically (runtime/atomic_file.h).
void save_pth(const std::string& path, const TensorDict& tensors);

// True when `bytes` start like a pickle or zip PyTorch checkpoint.
bool looks_like_pth(const Bytes& bytes);

}  // namespace cudaseg::weights
