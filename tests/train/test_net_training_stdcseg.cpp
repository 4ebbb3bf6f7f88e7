// The NetTraining suite (tests/train/net_training.h) for STDC-Seg as
// MichaelFan01/STDC-Seg releases it (nets/stdcseg.h): STDC1 and STDC2 with the
// detail head at stride 8 (the upstream training scripts' use_boundary_8),
// OHEM CE on out, out16 and out32 plus the detail loss.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(STDCSeg, NetTraining,
                         ::testing::Values(Case{"stdc1_seg50", 6}, Case{"stdc2_seg50", 6}),
                         cudaseg::train_testing::case_name);
