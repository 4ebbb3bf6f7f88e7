// The NetTraining suite (tests/train/net_training.h) for SFSegNets' nets:
// SFNet (ResNet-18-D, flow-aligned UperNet head) and SFNet-Lite.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(SFSegNetsL, NetTraining, ::testing::Values(Case{"sfnet", 8}, Case{"sfnet_lite", 8}),
                         cudaseg::train_testing::case_name);
