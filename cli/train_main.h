// The rtseg_train command line (apps/rtseg_train.cpp is only a main calling
// train_main):
//   rtseg_train CONFIG.json [--set KEY=VALUE ...] [--resume DIR|CKPT] [--out DIR]
// It loads and validates the config (train/config.h), builds the data
// (train/data_config.h) and runs the Trainer, printing progress to `err`.
#pragma once

#include <atomic>
#include <ostream>

namespace cudaseg::cli {

// Returns the exit status: 0 done, 1 runtime error (one line "rtseg_train:
// message" on `err`), 2 usage error. When `stop` is given and turns true, the
// run checkpoints after the current step and returns 0.
int train_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
               const std::atomic<bool>* stop = nullptr);

}  // namespace cudaseg::cli
