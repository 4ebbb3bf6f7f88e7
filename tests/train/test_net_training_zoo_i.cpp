// The NetTraining suite (tests/train/net_training.h) for FarSeeNet, LiteSeg
// and ShelfNet, zh320 nets on the torchvision backbones.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(TorchvisionI, NetTraining, ::testing::Values(Case{"farseenet", 6}, Case{"liteseg", 6}, Case{"shelfnet", 6}),
                         cudaseg::train_testing::case_name);
