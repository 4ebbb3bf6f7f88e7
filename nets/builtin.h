// The nets compiled into the library. Each net family file defines its
// register_<family>() function; register_builtin_nets() calls them all once.
#pragma once

namespace cudaseg::nets {

void register_builtin_nets();

void register_segformer();  // nets/segformer.cpp
void register_stdc();       // nets/stdc.cpp
void register_ppliteseg();  // nets/ppliteseg.cpp
void register_ddrnet();  // nets/ddrnet.h
void register_enet();    // nets/enet.h
void register_bisenetv2();
void register_fastscnn();

}  // namespace cudaseg::nets
