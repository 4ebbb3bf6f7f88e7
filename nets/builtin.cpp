#include "nets/builtin.h"

namespace cudaseg::nets {

void register_builtin_nets() {
  register_segformer();
  register_stdc();
  register_ppliteseg();
  register_ddrnet();
  register_enet();
}

}  // namespace cudaseg::nets
