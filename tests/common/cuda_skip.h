// Shared by the CUDA suites: skip, visibly, where no CUDA device exists.
#pragma once

#include <gtest/gtest.h>

#include "runtime/gpu.h"

#define CUDASEG_REQUIRE_CUDA()                                      \
  do {                                                              \
    if (::cudaseg::gpu::device_count() == 0) GTEST_SKIP() << "skipped: no CUDA device"; \
  } while (0)
