// rtseg_convert: checkpoint conversion; the command line is cli/convert_main.cpp, the conversion weights/convert.h.
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) { return cudaseg::cli::convert_main(argc, argv, std::cout, std::cerr); }
