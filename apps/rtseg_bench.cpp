// rtseg_bench: latency, throughput, parameters, GMACs and memory of a net;
// the logic is cli/cli.h.
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) { return cudaseg::cli::bench_main(argc, argv, std::cout, std::cerr); }
