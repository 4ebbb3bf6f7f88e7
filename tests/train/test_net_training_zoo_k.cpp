// The NetTraining suite (tests/train/net_training.h) for PIDNet-S (nets/pidnet.h):
// the main, P-aux and boundary losses together, at the suite's 64x64.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(PidK, NetTraining, ::testing::Values(Case{"pidnet_s", 8}),
                         cudaseg::train_testing::case_name);
