// Tensors to and from Python without a copy where the dtype and strides
// allow: NumPy arrays through the buffer protocol, and DLPack (an object with
// __dlpack__, such as a torch tensor, or a capsule from
// torch.utils.dlpack.to_dlpack) on the CPU or a CUDA device.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "runtime/tensor.h"

namespace cudaseg::python {

namespace py = pybind11;

// A Tensor over the memory of `obj`: a NumPy array (or anything
// numpy.asarray takes), an object with __dlpack__, or a "dltensor" capsule
// (consumed, as DLPack requires). The Tensor keeps the owner alive and lets
// it go under the GIL. `what` names the argument in errors (TypeError for an
// unsupported dtype or device).
Tensor tensor_from_python(const py::handle& obj, const char* what);

// A writeable NumPy array over the memory of the CPU tensor `t`, which it
// keeps alive. NumPy arrays have __dlpack__, so torch.from_dlpack takes the
// result without a copy.
py::array array_from_tensor(const Tensor& t);

}  // namespace cudaseg::python
