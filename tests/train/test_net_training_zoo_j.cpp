// The NetTraining suite (tests/train/net_training.h) for the segmentation-
// models-pytorch teachers of zh320 (nets/smp.h) on ResNet-18: DeepLabV3+,
// Unet and FPN, at the suite's 64x64.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(SmpJ, NetTraining,
                         ::testing::Values(Case{"smp_deeplabv3p_resnet18", 6}, Case{"smp_unet_resnet18", 9},
                                           Case{"smp_fpn_resnet18", 6}),
                         cudaseg::train_testing::case_name);
