#include "nets/builtin.h"

namespace cudaseg::nets {

void register_builtin_nets() {
  register_segformer();
  register_stdc();
  register_ppliteseg();
  register_ddrnet();
  register_enet();
  register_bisenetv2();
  register_fastscnn();
}

}  // namespace cudaseg::nets
