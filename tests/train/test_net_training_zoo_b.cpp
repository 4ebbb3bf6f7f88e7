// The NetTraining suite (tests/train/net_training.h) for the zh320 nets of
// the second zoo slice: each run config lowers the loss on a fixed batch.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(FactorisedB, NetTraining,
                         ::testing::Values(Case{"lednet", 6}, Case{"aglnet", 6}, Case{"dabnet", 6},
                                           Case{"mininet", 14}),
                         cudaseg::train_testing::case_name);
