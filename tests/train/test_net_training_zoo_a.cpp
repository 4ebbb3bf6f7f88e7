// The NetTraining suite (tests/train/net_training.h) for the factorised-
// convolution nets of zh320's zoo: ERFNet, EDANet, ESNet and FDDWNet. The
// three whose logits leave a transposed conv through BatchNorm and ReLU (as
// upstream's) move slower and get a few more steps or a larger lr.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(FactorisedA, NetTraining,
                         ::testing::Values(Case{"erfnet", 10, 3e-3}, Case{"edanet", 6}, Case{"esnet", 18, 5e-3},
                                           Case{"fddwnet", 12, 5e-3}),
                         cudaseg::train_testing::case_name);
