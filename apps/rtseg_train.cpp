// rtseg_train: training from a run config; the logic is cli/train_main.h.
#include <atomic>
#include <csignal>
#include <iostream>

#include "cli/train_main.h"

namespace {
std::atomic<bool> g_stop{false};
// The first Ctrl-C stops after the current step with a checkpoint; a second one kills.
extern "C" void on_interrupt(int sig) {
  g_stop.store(true);
  std::signal(sig, SIG_DFL);
}
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  return cudaseg::cli::train_main(argc, argv, std::cout, std::cerr, &g_stop);
}
