#include "weights/tensor_dict.h"

#include <cstring>
#include <sstream>

namespace cudaseg::weights {

void TensorDict::insert(const std::string& name, Tensor tensor) {
  CUDASEG_CHECK(!contains(name), "duplicate tensor name '", name, "'");
  CUDASEG_CHECK(tensor.defined(), "tensor '", name, "' is undefined");
  index_.emplace(name, entries_.size());
  entries_.emplace_back(name, std::move(tensor));
}

const Tensor* TensorDict::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const Tensor& TensorDict::at(const std::string& name) const {
  const Tensor* t = find(name);
  CUDASEG_CHECK(t != nullptr, "no tensor named '", name, "'");
  return *t;
}

void check_tensors(const TensorDict& tensors, const std::vector<TensorSpec>& expected,
                   const std::string& source, bool any_floating) {
  std::vector<std::string> missing, unexpected, mismatched;
  std::unordered_map<std::string, const TensorSpec*> wanted;
  for (const TensorSpec& spec : expected) {
    wanted.emplace(spec.name, &spec);
    const Tensor* t = tensors.find(spec.name);
    if (t == nullptr) {
      missing.push_back(spec.name + " " + dtype_name(spec.dtype) + shape_str(spec.shape));
    } else if (t->shape() != spec.shape ||
               (t->dtype() != spec.dtype && !(any_floating && is_floating(t->dtype()) && is_floating(spec.dtype)))) {
      mismatched.push_back(spec.name + ": expected " + dtype_name(spec.dtype) + shape_str(spec.shape) +
                           ", found " + dtype_name(t->dtype()) + shape_str(t->shape()));
    }
  }
  for (const auto& [name, t] : tensors) {
    if (!wanted.count(name)) unexpected.push_back(name + " " + dtype_name(t.dtype()) + shape_str(t.shape()));
  }
  if (missing.empty() && unexpected.empty() && mismatched.empty()) return;
  std::ostringstream msg;
  msg << source << ": tensors do not match the expected list (" << missing.size() << " missing, "
      << unexpected.size() << " unexpected, " << mismatched.size() << " mis-shaped)";
  auto section = [&msg](const char* title, const std::vector<std::string>& lines) {
    if (lines.empty()) return;
    msg << "\n  " << title << ":";
    for (const std::string& line : lines) msg << "\n    " << line;
  };
  section("missing", missing);
  section("unexpected", unexpected);
  section("mis-shaped", mismatched);
  throw Error(msg.str());
}

std::vector<TensorSpec> specs_of(const TensorDict& tensors) {
  std::vector<TensorSpec> specs;
  for (const auto& [name, t] : tensors) specs.push_back({name, t.shape(), t.dtype()});
  return specs;
}

TensorDict to_half(const TensorDict& tensors) {
  TensorDict out;
  for (const auto& [name, t] : tensors) {
    out.insert(name, is_floating(t.dtype()) && t.dtype() != DType::f16 ? t.to(DType::f16) : t);
  }
  return out;
}

uint64_t checked_nbytes(const Shape& shape, DType dtype, const std::string& what) {
  unsigned __int128 n = dtype_size(dtype);
  for (int64_t d : shape) {
    CUDASEG_CHECK(d >= 0, what, ": negative dimension in shape ", shape_str(shape));
    n *= static_cast<uint64_t>(d);
    CUDASEG_CHECK(n <= (uint64_t{1} << 62), what, ": shape ", shape_str(shape), " is too large");
  }
  return static_cast<uint64_t>(n);
}

void check_view(const std::string& what, DType dtype, const Shape& shape, const Shape& strides,
                int64_t offset, uint64_t storage_bytes) {
  CUDASEG_CHECK(shape.size() == strides.size() && shape.size() <= 16, what, ": shape ", shape_str(shape),
                " and strides ", shape_str(strides), " do not describe a tensor");
  CUDASEG_CHECK(offset >= 0, what, ": negative storage offset ", offset);
  const unsigned __int128 limit = static_cast<unsigned __int128>(1) << 62;
  unsigned __int128 last = static_cast<uint64_t>(offset), numel = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    CUDASEG_CHECK(shape[d] >= 0 && strides[d] >= 0, what, ": negative size or stride in shape ",
                  shape_str(shape), " strides ", shape_str(strides));
    numel *= static_cast<uint64_t>(shape[d]);
    CUDASEG_CHECK(numel < limit, what, ": shape ", shape_str(shape), " is too large");
    if (shape[d] > 0) last += static_cast<unsigned __int128>(shape[d] - 1) * static_cast<uint64_t>(strides[d]);
    CUDASEG_CHECK(last < limit, what, ": strides ", shape_str(strides), " reach too far");
  }
  if (numel == 0) return;
  const uint64_t capacity = storage_bytes / dtype_size(dtype);
  CUDASEG_CHECK(last < capacity, what, ": view of shape ", shape_str(shape), " strides ",
                shape_str(strides), " offset ", offset, " reaches element ",
                static_cast<uint64_t>(last), " of a ", dtype_name(dtype), " storage holding ", capacity,
                " (", storage_bytes, " bytes)");
}

std::shared_ptr<Storage> storage_over_bytes(const Bytes& bytes, DType dtype) {
  if (reinterpret_cast<uintptr_t>(bytes.data) % dtype_size(dtype) == 0 && bytes.size > 0) {
    std::shared_ptr<const void> owner = bytes.owner;
    // Storage is mutable, the bytes are not: files are mapped copy-on-write
    // (MAP_PRIVATE), so an in-place write copies a page and never reaches the file.
    return Storage::wrap(const_cast<uint8_t*>(bytes.data), bytes.size, Device::cpu(),
                         [owner](void*) mutable { owner.reset(); });
  }
  std::shared_ptr<Storage> storage = Storage::allocate(bytes.size, Device::cpu());
  if (bytes.size > 0) std::memcpy(storage->data(), bytes.data, bytes.size);
  return storage;
}

Tensor tensor_over_bytes(const Bytes& bytes, DType dtype, const Shape& shape, const Shape& strides,
                         int64_t offset, const std::string& what) {
  check_view(what, dtype, shape, strides, offset, bytes.size);
  return Tensor::from_storage(storage_over_bytes(bytes, dtype), dtype, shape, strides, offset);
}

std::vector<uint8_t> contiguous_bytes(const Tensor& tensor) {
  Tensor c = tensor.device().is_cpu() ? tensor.contiguous() : tensor.to(Device::cpu()).contiguous();
  std::vector<uint8_t> out(c.nbytes());
  if (!out.empty()) std::memcpy(out.data(), c.raw_data(), out.size());
  return out;
}

}  // namespace cudaseg::weights
