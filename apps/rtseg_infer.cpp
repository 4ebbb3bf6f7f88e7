// rtseg_infer: segmentation of images, folders, globs and videos with a
// cudaseg checkpoint, and the debug path; the logic is weights/session_cli.h.
#include <iostream>

#include "weights/session_cli.h"

int main(int argc, char** argv) { return cudaseg::weights::infer_main(argc, argv, std::cout, std::cerr); }
