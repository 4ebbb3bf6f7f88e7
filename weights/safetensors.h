// safetensors (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {str: str}} and the data.
// Dtypes F32, F16, BF16, F64, I64, I32, U8, BOOL.
#pragma once

#include <map>
#include <string>

#include "weights/file_io.h"
#include "weights/tensor_dict.h"

namespace cudaseg::weights {

struct SafetensorsContents {
  TensorDict tensors;  // in data-offset order
  std::map<std::string, std::string> metadata;
};

// Validates the header length, the JSON, every dtype, shape and offset pair
// (inside the data, matching the shape, no overlaps); tensors view `bytes`.
SafetensorsContents read_safetensors(const Bytes& bytes, const std::string& source);
SafetensorsContents load_safetensors(const std::string& path);

// Writes atomically; the header is padded so the data starts 8-byte aligned.
void save_safetensors(const std::string& path, const TensorDict& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// True when `bytes` start with a plausible safetensors header.
bool looks_like_safetensors(const Bytes& bytes);

}  // namespace cudaseg::weights
