// The NetTraining suite (tests/train/net_training.h) for SEKD's SegFormer
// student (FEF around MiT-B0; its KD layers get no gradient from the
// segmentation loss alone) and FastSegFormer's Swin-T-Att-UNet teacher.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(TransformerN, NetTraining, ::testing::Values(Case{"sekd_b0", 8}, Case{"swin_t_att_unet", 8}),
                         cudaseg::train_testing::case_name);
