// NumPy .npy files (format versions 1.0, 2.0 and 3.0): the debug path's
// tensor exchange with Python (rtseg_infer --input-tensor / --dump-logits).
// Supported dtypes: <f4 <f8 <f2 <i8 <i4 |u1 |b1, C order only; a Fortran-order
// array, a big-endian or other dtype, a malformed header or a data size that
// disagrees with the shape is an error naming the file and the problem.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tensor.h"
#include "weights/file_io.h"

namespace cudaseg::weights {

// Maps the file and returns a CPU tensor viewing it (copied only when the
// data is not aligned to its element size); writes into the tensor never
// reach the file.
Tensor read_npy(const std::string& path);
// The same from bytes in memory; `source` names them in errors.
Tensor parse_npy(const Bytes& bytes, const std::string& source);

// The .npy encoding of `tensor` (any device, any supported dtype, any
// strides): version 1.0, laid out byte for byte as numpy 1.24's np.save.
std::vector<uint8_t> npy_bytes(const Tensor& tensor);
// Writes npy_bytes(tensor) atomically.
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace cudaseg::weights
