// Gradchecks of softmax and log_softmax on several dims.
#include <gtest/gtest.h>

#include "autograd/softmax.h"
#include "common/testing.h"

namespace cudaseg {
using testing::gradcheck_ok;

TEST(SoftmaxGrad, SoftmaxAndLogSoftmaxOnEveryDim) {
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    auto s = [dim](const std::vector<Tensor>& in) { return fn::softmax(in[0], dim); };
    auto l = [dim](const std::vector<Tensor>& in) { return fn::log_softmax(in[0], dim); };
    EXPECT_TRUE(gradcheck_ok(s, {testing::leaf({2, 3, 4}, 1)})) << dim;
    EXPECT_TRUE(gradcheck_ok(l, {testing::leaf({2, 3, 4}, 2)})) << dim;
  }
}

TEST(SoftmaxGrad, SoftmaxThenLogSoftmax) {
  auto s = [](const std::vector<Tensor>& in) { return fn::log_softmax(fn::softmax(in[0], 0), 1); };
  EXPECT_TRUE(gradcheck_ok(s, {testing::leaf({3, 5}, 3)}));
}

}  // namespace cudaseg
