#include "arrays.h"

#include <cstdint>
#include <functional>
#include <string>

#include "runtime/device.h"
#include "runtime/dtype.h"
#include "runtime/gpu.h"
#include "runtime/storage.h"

namespace cudaseg::python {
namespace {

// The DLPack ABI (dlpack.h, versions 0.5 to 0.8: the unversioned
// DLManagedTensor that "dltensor" capsules carry), declared here because
// neither Debian nor pybind11 ship the header.
struct DLDevice {
  int32_t device_type;
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; null for a compact row-major tensor
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};
constexpr int32_t kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3;
constexpr uint8_t kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4, kDLBool = 6;

// The bytes a view of `shape` and `strides` (elements, non-negative) spans from its first element.
size_t span_bytes(const Shape& shape, const Shape& strides, size_t itemsize) {
  int64_t last = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return 0;
    last += (shape[d] - 1) * strides[d];
  }
  return static_cast<size_t>(last + 1) * itemsize;
}

// Runs `release` holding the GIL: the owners are Python objects, and the last
// Tensor may die on a thread that released it (a training step, a pool thread).
std::function<void(void*)> under_gil(std::function<void()> release) {
  return [release = std::move(release)](void*) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    release();
  };
}

DType dtype_from_dlpack(const DLDataType& t, const char* what) {
  if (t.lanes == 1) {
    if (t.code == kDLFloat && t.bits == 32) return DType::f32;
    if (t.code == kDLFloat && t.bits == 64) return DType::f64;
    if (t.code == kDLFloat && t.bits == 16) return DType::f16;
    if (t.code == kDLBfloat && t.bits == 16) return DType::bf16;
    if (t.code == kDLUInt && t.bits == 8) return DType::u8;
    if (t.code == kDLInt && t.bits == 32) return DType::i32;
    if (t.code == kDLInt && t.bits == 64) return DType::i64;
    if (t.code == kDLBool && t.bits == 8) return DType::boolean;
  }
  static const char* const kCodes[] = {"int", "uint", "float", "opaque", "bfloat", "complex", "bool"};
  const std::string code = t.code < 7 ? kCodes[t.code] : "code " + std::to_string(t.code) + " ";
  throw py::type_error(std::string(what) + ": DLPack dtype " + code + std::to_string(t.bits) +
                       (t.lanes == 1 ? "" : " x" + std::to_string(t.lanes)) +
                       " is not one of float32, float64, float16, bfloat16, uint8, int32, int64, bool");
}

Tensor from_capsule(py::capsule capsule, const char* what) {
  auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
  if (managed == nullptr) throw py::error_already_set();
  // The protocol's hand-over: a renamed capsule no longer frees the tensor; its deleter is ours to call.
  PyCapsule_SetName(capsule.ptr(), "used_dltensor");
  const auto release = under_gil([managed] {
    if (managed->deleter != nullptr) managed->deleter(managed);
  });
  std::shared_ptr<Storage> guard = Storage::wrap(nullptr, 0, Device::cpu(), release);
  const DLTensor& t = managed->dl_tensor;
  Device device = Device::cpu();
  if (t.device.device_type == kDLCUDA) {
    device = Device::cuda(t.device.device_id);
  } else if (t.device.device_type != kDLCPU && t.device.device_type != kDLCUDAHost) {
    throw py::type_error(std::string(what) + ": DLPack device type " + std::to_string(t.device.device_type) +
                         " is neither the CPU nor CUDA");
  }
  const DType dtype = dtype_from_dlpack(t.dtype, what);
  const Shape shape(t.shape, t.shape + t.ndim);
  const Shape strides = t.strides != nullptr ? Shape(t.strides, t.strides + t.ndim) : contiguous_strides(shape);
  for (int64_t s : strides) {
    if (s < 0) throw py::type_error(std::string(what) + ": DLPack tensors with negative strides are not supported");
  }
  char* data = static_cast<char*>(t.data) + t.byte_offset;
  // The storage owns the capsule's tensor from here; `guard` hands it over.
  auto storage = Storage::wrap(data, span_bytes(shape, strides, dtype_size(dtype)), device,
                               [guard](void*) mutable { guard.reset(); });
  return Tensor::from_storage(std::move(storage), dtype, shape, strides, 0);
}

DType dtype_from_numpy(const py::dtype& d, const char* what) {
  const char kind = d.kind();
  const auto size = d.itemsize();
  if (kind == 'f' && size == 4) return DType::f32;
  if (kind == 'f' && size == 8) return DType::f64;
  if (kind == 'f' && size == 2) return DType::f16;
  if (kind == 'u' && size == 1) return DType::u8;
  if (kind == 'i' && size == 4) return DType::i32;
  if (kind == 'i' && size == 8) return DType::i64;
  if (kind == 'b' && size == 1) return DType::boolean;
  throw py::type_error(std::string(what) + ": NumPy dtype " + d.attr("name").cast<std::string>() +
                       " is not one of float32, float64, float16, uint8, int32, int64, bool");
}

Tensor from_numpy(py::array a, const char* what) {
  const py::module_ np = py::module_::import("numpy");
  const auto itemsize = static_cast<py::ssize_t>(a.itemsize());
  bool strided_ok = a.dtype().attr("isnative").cast<bool>();
  for (py::ssize_t d = 0; d < a.ndim(); ++d) strided_ok = strided_ok && a.strides(d) >= 0 && a.strides(d) % itemsize == 0;
  // Reversed or byte-swapped views have no Tensor form: they are the one case that is copied.
  if (!strided_ok) a = np.attr("ascontiguousarray")(a, a.dtype().attr("newbyteorder")("="));
  const DType dtype = dtype_from_numpy(a.dtype(), what);
  Shape shape, strides;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    shape.push_back(a.shape(d));
    strides.push_back(a.strides(d) / itemsize);
  }
  auto* owner = new py::object(a);
  auto storage = Storage::wrap(const_cast<void*>(a.data()), span_bytes(shape, strides, dtype_size(dtype)),
                               Device::cpu(), under_gil([owner] { delete owner; }));
  return Tensor::from_storage(std::move(storage), dtype, shape, strides, 0);
}

py::dtype numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32: return py::dtype::of<float>();
    case DType::f64: return py::dtype::of<double>();
    case DType::f16: return py::dtype("float16");
    case DType::u8: return py::dtype::of<uint8_t>();
    case DType::i32: return py::dtype::of<int32_t>();
    case DType::i64: return py::dtype::of<int64_t>();
    case DType::boolean: return py::dtype::of<bool>();
    default: break;
  }
  CUDASEG_FAIL("no NumPy dtype for a ", dtype_name(dtype), " tensor");
}

}  // namespace

Tensor tensor_from_python(const py::handle& obj, const char* what) {
  if (py::isinstance<py::array>(obj)) return from_numpy(py::reinterpret_borrow<py::array>(obj), what);
  if (py::hasattr(obj, "__dlpack__")) {
    const auto device = obj.attr("__dlpack_device__")().cast<std::pair<int32_t, int32_t>>();
    if (device.first != kDLCUDA) return from_capsule(obj.attr("__dlpack__")(), what);
    // The producer makes the stream we name (1: the legacy default stream)
    // wait for its pending writes; waiting for that stream here covers every
    // stream the library then reads on, the sessions' own non-blocking ones included.
    Tensor t = from_capsule(obj.attr("__dlpack__")(py::arg("stream") = 1), what);
    py::gil_scoped_release nogil;
    gpu::Stream::default_stream(device.second).synchronize();
    return t;
  }
  if (PyCapsule_CheckExact(obj.ptr())) return from_capsule(py::reinterpret_borrow<py::capsule>(obj), what);
  return from_numpy(py::module_::import("numpy").attr("asarray")(obj), what);
}

py::array array_from_tensor(const Tensor& t) {
  CUDASEG_CHECK(t.device().is_cpu(), "array_from_tensor: ", t.str(), " is not on the CPU");
  std::vector<py::ssize_t> shape, strides;
  for (int64_t d = 0; d < t.dim(); ++d) {
    shape.push_back(t.size(d));
    strides.push_back(t.stride(d) * static_cast<py::ssize_t>(t.itemsize()));
  }
  py::capsule owner(new Tensor(t), [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(numpy_dtype(t.dtype()), shape, strides, t.raw_data(), owner);
}

}  // namespace cudaseg::python
