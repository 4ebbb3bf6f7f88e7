// Tensor: a handle to (storage, dtype, shape, strides, offset). Copies of a
// Tensor share one TensorImpl, as in PyTorch; view methods make a new impl over
// the same storage. Strides and offsets are in elements.
//
// The methods here are the raw runtime: they never record autograd history.
// The differentiable forms of the view ops (ops::reshape, ops::permute, ...)
// live in ops/ and record onto the tape through the autograd fields below.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/dtype.h"
#include "runtime/error.h"
#include "runtime/storage.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg {

namespace autograd {
struct Node;
}

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  DType dtype = DType::f32;
  Shape shape;
  Shape strides;
  int64_t offset = 0;

  // Autograd state (see autograd/). A leaf that requires grad has no grad_fn.
  bool requires_grad = false;
  std::shared_ptr<Tensor> grad;
  std::shared_ptr<autograd::Node> grad_fn;
  std::weak_ptr<autograd::Node> grad_accumulator;  // a leaf's AccumulateGrad node
  uint32_t output_nr = 0;
};

class Tensor {
 public:
  Tensor() = default;  // undefined
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories (uninitialised, constant, from host data) ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  // Copies `values` (converted to `dtype`) into a new CPU tensor of `shape`.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            DType dtype = DType::f32);
  // 0, 1, ..., n-1.
  static Tensor arange(int64_t n, DType dtype = DType::f32, Device device = Device::cpu());
  // A tensor over existing storage, with explicit geometry (checked against the storage size).
  static Tensor from_storage(std::shared_ptr<Storage> storage, DType dtype, const Shape& shape,
                             const Shape& strides, int64_t offset);

  // ---- properties ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t offset() const { return impl().offset; }
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  size_t itemsize() const { return dtype_size(impl().dtype); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * itemsize(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  std::string str() const;  // "float32[2, 3] on cpu"

  // Pointer to element 0 of the view.
  void* raw_data() const;
  // Typed pointer to element 0; throws when T is not the tensor's dtype.
  template <typename T>
  T* data() const {
    CUDASEG_CHECK(DTypeOf<T>::value == dtype(), "data<", dtype_name(DTypeOf<T>::value),
                  ">() on a ", dtype_name(dtype()), " tensor");
    return static_cast<T*>(raw_data());
  }
  // The value of a one-element tensor as double (copied from the GPU if needed).
  double item() const;
  // All elements in row-major order, converted to double, on the host.
  std::vector<double> to_vector() const;

  // ---- views (share storage; PyTorch semantics) ----
  Tensor view(const Shape& shape) const;  // one -1 allowed; strides must allow it
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  // Elements start, start+step, ... < end along `dim`; start/end clamp like Python slices.
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;  // strict bounds
  Tensor select(int64_t dim, int64_t index) const;                  // drops `dim`
  Tensor expand(const Shape& shape) const;  // -1 keeps a size; new leading dims allowed
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor as_strided(const Shape& shape, const Shape& strides, int64_t offset) const;

  // ---- copies ----
  Tensor contiguous() const;  // this tensor when already contiguous
  Tensor clone() const;       // always a new contiguous tensor
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  Tensor to(Device device, DType dtype) const;
  // Writes `src` (same shape; any dtype or device) into this view, in place.
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(double value);

  // ---- autograd state (the tape itself is autograd/) ----
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool value);
  Tensor grad() const;  // undefined until a backward reaches this tensor
  void set_grad(const Tensor& grad) const;
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  // The same data with no history and requires_grad false.
  Tensor detach() const;
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  Tensor make_view(Shape shape, Shape strides, int64_t offset) const;
  std::shared_ptr<TensorImpl> impl_;
};

// Normalises a possibly negative dim against `ndim`, naming `op` on error.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace cudaseg
CUDASEG_API_END
