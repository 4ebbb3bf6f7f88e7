// The NetTraining suite (tests/train/net_training.h) for DFANet and
// Lite-HRNet of zh320's zoo (both take the suite's 64x64 images: DFANet needs
// multiples of 64, Lite-HRNet of 32), and the run configs of the wider
// variants of two first-slice nets: DDRNet-23 and PP-LiteSeg's STDC2 encoder.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(ZooG, NetTraining, ::testing::Values(Case{"dfanet", 6}, Case{"litehrnet", 12},
                                                          Case{"ddrnet23", 6}, Case{"ppliteseg_stdc2", 6}),
                         cudaseg::train_testing::case_name);
