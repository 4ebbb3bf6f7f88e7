#include "runtime/tensor.h"

#include <algorithm>
#include <sstream>

#include "cudaseg_config.h"
#include "runtime/gpu.h"
#include "runtime/host_copy.h"
#include "runtime/strided.h"
#if CUDASEG_WITH_CUDA
#include "runtime/cuda/kernels.h"
#endif

namespace cudaseg {

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape)
    CUDASEG_CHECK(s >= 0 && !__builtin_mul_overflow(n, s, &n), "shape ", shape_str(shape),
                  " has a negative size or more than 2^63 elements");
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = s;
    s *= std::max<int64_t>(shape[d], 1);
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t lo = -std::max<int64_t>(ndim, 1), hi = std::max<int64_t>(ndim, 1) - 1;
  CUDASEG_CHECK(dim >= lo && dim <= hi, op, ": dim ", dim, " out of range for a tensor of ", ndim,
                " dims (expected [", lo, ", ", hi, "])");
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

namespace {

[[noreturn]] void no_cuda(const char* what) {
  CUDASEG_FAIL(what, ": cudaseg was built without the CUDA backend");
}

void check_shape(const Shape& shape, const char* op) {
  for (int64_t s : shape)
    CUDASEG_CHECK(s >= 0, op, ": negative size in shape ", shape_str(shape));
}

}  // namespace

// ---------------------------------------------------------------- factories

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  check_shape(shape, "empty");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  impl->dtype = dtype;
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  CUDASEG_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ",
                values.size(), " values for shape ", shape_str(shape));
  Tensor t = empty(shape, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = convert<T>(values[i]);
  });
  return t;
}

Tensor Tensor::arange(int64_t n, DType dtype, Device device) {
  CUDASEG_CHECK(n >= 0, "arange: negative length ", n);
  std::vector<double> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<double>(i);
  return from_vector(values, {n}, dtype).to(device);
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, DType dtype, const Shape& shape,
                            const Shape& strides, int64_t offset) {
  CUDASEG_CHECK(storage != nullptr, "from_storage: null storage");
  CUDASEG_CHECK(reinterpret_cast<uintptr_t>(storage->data()) % dtype_size(dtype) == 0, "from_storage: storage at ",
                storage->data(), " is not aligned for ", dtype_name(dtype));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->dtype = dtype;
  Tensor base(std::move(impl));
  base.impl().shape = {0};
  base.impl().strides = {1};
  return base.as_strided(shape, strides, offset);
}

// ---------------------------------------------------------------- properties

TensorImpl& Tensor::impl() const {
  CUDASEG_CHECK(impl_ != nullptr, "use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  const auto& sh = shape();
  const auto& st = strides();
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (sh[d] == 0) return true;
    if (sh[d] == 1) continue;
    if (st[d] != expected) return false;
    expected *= sh[d];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " on " + device().str();
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) + impl().offset * static_cast<int64_t>(itemsize());
}

double Tensor::item() const {
  CUDASEG_CHECK(numel() == 1, "item(): tensor has ", numel(), " elements ", shape_str(shape()),
                ", expected 1");
  return to_vector()[0];
}

std::vector<double> Tensor::to_vector() const {
  Tensor host = to(Device::cpu()).contiguous();
  std::vector<double> out(static_cast<size_t>(host.numel()));
  dispatch_dtype(host.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = host.data<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = convert<double>(p[i]);
  });
  return out;
}

// ---------------------------------------------------------------- views

Tensor Tensor::make_view(Shape shape, Shape strides, int64_t offset) const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = this->impl().storage;
  impl->dtype = this->impl().dtype;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  return Tensor(std::move(impl));
}

namespace {

Shape infer_size(const Shape& requested, int64_t numel, const char* op, const Shape& from) {
  Shape shape = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      CUDASEG_CHECK(infer < 0, op, ": only one dimension can be -1 in ", shape_str(requested));
      infer = static_cast<int64_t>(i);
    } else {
      CUDASEG_CHECK(shape[i] >= 0, op, ": invalid size in ", shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    CUDASEG_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape_str(requested),
                  " is invalid for input of shape ", shape_str(from));
    shape[infer] = numel / known;
  }
  CUDASEG_CHECK(shape_numel(shape) == numel, op, ": shape ", shape_str(requested),
                " is invalid for input of shape ", shape_str(from), " (", numel, " elements)");
  return shape;
}

// PyTorch's computeStride: the strides that let `shape` view memory laid out
// as (old_shape, old_strides), or false when the view would need a copy.
bool view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape, Shape& out) {
  out.assign(shape.size(), 1);
  if (old_shape.empty()) return true;  // a scalar views as any all-ones shape
  if (shape_numel(old_shape) == 0) {
    out = contiguous_strides(shape);
    return true;
  }
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = static_cast<int64_t>(old_shape.size()) - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= old_shape[tensor_d];
    if (tensor_d == 0 || (old_shape[tensor_d - 1] != 1 &&
                          old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (tensor_d > 0) {
        chunk_base_stride = old_strides[tensor_d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  Shape target = infer_size(shape, numel(), "view", this->shape());
  Shape strides;
  CUDASEG_CHECK(view_strides(this->shape(), this->strides(), target, strides),
                "view: shape ", shape_str(target), " is not compatible with the strides ",
                shape_str(this->strides()), " of input ", shape_str(this->shape()),
                "; use reshape (which copies) instead");
  return make_view(target, strides, offset());
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape target = infer_size(shape, numel(), "reshape", this->shape());
  Shape strides;
  if (view_strides(this->shape(), this->strides(), target, strides))
    return make_view(target, strides, offset());
  return contiguous().view(target);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  CUDASEG_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: ", dims.size(),
                " dims given for a tensor of shape ", shape_str(shape()));
  Shape sh(dims.size()), st(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim(), "permute");
    CUDASEG_CHECK(!seen[d], "permute: dim ", dims[i], " repeated in ", shape_str(dims));
    seen[d] = true;
    sh[i] = shape()[d];
    st[i] = strides()[d];
  }
  return make_view(sh, st, offset());
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  if (dim() == 0) return *this;
  a = wrap_dim(a, dim(), "transpose");
  b = wrap_dim(b, dim(), "transpose");
  Shape sh = shape(), st = strides();
  std::swap(sh[a], sh[b]);
  std::swap(st[a], st[b]);
  return make_view(sh, st, offset());
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  CUDASEG_CHECK(dim() > 0, "slice: cannot slice a 0-dim tensor");
  d = wrap_dim(d, dim(), "slice");
  CUDASEG_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sh = shape(), st = strides();
  sh[d] = (end - start + step - 1) / step;
  st[d] = strides()[d] * step;
  return make_view(sh, st, offset() + start * strides()[d]);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  CUDASEG_CHECK(dim() > 0, "narrow: cannot narrow a 0-dim tensor");
  d = wrap_dim(d, dim(), "narrow");
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  CUDASEG_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: start ", start,
                " length ", length, " out of range for dim ", d, " of shape ", shape_str(shape()));
  return slice(d, start, start + length, 1);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  CUDASEG_CHECK(dim() > 0, "select: cannot select on a 0-dim tensor");
  d = wrap_dim(d, dim(), "select");
  const int64_t n = shape()[d];
  if (index < 0) index += n;
  CUDASEG_CHECK(index >= 0 && index < n, "select: index ", index, " out of range for dim ", d,
                " of shape ", shape_str(shape()));
  Shape sh = shape(), st = strides();
  const int64_t off = offset() + index * st[d];
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  return make_view(sh, st, off);
}

Tensor Tensor::expand(const Shape& target) const {
  const int64_t nd = static_cast<int64_t>(target.size());
  CUDASEG_CHECK(nd >= dim(), "expand: target ", shape_str(target), " has fewer dims than input ",
                shape_str(shape()));
  Shape sh(nd), st(nd);
  for (int64_t i = nd - 1; i >= 0; --i) {
    const int64_t j = i - (nd - dim());
    if (j < 0) {
      CUDASEG_CHECK(target[i] >= 0, "expand: -1 not allowed for the new leading dim ", i, " in ",
                    shape_str(target));
      sh[i] = target[i];
      st[i] = 0;
      continue;
    }
    const int64_t have = shape()[j];
    if (target[i] == -1 || target[i] == have) {
      sh[i] = have;
      st[i] = strides()[j];
    } else {
      CUDASEG_CHECK(have == 1, "expand: size ", have, " at dim ", j, " of input ", shape_str(shape()),
                    " cannot expand to ", target[i], " (target ", shape_str(target), ")");
      sh[i] = target[i];
      st[i] = 0;
    }
  }
  return make_view(sh, st, offset());
}

Tensor Tensor::squeeze() const {
  Shape sh, st;
  for (int64_t i = 0; i < dim(); ++i)
    if (shape()[i] != 1) {
      sh.push_back(shape()[i]);
      st.push_back(strides()[i]);
    }
  return make_view(sh, st, offset());
}

Tensor Tensor::squeeze(int64_t d) const {
  if (dim() == 0) return *this;
  d = wrap_dim(d, dim(), "squeeze");
  if (shape()[d] != 1) return make_view(shape(), strides(), offset());
  Shape sh = shape(), st = strides();
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  return make_view(sh, st, offset());
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape sh = shape(), st = strides();
  const int64_t new_stride = d < dim() ? shape()[d] * strides()[d] : 1;
  sh.insert(sh.begin() + d, 1);
  st.insert(st.begin() + d, new_stride);
  return make_view(sh, st, offset());
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = wrap_dim(start_dim, dim(), "flatten");
  end_dim = wrap_dim(end_dim, dim(), "flatten");
  CUDASEG_CHECK(start_dim <= end_dim, "flatten: start_dim ", start_dim, " after end_dim ", end_dim);
  Shape sh(shape().begin(), shape().begin() + start_dim);
  int64_t n = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) n *= shape()[i];
  sh.push_back(n);
  sh.insert(sh.end(), shape().begin() + end_dim + 1, shape().end());
  return reshape(sh);
}

Tensor Tensor::as_strided(const Shape& shape, const Shape& strides, int64_t offset) const {
  CUDASEG_CHECK(shape.size() == strides.size(), "as_strided: shape ", shape_str(shape),
                " and strides ", shape_str(strides), " differ in length");
  check_shape(shape, "as_strided");
  CUDASEG_CHECK(offset >= 0, "as_strided: negative offset ", offset);
  int64_t last = offset;
  bool empty = false, overflow = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    CUDASEG_CHECK(strides[i] >= 0, "as_strided: negative stride in ", shape_str(strides));
    int64_t reach = 0;
    if (shape[i] == 0) empty = true;
    else overflow = overflow || __builtin_mul_overflow(shape[i] - 1, strides[i], &reach) ||
                    __builtin_add_overflow(last, reach, &last);
  }
  CUDASEG_CHECK(!overflow, "as_strided: view of shape ", shape_str(shape), " strides ", shape_str(strides),
                " offset ", offset, " overflows 64-bit element offsets");
  const int64_t capacity = static_cast<int64_t>(storage()->nbytes() / itemsize());
  CUDASEG_CHECK(empty || last < capacity, "as_strided: view of shape ", shape_str(shape),
                " strides ", shape_str(strides), " offset ", offset, " reaches element ", last,
                " of a storage holding ", capacity);
  return make_view(shape, strides, offset);
}

// ---------------------------------------------------------------- copies

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return *this;
  Tensor out = empty(shape(), dtype, device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  if (device.is_cuda() || this->device().is_cuda()) {
    if (!gpu::compiled()) no_cuda("Tensor::to");
  }
  Tensor src = contiguous();
  Tensor out = empty(shape(), dtype(), device);
  if (nbytes() == 0) return out;
  if (this->device().is_cpu()) {
    gpu::copy_host_to_device(out.raw_data(), src.raw_data(), nbytes(), device.index);
  } else if (device.is_cpu()) {
    gpu::copy_device_to_host(out.raw_data(), src.raw_data(), nbytes(), this->device().index);
  } else {
    gpu::copy_device_to_device(out.raw_data(), src.raw_data(), nbytes(), device.index);
  }
  return out;
}

Tensor Tensor::to(Device device, DType dtype) const {
  // Convert where the data is smaller, so the transfer moves fewer bytes.
  if (dtype_size(dtype) < itemsize()) return to(dtype).to(device);
  return to(device).to(dtype);
}

Tensor& Tensor::copy_(const Tensor& src) {
  CUDASEG_CHECK(src.shape() == shape(), "copy_: source shape ", shape_str(src.shape()),
                " differs from destination ", shape_str(shape()));
  if (src.device() != device()) return copy_(src.to(device()));
  storage()->bump_version();
  if (device().is_cuda()) {
#if CUDASEG_WITH_CUDA
    runtime_cuda::copy_strided(*this, src);
    return *this;
#else
    no_cuda("copy_");
#endif
  }
  host_copy(*this, src);
  return *this;
}

Tensor& Tensor::fill_(double value) {
  storage()->bump_version();
  if (device().is_cuda()) {
#if CUDASEG_WITH_CUDA
    runtime_cuda::fill(*this, value);
    return *this;
#else
    no_cuda("fill_");
#endif
  }
  dispatch_dtype(dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T v = convert<T>(value);
    T* d = static_cast<T*>(storage()->data());
    for_each_strided<1>(shape(), {&strides()}, {offset()},
                        [&](const std::array<int64_t, 1>& o) { d[o[0]] = v; });
  });
  return *this;
}

// ---------------------------------------------------------------- autograd state

Tensor& Tensor::set_requires_grad(bool value) {
  CUDASEG_CHECK(!value || is_floating(dtype()), "requires_grad: only floating-point tensors can "
                "require gradients, got ", dtype_name(dtype()));
  CUDASEG_CHECK(is_leaf() || value, "requires_grad(false) on a non-leaf tensor; use detach()");
  impl().requires_grad = value;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? *impl().grad : Tensor(); }

void Tensor::set_grad(const Tensor& grad) const {
  if (!grad.defined()) {
    impl().grad.reset();
    return;
  }
  CUDASEG_CHECK(grad.shape() == shape(), "set_grad: gradient shape ", shape_str(grad.shape()),
                " differs from tensor shape ", shape_str(shape()));
  impl().grad = std::make_shared<Tensor>(grad);
}

Tensor Tensor::detach() const { return make_view(shape(), strides(), offset()); }

}  // namespace cudaseg
