#include "nets/builtin.h"

namespace cudaseg::nets {

void register_builtin_nets() {
  register_segformer();
  register_stdc();
  register_ppliteseg();
}

}  // namespace cudaseg::nets
