#include "nets/builtin.h"

namespace cudaseg::nets {

void register_builtin_nets() {
  register_segformer();
}

}  // namespace cudaseg::nets
