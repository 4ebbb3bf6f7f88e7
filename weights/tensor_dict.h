// TensorDict: named tensors in insertion order (the order of a state dict),
// strict comparison against an expected list, and the shared helpers the
// checkpoint readers use to build tensors over file bytes.
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/tensor.h"
#include "weights/file_io.h"

namespace cudaseg::weights {

class TensorDict {
 public:
  using Entry = std::pair<std::string, Tensor>;

  // Throws when `name` is already present.
  void insert(const std::string& name, Tensor tensor);
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Throws naming `name` when absent.
  const Tensor& at(const std::string& name) const;
  const Tensor* find(const std::string& name) const;
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }

 private:
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

// What a consumer (a registered net, a test) expects to find.
struct TensorSpec {
  std::string name;
  Shape shape;
  DType dtype = DType::f32;
};

// Strict loading: throws one Error listing every missing, unexpected and
// mis-shaped (or mis-typed) tensor with names, shapes and dtypes. `source`
// (a file name) prefixes the message.
// With any_floating, a floating tensor matches a floating spec of another
// precision (a float64 or float16 checkpoint for a float32 net converts).
void check_tensors(const TensorDict& tensors, const std::vector<TensorSpec>& expected,
                   const std::string& source, bool any_floating = false);

// The specs of `tensors` (for --list and for comparing two checkpoints).
std::vector<TensorSpec> specs_of(const TensorDict& tensors);

// Floating tensors converted to fp16; integer and bool tensors untouched.
TensorDict to_half(const TensorDict& tensors);

// numel(shape) * dtype size, throwing (naming `what`) on a negative
// dimension or a size beyond 2^62 bytes instead of overflowing.
uint64_t checked_nbytes(const Shape& shape, DType dtype, const std::string& what);

// Validates shape, strides and offset (in elements) against a storage of
// `storage_bytes` with overflow-safe arithmetic; throws naming `what`.
void check_view(const std::string& what, DType dtype, const Shape& shape, const Shape& strides,
                int64_t offset, uint64_t storage_bytes);

// A CPU storage over `bytes` sharing `bytes.owner`; a range not aligned to
// `dtype`'s size is copied into aligned memory instead.
std::shared_ptr<Storage> storage_over_bytes(const Bytes& bytes, DType dtype);

// A CPU tensor viewing `bytes`. The storage shares `bytes.owner`, so a
// tensor over a mapped file keeps the mapping alive and copies nothing; a
// range not aligned to the element size is copied into aligned memory.
Tensor tensor_over_bytes(const Bytes& bytes, DType dtype, const Shape& shape, const Shape& strides,
                         int64_t offset, const std::string& what);

// The tensor's elements in row-major order as little-endian bytes.
std::vector<uint8_t> contiguous_bytes(const Tensor& tensor);

}  // namespace cudaseg::weights
