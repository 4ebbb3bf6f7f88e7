// The NetTraining suite (tests/train/net_training.h) for the zh320 nets on
// torchvision backbones with attention or multi-scale cascades: CANet,
// FANet and ICNet. CANet's logits leave its 8x transposed conv through
// BatchNorm and ReLU (as upstream's), so it moves slower and gets a few more
// steps and a larger lr.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(TorchvisionH, NetTraining,
                         ::testing::Values(Case{"canet", 12, 5e-3}, Case{"fanet", 6}, Case{"icnet", 6}),
                         cudaseg::train_testing::case_name);
