// rtseg_convert: checkpoint conversion; the logic is weights/convert.h.
#include <iostream>

#include "weights/convert.h"

int main(int argc, char** argv) { return cudaseg::weights::convert_main(argc, argv, std::cout, std::cerr); }
