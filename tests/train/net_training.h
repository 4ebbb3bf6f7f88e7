// The NetTraining suite (tests/train/test_net_training.cpp): each run config
// nets/<config>.json trains its net in the Trainer and a few steps lower the
// loss on a fixed batch. Groups of nets instantiate it in their own files.
#pragma once

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

namespace cudaseg::train_testing {

struct Case {
  const char* config;
  int64_t steps;
  double lr = 1e-3;
  int64_t num_classes = 4;  // of the model and the synthetic data
  int64_t image_size = 64;   // side of the square synthetic images (nets with a fixed input size)
};

class NetTraining : public ::testing::TestWithParam<Case> {};

inline std::string case_name(const ::testing::TestParamInfo<Case>& info) { return info.param.config; }

}  // namespace cudaseg::train_testing
