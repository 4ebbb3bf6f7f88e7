// The CUDA activations against the CPU reference kernels: the same values
// (rounded to the tested dtype) go through the CUDA op in that dtype and the
// CPU op in float64, forward and backward, on odd shapes and strided views.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "common/cuda_compare.h"
#include "common/cuda_skip.h"
#include "common/testing.h"
#include "ops/activation.h"

namespace {

namespace ct = cudaseg::testing;
namespace ops = cudaseg::ops;
using cudaseg::Device;
using cudaseg::DType;
using cudaseg::Shape;
using cudaseg::Tensor;

const DType kTypes[] = {DType::f32, DType::f16, DType::bf16, DType::f64};

using cudaseg::testing::cuda::expect_close;
using cudaseg::testing::cuda::Input;
using cudaseg::testing::cuda::poison;
using cudaseg::testing::cuda::random_input;

struct Pointwise {
  std::string name;
  std::function<Tensor(const Tensor&)> forward;
  std::function<Tensor(const Tensor&, const Tensor&)> backward;
};

std::vector<Pointwise> pointwise_ops() {
  return {
      {"relu", [](const Tensor& x) { return ops::relu(x); }, ops::relu_backward},
      {"relu6", [](const Tensor& x) { return ops::relu6(x); }, ops::relu6_backward},
      {"leaky_relu", [](const Tensor& x) { return ops::leaky_relu(x, 0.2); },
       [](const Tensor& g, const Tensor& x) { return ops::leaky_relu_backward(g, x, 0.2); }},
      {"elu", [](const Tensor& x) { return ops::elu(x, 0.7); },
       [](const Tensor& g, const Tensor& x) { return ops::elu_backward(g, x, 0.7); }},
      {"celu", [](const Tensor& x) { return ops::celu(x, 1.3); },
       [](const Tensor& g, const Tensor& x) { return ops::celu_backward(g, x, 1.3); }},
      {"selu", [](const Tensor& x) { return ops::selu(x); }, ops::selu_backward},
      {"gelu", [](const Tensor& x) { return ops::gelu(x); },
       [](const Tensor& g, const Tensor& x) { return ops::gelu_backward(g, x); }},
      {"gelu_tanh", [](const Tensor& x) { return ops::gelu(x, "tanh"); },
       [](const Tensor& g, const Tensor& x) { return ops::gelu_backward(g, x, "tanh"); }},
      {"silu", [](const Tensor& x) { return ops::silu(x); }, ops::silu_backward},
      {"hardswish", [](const Tensor& x) { return ops::hardswish(x); }, ops::hardswish_backward},
      {"hardsigmoid", [](const Tensor& x) { return ops::hardsigmoid(x); }, ops::hardsigmoid_backward},
      {"hardtanh", [](const Tensor& x) { return ops::hardtanh(x, -0.5, 2.0); },
       [](const Tensor& g, const Tensor& x) { return ops::hardtanh_backward(g, x, -0.5, 2.0); }},
      // sigmoid and tanh differentiate from their output, which any values stand in for here.
      {"sigmoid", [](const Tensor& x) { return ops::sigmoid(x); }, ops::sigmoid_backward},
      {"tanh", [](const Tensor& x) { return ops::tanh(x); }, ops::tanh_backward},
  };
}

TEST(CudaActivation, PointwiseForwardAndBackwardMatchCpu) {
  CUDASEG_REQUIRE_CUDA();
  const Shape shape{7, 13, 17};
  for (const Pointwise& op : pointwise_ops()) {
    for (DType dtype : kTypes) {
      for (bool strided : {false, true}) {
        const std::string what = op.name + (strided ? " strided" : "");
        // Wide enough to reach every branch, hardswish's +-3 included.
        const Input x = random_input(shape, 1, dtype, strided, 3.0);
        const Input g = random_input(shape, 2, dtype, !strided);
        poison(shape, dtype);
        expect_close(op.forward(x.gpu), op.forward(x.cpu), dtype, what);
        poison(shape, dtype);
        expect_close(op.backward(g.gpu, x.gpu), op.backward(g.cpu, x.cpu), dtype, what + " backward");
      }
    }
  }
}

TEST(CudaActivation, NanPropagatesAsOnCpu) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor x = Tensor::from_vector({NAN, -1.0, 0.5}, {3}).to(Device::cuda(0));
  for (const Pointwise& op : pointwise_ops()) {
    const std::vector<double> got = op.forward(x).to_vector(), want = op.forward(x.to(Device::cpu())).to_vector();
    EXPECT_EQ(std::isnan(got[0]), std::isnan(want[0])) << op.name;
  }
}

TEST(CudaActivation, PreluForwardAndBackwardMatchCpu) {
  CUDASEG_REQUIRE_CUDA();
  struct Case {
    Shape shape;
    int64_t weights;
  };
  for (const Case& pc : {Case{{4, 6, 5, 7}, 6}, Case{{4, 6, 5, 7}, 1}, Case{{9, 6}, 6}, Case{{50}, 1}}) {
    for (DType dtype : kTypes) {
      const std::string what = "prelu " + cudaseg::shape_str(pc.shape) + " weights " + std::to_string(pc.weights);
      const Input x = random_input(pc.shape, 3, dtype, true);
      const Input g = random_input(pc.shape, 4, dtype);
      const Input w = random_input({pc.weights}, 5, dtype);
      poison(pc.shape, dtype);
      expect_close(ops::prelu(x.gpu, w.gpu), ops::prelu(x.cpu, w.cpu), dtype, what);
      poison(pc.shape, dtype);
      poison({pc.weights}, dtype);
      const ops::PreluGrads got = ops::prelu_backward(g.gpu, x.gpu, w.gpu);
      const ops::PreluGrads want = ops::prelu_backward(g.cpu, x.cpu, w.cpu);
      expect_close(got.input, want.input, dtype, what + " grad input");
      expect_close(got.weight, want.weight, dtype, what + " grad weight");
      const ops::PreluGrads only_w = ops::prelu_backward(g.gpu, x.gpu, w.gpu, false, true);
      EXPECT_FALSE(only_w.input.defined());
      expect_close(only_w.weight, want.weight, dtype, what + " grad weight alone");
    }
  }
}

TEST(CudaActivation, GluForwardAndBackwardMatchCpu) {
  CUDASEG_REQUIRE_CUDA();
  struct Case {
    Shape shape;
    int64_t dim;
  };
  for (const Case& gc : {Case{{6, 10, 7}, 1}, Case{{5, 8}, -1}, Case{{4, 3, 5}, 0}}) {
    Shape half = gc.shape;
    half[gc.dim < 0 ? half.size() - 1 : gc.dim] /= 2;
    for (DType dtype : kTypes) {
      const std::string what = "glu " + cudaseg::shape_str(gc.shape) + " dim " + std::to_string(gc.dim);
      const Input x = random_input(gc.shape, 6, dtype, true, 2.0);
      const Input g = random_input(half, 7, dtype, true);
      poison(half, dtype);
      expect_close(ops::glu(x.gpu, gc.dim), ops::glu(x.cpu, gc.dim), dtype, what);
      poison(gc.shape, dtype);
      expect_close(ops::glu_backward(g.gpu, x.gpu, gc.dim), ops::glu_backward(g.cpu, x.cpu, gc.dim), dtype,
                   what + " backward");
    }
  }
}

}  // namespace
