// Compiled by the layering tests (tests/CMakeLists.txt) with one layer's
// include directories: it includes the header named by PROBE_HEADER, which
// must be found for a header of the layer or below and must not be for a
// header of a higher layer.
#include PROBE_HEADER

int main() { return 0; }
