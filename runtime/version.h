// What this build of cudaseg is: its version, the backends compiled in and
// the devices it can see.
#pragma once

#include <string>
#include <vector>

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg {

std::string version();
std::vector<std::string> compiled_backends();  // "cpu", and "cuda" when built with it
// A few lines for humans: version, backends, CPU threads, CUDA devices.
std::string build_report();

}  // namespace cudaseg
CUDASEG_API_END
