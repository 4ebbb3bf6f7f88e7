// The NetTraining suite (tests/train/net_training.h) for PP-MobileSeg base
// (AAMSx8, logits at 1/8) and tiny (AAM, 1/16).
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(PPMobileSeg, NetTraining,
                         ::testing::Values(Case{"pp_mobileseg_base", 8}, Case{"pp_mobileseg_tiny", 8}),
                         cudaseg::train_testing::case_name);
