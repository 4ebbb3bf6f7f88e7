#include "nets/builtin.h"

namespace cudaseg::nets {

void register_builtin_nets() {}

}  // namespace cudaseg::nets
