// PaddleSeg / Paddle checkpoints (.pdparams): a bare pickle (protocol 2 or 4)
// of a dict name -> NumPy array, read by the restricted unpickler with its
// NumPy mode (weights/pickle.h): nothing from the file is imported or called.
#pragma once

#include <string>
#include <vector>

#include "weights/file_io.h"
#include "weights/tensor_dict.h"

namespace cudaseg::weights {

struct PdparamsContents {
  TensorDict tensors;          // in the pickle's order, copied out of the pickle
  std::vector<std::string> skipped;  // non-array entries (paddle.save's StructuredToParameterName@@)
};

// Throws cudaseg::Error naming `source` on malformed input, a refused global
// or a dtype no tensor holds.
PdparamsContents read_pdparams(const Bytes& bytes, const std::string& source);
PdparamsContents load_pdparams(const std::string& path);

// True for a bare pickle that is not PyTorch's legacy (pre-zip) format.
bool looks_like_numpy_pickle(const Bytes& bytes);

}  // namespace cudaseg::weights
