#include "weights/pdparams.h"

#include <cstring>

#include "weights/pickle.h"

namespace cudaseg::weights {

namespace {

// torch.save's legacy format opens with this magic number as a pickled int
// (LONG1 of 10 bytes), after PROTO and, from protocol 4 on, a FRAME.
const uint8_t kTorchLegacyMagic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

}  // namespace

bool looks_like_numpy_pickle(const Bytes& bytes) {
  if (bytes.size < 4 || bytes.data[0] != 0x80 || bytes.data[1] < 2 || bytes.data[1] > 5) return false;
  const size_t start = bytes.data[2] == 0x95 ? 11 : 2;  // after PROTO n [FRAME len8]
  return bytes.size < start + sizeof(kTorchLegacyMagic) ||
         std::memcmp(bytes.data + start, kTorchLegacyMagic, sizeof(kTorchLegacyMagic)) != 0;
}

PdparamsContents read_pdparams(const Bytes& bytes, const std::string& source) {
  CUDASEG_CHECK(looks_like_numpy_pickle(bytes), source, ": not a pickle of NumPy arrays (a .pdparams starts with "
                "a pickle protocol 2-5 header)");
  UnpickleLimits limits;
  // The arrays' bytes live inside the pickle: allow for them once more.
  limits.max_bytes += 2 * bytes.size;
  UnpickleMode mode;
  mode.numpy_arrays = true;
  const PickleResult pickle = unpickle(bytes.data, bytes.size, source, limits, mode);
  const PyObject* root = pickle.root;
  CUDASEG_CHECK(root->kind == PyObject::Kind::dict, source, ": holds a ", root->kind_name(),
                ", not a dict of arrays");
  PdparamsContents out;
  for (const auto& [k, v] : root->entries) {
    CUDASEG_CHECK(k->kind == PyObject::Kind::string, source, ": a key is a ", k->kind_name());
    if (v->kind != PyObject::Kind::array) {
      out.skipped.push_back("skipped '" + k->text + "' (" + v->kind_name() + ", not an array)");
      continue;
    }
    CUDASEG_CHECK(!v->shape.empty() || v->numel == 1, source, ": array '", k->text, "' was never filled");
    Tensor contiguous = Tensor::empty(v->shape, v->dtype);
    std::memcpy(contiguous.raw_data(), v->text.data(), v->text.size());
    // A Fortran-ordered array: the same bytes under column-major strides.
    Tensor t = contiguous.as_strided(v->shape, v->strides, 0).contiguous();
    out.tensors.insert(k->text, t);
  }
  CUDASEG_CHECK(!out.tensors.empty(), source, ": no NumPy arrays in the pickle");
  return out;
}

PdparamsContents load_pdparams(const std::string& path) { return read_pdparams(map_file(path), path); }

}  // namespace cudaseg::weights
