// rtseg_infer: segmentation of images, folders, globs and videos with a
// cudaseg checkpoint, and the debug path; the logic is cli/cli.h.
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) { return cudaseg::cli::infer_main(argc, argv, std::cout, std::cerr); }
