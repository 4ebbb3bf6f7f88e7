// The NetTraining suite (tests/train/net_training.h) for ADSCNet, FPENet, FSSNet and MiniNetv2, from
// their run configs nets/<name>.json, at ENet's learning rate (at 1e-3 six
// steps lower their loss by only 10-18%); FPENet takes 8 (0.81 of the loss after 6).
#include <gtest/gtest.h>

#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(FactorisedD, NetTraining, ::testing::Values(Case{"adscnet", 9, 5e-3}, Case{"fpenet", 12, 5e-3}, Case{"fssnet", 9, 5e-3}, Case{"mininetv2", 12, 5e-3}),
                         cudaseg::train_testing::case_name);
