// The nets compiled into the library. Each net family file defines its
// register_<family>() function; register_builtin_nets() calls them all once.
#pragma once

namespace cudaseg::nets {

void register_builtin_nets();

void register_bisenetv2();
void register_fastscnn();

}  // namespace cudaseg::nets
