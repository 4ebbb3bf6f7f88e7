// rtseg_bench: latency, throughput, parameters, GMACs and memory of a net;
// the logic is weights/session_cli.h.
#include <iostream>

#include "weights/session_cli.h"

int main(int argc, char** argv) { return cudaseg::weights::bench_main(argc, argv, std::cout, std::cerr); }
