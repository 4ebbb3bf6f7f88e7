// CUDA dropout against the CPU kernel: for the same Generator state the mask
// is the CPU mask bit for bit (both draw Philox stream index offset + i for
// mask element i), the generator advances alike, and the output and backward
// apply that mask.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/cuda_skip.h"
#include "common/testing.h"
#include "ops/dropout.h"

namespace {

namespace ct = cudaseg::testing;
namespace ops = cudaseg::ops;
using cudaseg::Device;
using cudaseg::DType;
using cudaseg::Generator;
using cudaseg::Shape;
using cudaseg::Tensor;

// Relative L2 bounds against the CPU run: the 16-bit outputs are rounded
// products (11-bit fp16, 8-bit bf16 mantissas) of a mask whose scale is
// itself rounded to the 16-bit type.
double tolerance(DType t) { return t == DType::f16 ? 1e-2 : 2e-2; }

// The caching allocator hands a freed block back to the next allocation of
// that size on the same stream, so releasing NaN-filled blocks makes the op's
// fresh outputs (and masks) start as NaN: an unwritten element shows.
void poison(const Shape& shape, DType dtype) {
  std::vector<Tensor> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(Tensor::empty(shape, dtype, Device::cuda(0)).fill_(NAN));
}

struct Case {
  Shape shape;
  bool channels;  // dropout2d
  double p;
};
const Case kCases[] = {{{7, 13, 11}, false, 0.3}, {{4099}, false, 0.5}, {{5, 6, 9, 7}, true, 0.4},
                       {{3, 8, 10}, true, 0.7},   {{6, 5}, false, 1.0}};

ops::DropoutResult run(const Case& dc, const Tensor& x, Generator& gen) {
  return dc.channels ? ops::dropout2d(x, dc.p, true, gen) : ops::dropout(x, dc.p, true, gen);
}

TEST(CudaDropout, MaskAndOutputEqualTheCpuBitForBit) {
  CUDASEG_REQUIRE_CUDA();
  for (const Case& dc : kCases) {
    for (DType dtype : {DType::f32, DType::f64}) {
      const std::string what = std::string(dc.channels ? "dropout2d " : "dropout ") + cudaseg::shape_str(dc.shape);
      const Tensor x = ct::randn(dc.shape, 1, dtype);
      Generator cpu_gen(77, 12), gpu_gen(77, 12);
      poison(dc.shape, dtype);
      const ops::DropoutResult got = run(dc, ct::noncontiguous(x.to(Device::cuda(0))), gpu_gen);
      const ops::DropoutResult want = run(dc, x, cpu_gen);
      ASSERT_TRUE(got.mask.device().is_cuda()) << what;
      EXPECT_EQ(got.mask.shape(), want.mask.shape()) << what;
      EXPECT_EQ(got.mask.to_vector(), want.mask.to_vector()) << what;
      EXPECT_EQ(got.output.shape(), want.output.shape()) << what;
      EXPECT_EQ(got.output.to_vector(), want.output.to_vector()) << what;
      EXPECT_EQ(gpu_gen.offset(), cpu_gen.offset()) << what;

      const Tensor g = ct::randn(dc.shape, 2, dtype);
      poison(dc.shape, dtype);
      EXPECT_EQ(ops::dropout_backward(ct::noncontiguous(g.to(Device::cuda(0))), got.mask).to_vector(),
                ops::dropout_backward(g, want.mask).to_vector())
          << what << " backward";
    }
  }
}

TEST(CudaDropout, SixteenBitMasksFollowTheSameStream) {
  CUDASEG_REQUIRE_CUDA();
  for (const Case& dc : kCases) {
    for (DType dtype : {DType::f16, DType::bf16}) {
      const std::string what = std::string(dc.channels ? "dropout2d " : "dropout ") + cudaseg::shape_str(dc.shape) +
                               " " + cudaseg::dtype_name(dtype);
      const Tensor x = ct::randn(dc.shape, 3).to(Device::cuda(0), dtype);
      const Tensor x_cpu = x.to(Device::cpu(), DType::f32);
      Generator cpu_gen(5, 3), gpu_gen(5, 3);
      poison(dc.shape, dtype);
      const ops::DropoutResult got = run(dc, x, gpu_gen);
      const ops::DropoutResult want = run(dc, x_cpu, cpu_gen);
      // The float32 CPU mask rounded to the 16-bit type is the CUDA mask exactly.
      EXPECT_EQ(got.mask.to_vector(), want.mask.to(dtype).to_vector()) << what;
      EXPECT_LE(ct::rel_l2(got.output, want.output), tolerance(dtype)) << what;
      EXPECT_EQ(gpu_gen.offset(), cpu_gen.offset()) << what;
      const Tensor g = ct::randn(dc.shape, 4).to(Device::cuda(0), dtype);
      EXPECT_LE(ct::rel_l2(ops::dropout_backward(g, got.mask),
                           ops::dropout_backward(g.to(Device::cpu(), DType::f32), want.mask)),
                tolerance(dtype))
          << what << " backward";
    }
  }
}

TEST(CudaDropout, IdentityOutsideTrainingDrawsNothing) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor x = ct::randn({4, 6}, 5, DType::f32).to(Device::cuda(0));
  Generator gen(1);
  const ops::DropoutResult r = ops::dropout(x, 0.5, false, gen);
  EXPECT_TRUE(r.output.is_same(x));
  EXPECT_FALSE(r.mask.defined());
  EXPECT_EQ(gen.offset(), 0u);
}

}  // namespace
