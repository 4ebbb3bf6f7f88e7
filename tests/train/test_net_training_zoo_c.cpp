// The NetTraining suite (tests/train/test_net_training.cpp) for CGNet,
// CFPNet, ESPNet and ESPNetv2, from their run configs nets/<name>.json.
// ESPNet with 5 classes (its decoder splits num_classes over 5 branches) and
// 20 steps at lr 1e-2: its logits leave a BatchNorm + ReLU and move slower.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(FactorisedC, NetTraining,
                         ::testing::Values(Case{"cgnet", 6}, Case{"cfpnet", 6}, Case{"espnet", 20, 1e-2, 5},
                                           Case{"espnetv2", 6}),
                         cudaseg::train_testing::case_name);
