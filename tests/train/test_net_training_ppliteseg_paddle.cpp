// The NetTraining suite (tests/train/net_training.h) for PaddleSeg's
// PP-LiteSeg (nets/ppliteseg_paddle.h): PP-LiteSeg-T, its three heads' OHEM
// CE through the Trainer (PaddleSeg's coef [1, 1, 1]).
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(PPLiteSegPaddle, NetTraining, ::testing::Values(Case{"pp_liteseg_t_paddle", 6}),
                         cudaseg::train_testing::case_name);
