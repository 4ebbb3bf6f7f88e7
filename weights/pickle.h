// A restricted unpickler for the data.pkl of torch.save, and the matching
// writer. The reader interprets the opcodes of pickle protocols 2-4 that
// state dicts use, and resolves only these globals:
//   collections.OrderedDict, torch._utils._rebuild_tensor_v2,
//   torch._utils._rebuild_parameter, torch.{Float,Half,BFloat16,Double,Long,
//   Int,Byte,Bool}Storage
// Any other global (posix.system, builtins.eval, torch.storage._load_from_bytes,
// numpy scalars ...) is refused with an error naming it, or, with
// UnpickleMode::placeholders, becomes an inert placeholder: a value that names
// the global and absorbs what the pickle does with it (calls, NEWOBJ, BUILD,
// items), so a training checkpoint whose scheduler holds a bound method still
// unpickles; the reader then refuses any placeholder inside the state dict.
// UnpickleMode::numpy_arrays also reads NumPy arrays (PaddleSeg's .pdparams)
// by interpreting, never importing, numpy.core.multiarray._reconstruct,
// numpy.ndarray, numpy.dtype and _codecs.encode (protocol 2 bytes).
// Nothing from the file is ever called: "calls" of the allowed globals build
// plain values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::weights {

struct PyObject {
  enum class Kind {
    none, boolean, integer, floating, string, bytes, list, tuple, dict, global, storage, tensor,
    placeholder,  // a refused global, or anything built from one: `text` names the global
    dtype,        // numpy.dtype: `dtype`
    array         // a NumPy array: `dtype`, `shape`, `strides` (elements), bytes in `text`
  };
  Kind kind = Kind::none;
  bool boolean = false;
  int64_t integer = 0;
  double floating = 0;
  // string and bytes: the content; global and placeholder: "module.name";
  // storage: its key; array: its bytes.
  std::string text;
  std::vector<const PyObject*> items;                                 // list, tuple
  std::vector<std::pair<const PyObject*, const PyObject*>> entries;  // dict, in insertion order

  // storage (from a persistent id) and the global of a storage type.
  DType dtype = DType::f32;
  std::string location;
  int64_t numel = 0;

  // tensor: a view of `storage` (offsets and strides in elements).
  const PyObject* storage = nullptr;
  int64_t offset = 0;
  Shape shape, strides;

  // The value of string key `key` of a dict, or nullptr.
  const PyObject* get(const std::string& key) const;
  std::string kind_name() const;
};

// The unpickled object graph. Objects live in an arena owned by the result,
// so cycles and deep nesting cost nothing to destroy.
struct PickleResult {
  std::vector<std::unique_ptr<PyObject>> arena;
  const PyObject* root = nullptr;
};

// What one unpickle may use. A state dict's pickle needs a short stack, a memo
// entry per object and a few hundred bytes per tensor; these bounds are far
// above that and far below what a hostile pickle (20 million NONE opcodes
// inflated from a 20 KB zip) would otherwise take.
struct UnpickleLimits {
  size_t max_stack = size_t{1} << 16;        // objects on the stack
  size_t max_marks = size_t{1} << 12;        // MARKs open at once (nesting depth)
  size_t max_memo = size_t{1} << 20;         // memo entries
  size_t max_bytes = size_t{256} << 20;      // objects built, with their strings and lists
};

struct UnpickleMode {
  bool placeholders = false;  // refused globals become placeholders instead of errors
  bool numpy_arrays = false;  // NumPy arrays are read (their globals allowed as data builders)
};

// Unpickles `size` bytes; throws cudaseg::Error (prefixed with `source`) on
// malformed input, a global outside the list above (unless mode.placeholders),
// or input exceeding a limit (the error names it).
PickleResult unpickle(const uint8_t* data, size_t size, const std::string& source,
                      const UnpickleLimits& limits = {}, const UnpickleMode& mode = {});

// The placeholders reachable from `obj` (cycles are safe), one per refused
// global name, in the order first met.
std::vector<const PyObject*> placeholders_in(const PyObject* obj);

// One tensor of a state dict to pickle, as a view of storage `key`.
struct PickledTensor {
  std::string name;
  DType dtype = DType::f32;
  std::string storage_key;
  int64_t storage_numel = 0;
  int64_t offset = 0;
  Shape shape, strides;
};

// The data.pkl torch.save writes for an OrderedDict of these tensors
// (protocol 2, torch._utils._rebuild_tensor_v2, persistent storage ids).
std::string pickle_state_dict(const std::vector<PickledTensor>& tensors);

}  // namespace cudaseg::weights
