// The NetTraining suite (tests/train/net_training.h) for the zh320 nets on
// torchvision backbones: LinkNet, SwiftNet and BiSeNetv1.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(TorchvisionE, NetTraining, ::testing::Values(Case{"linknet", 14}, Case{"swiftnet", 6}, Case{"bisenetv1", 6}),
                         cudaseg::train_testing::case_name);
