// The NetTraining suite (tests/train/net_training.h) for DFANet and
// Lite-HRNet of zh320's zoo (both take the suite's 64x64 images: DFANet needs
// multiples of 64, Lite-HRNet of 32).
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(ZooG, NetTraining, ::testing::Values(Case{"dfanet", 6}, Case{"litehrnet", 6}),
                         cudaseg::train_testing::case_name);
