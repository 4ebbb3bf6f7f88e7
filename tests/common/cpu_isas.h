// The direct kernels' instruction sets this CPU runs (ops/cpu/conv_direct.h),
// for tests that check every one of them, not only best_isa().
#pragma once

#include <vector>

#include "ops/cpu/conv_direct.h"

namespace cudaseg::testing {

inline std::vector<ops::cpu::direct::Isa> isas_of_this_cpu() {
  std::vector<ops::cpu::direct::Isa> out;
  for (const ops::cpu::direct::Isa* isa : ops::cpu::direct::cpu_isas()) out.push_back(*isa);
  return out;
}

}  // namespace cudaseg::testing
