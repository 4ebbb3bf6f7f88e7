// Checkpoint conversion: format detection by content, loading any supported
// format into a TensorDict, and the rtseg_convert command line (apps/ holds
// only a main that calls convert_main).
#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
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

// The hook through which a net registry validates a conversion: given the
// `model` object (JSON text) it returns the parameter and buffer list the net
// expects, or nullopt when it does not know the model. With a provider set,
// `rtseg_convert --config` loads strictly against that list.
using ExpectedTensorsProvider = std::function<std::optional<std::vector<TensorSpec>>(const std::string& model_json)>;
void set_expected_tensors_provider(ExpectedTensorsProvider provider);

// rtseg_convert: returns the exit status (0 ok, 1 runtime error, 2 usage error)
// and writes to `out` and `err` instead of the process streams.
int convert_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace cudaseg::weights
