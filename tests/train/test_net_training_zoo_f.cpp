// The NetTraining suite (tests/train/net_training.h) for ContextNet, SQNet,
// SegNet and RegSeg, from their run configs nets/<name>.json.
#include <gtest/gtest.h>

#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(ZooF, NetTraining,
                         ::testing::Values(Case{"contextnet", 6}, Case{"sqnet", 14}, Case{"segnet", 10},
                                           Case{"regseg", 6}),
                         cudaseg::train_testing::case_name);
