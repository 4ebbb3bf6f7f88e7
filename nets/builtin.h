// The nets compiled into the library. Each net family file defines its
// register_<family>() function; register_builtin_nets() calls them all once.
#pragma once

namespace cudaseg::nets {

void register_builtin_nets();

void register_ddrnet();  // nets/ddrnet.h
void register_enet();    // nets/enet.h

}  // namespace cudaseg::nets
