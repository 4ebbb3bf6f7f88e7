// The parts of cudaseg._core defined outside module.cpp.
#pragma once

#include <pybind11/pybind11.h>

namespace cudaseg::python {

// _core._train, which cudaseg.train (cudaseg/__init__.py) calls.
void bind_train(pybind11::module_& m);

}  // namespace cudaseg::python
