// The NetTraining suite (tests/train/net_training.h) for FastSegFormer-E and
// -P, on 224x224 images: -E's attention biases fix its input to 224x224, and
// the image reconstruction branch of both gives 224x224 logits.
#include "tests/train/net_training.h"

using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

INSTANTIATE_TEST_SUITE_P(FastSegFormer, NetTraining,
                         ::testing::Values(Case{"fastsegformer_e", 8, 1e-3, 4, 224},
                                           Case{"fastsegformer_p", 6, 1e-3, 4, 224}),
                         cudaseg::train_testing::case_name);
