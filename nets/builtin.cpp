#include "nets/builtin.h"

namespace cudaseg::nets {

void register_builtin_nets() {
  register_bisenetv2();
  register_fastscnn();
}

}  // namespace cudaseg::nets
