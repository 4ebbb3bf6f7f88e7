// Shape ops on CUDA against the CPU kernels: pad in every mode (forward and
// backward, cropping included), index_select and its backward with repeated
// indices, slice_backward, and the ops built from views and copy_ (cat,
// stack, split, roll, repeat, channel_shuffle), per dtype, with poisoned
// outputs.
#include <gtest/gtest.h>

#include "autograd/arith.h"
#include "autograd/shape.h"
#include "cuda/elemshape_testing.h"
#include "ops/binary.h"
#include "ops/shape.h"

namespace cudaseg {
namespace {

namespace et = cudaseg::elemshape_testing;
namespace ct = cudaseg::testing;

const std::vector<DType> kAllDtypes = {DType::f32, DType::f16, DType::bf16, DType::f64,
                                       DType::i32, DType::i64, DType::u8,   DType::boolean};

Tensor values_in(const Shape& shape, DType dtype, uint64_t seed) {
  return ops::add(ct::uniform(shape, 0, 100, seed), 1.0).to(dtype);
}

struct PadCase {
  std::vector<int64_t> pads;
  ops::PadMode mode;
};

const std::vector<PadCase>& pad_cases() {
  static const std::vector<PadCase> cases = {
      {{1, 2}, ops::PadMode::constant},          {{2, 1, 0, 3}, ops::PadMode::constant},
      {{-1, 2, 3, -2}, ops::PadMode::constant},  {{1, 1, 1, 1, 1, 0}, ops::PadMode::constant},
      {{3, 2, 1, 4}, ops::PadMode::reflect},     {{0, 4, 2, 0}, ops::PadMode::reflect},
      {{-1, 3, 2, -1}, ops::PadMode::reflect},   {{5, 1, 2, 6}, ops::PadMode::replicate},
      {{0, 3, 4, 0}, ops::PadMode::replicate},   {{-2, 7, 1, -1}, ops::PadMode::replicate}};
  return cases;
}

TEST(CudaShape, PadEveryModeEveryDtype) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kAllDtypes)
    for (const PadCase& c : pad_cases()) {
      const Tensor x = values_in({2, 3, 6, 7}, dtype, 50);
      const Tensor ref = ops::pad(x, c.pads, c.mode, 2.0);
      et::poison(ref.shape(), dtype);
      const Tensor got = ops::pad(ct::noncontiguous(x.to(et::cuda0())), c.pads, c.mode, 2.0);
      EXPECT_TRUE(et::same(got.to(Device::cpu()), ref,
                           std::string("pad ") + shape_str(c.pads) + " " + dtype_name(dtype)));
    }
}

TEST(CudaShape, PadBackwardEveryModePerDtype) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : et::floating_dtypes())
    for (const PadCase& c : pad_cases()) {
      const et::Input x = et::randn_input({2, 3, 6, 7}, 51, dtype, true);
      et::check_fwd_bwd([&](const Tensor& t) { return fn::pad(t, c.pads, c.mode, 0.5); }, x, dtype,
                        "pad " + shape_str(c.pads));
      // The raw op writes every element of its result, including ones no pad reads.
      const Shape in_shape = {2, 3, 6, 7};
      const Tensor padded = ops::pad(x.ref, c.pads, c.mode);
      const et::Input g = et::randn_input(padded.shape(), 52, dtype, true);
      et::poison(in_shape, dtype);
      EXPECT_TRUE(et::close(ops::pad_backward(g.dev, in_shape, c.pads, c.mode),
                            ops::pad_backward(g.ref, in_shape, c.pads, c.mode), dtype,
                            "pad_backward " + shape_str(c.pads)));
    }
  // Integer gradients and the all-zero pad (a plain copy).
  const Tensor gi = values_in({3, 9}, DType::i64, 53);
  EXPECT_TRUE(et::same(ops::pad_backward(gi.to(et::cuda0()), {3, 4}, {2, 3}, ops::PadMode::reflect).to(Device::cpu()),
                       ops::pad_backward(gi, {3, 4}, {2, 3}, ops::PadMode::reflect), "int64 pad_backward"));
  const Tensor gz = ct::randn({4, 5}, 54, DType::f32);
  EXPECT_TRUE(et::same(ops::pad_backward(gz.to(et::cuda0()), {4, 5}, {0, 0}, ops::PadMode::constant).to(Device::cpu()),
                       gz, "zero pad_backward"));
}

TEST(CudaShape, IndexSelectAndBackward) {
  CUDASEG_REQUIRE_CUDA();
  const Shape shape = {4, 9, 5};
  const std::vector<double> picks = {3, 0, 3, 8, 1, 3, 7};  // repeats, not sorted; 2, 4, 5, 6 never picked
  for (DType index_dtype : {DType::i64, DType::i32})
    for (int64_t dim : {0, 1, 2, -1}) {
      const int64_t n = shape[(dim + 3) % 3];
      std::vector<double> v;
      for (double p : picks) v.push_back(static_cast<double>(static_cast<int64_t>(p) % n));
      const Tensor index = Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, index_dtype);
      const Tensor dindex = index.to(et::cuda0());
      for (DType dtype : kAllDtypes) {
        const Tensor x = values_in(shape, dtype, 55);
        const Tensor ref = ops::index_select(x, dim, index);
        et::poison(ref.shape(), dtype);
        EXPECT_TRUE(et::same(ops::index_select(ct::noncontiguous(x.to(et::cuda0())), dim, dindex).to(Device::cpu()),
                             ref, std::string("index_select dim ") + std::to_string(dim) + " " + dtype_name(dtype)));
      }
      for (DType dtype : et::floating_dtypes()) {
        const et::Input x = et::randn_input(shape, 56, dtype, true);
        et::check_fwd_bwd(
            [&](const Tensor& t) { return fn::index_select(t, dim, t.device().is_cuda() ? dindex : index); }, x,
            dtype, "index_select dim " + std::to_string(dim));
      }
    }
  EXPECT_TRUE(ct::throws_mentioning(
      [] {
        ops::index_select(Tensor::zeros({3, 4}, DType::f32, et::cuda0()), 1,
                          Tensor::from_vector({4}, {1}, DType::i64).to(et::cuda0()));
      },
      {"index_select", "out of range"}));
}

TEST(CudaShape, SliceBackwardPerDtype) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : et::floating_dtypes()) {
    const et::Input x = et::randn_input({5, 12, 7}, 57, dtype, true);
    et::check_fwd_bwd([](const Tensor& t) { return fn::slice(t, 1, 1, 11, 3); }, x, dtype, "slice");
    et::check_fwd_bwd([](const Tensor& t) { return fn::select(t, 2, 4); }, x, dtype, "select");
    const et::Input g = et::randn_input({5, 4, 7}, 58, dtype, true);
    et::poison({5, 12, 7}, dtype);
    EXPECT_TRUE(et::close(ops::slice_backward(g.dev, {5, 12, 7}, 1, 1, 11, 3),
                          ops::slice_backward(g.ref, {5, 12, 7}, 1, 1, 11, 3), dtype, "slice_backward"));
  }
}

TEST(CudaShape, CopyBuiltOpsRunOnCuda) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kAllDtypes) {
    const Tensor a = values_in({2, 6, 3, 5}, dtype, 59), b = values_in({2, 4, 3, 5}, dtype, 60);
    const Tensor da = ct::noncontiguous(a.to(et::cuda0())), db = b.to(et::cuda0());
    const std::string t = std::string(" ") + dtype_name(dtype);
    auto host = [](const Tensor& x) { return x.to(Device::cpu()); };
    EXPECT_TRUE(et::same(host(ops::cat({da, db}, 1)), ops::cat({a, b}, 1), "cat" + t));
    EXPECT_TRUE(et::same(host(ops::stack({da, da}, 2)), ops::stack({a, a}, 2), "stack" + t));
    const auto parts = ops::split(da, 4, 1);
    const auto ref_parts = ops::split(a, 4, 1);
    ASSERT_EQ(parts.size(), ref_parts.size());
    for (size_t i = 0; i < parts.size(); ++i) EXPECT_TRUE(et::same(host(parts[i]), ref_parts[i], "split" + t));
    EXPECT_TRUE(et::same(host(ops::roll(da, {2, -1}, {1, 3})), ops::roll(a, {2, -1}, {1, 3}), "roll" + t));
    EXPECT_TRUE(et::same(host(ops::roll(da, {7})), ops::roll(a, {7}), "flat roll" + t));
    EXPECT_TRUE(et::same(host(ops::repeat(da, {2, 1, 3, 1, 2})), ops::repeat(a, {2, 1, 3, 1, 2}), "repeat" + t));
    EXPECT_TRUE(et::same(host(ops::channel_shuffle(da, 3)), ops::channel_shuffle(a, 3), "channel_shuffle" + t));
  }
  // Their gradients on CUDA (repeat's sums back through a reduction).
  for (DType dtype : et::floating_dtypes()) {
    const et::Input x = et::randn_input({2, 6, 3, 5}, 61, dtype, true);
    et::check_fwd_bwd([](const Tensor& t) { return fn::repeat(t, {1, 2, 1, 3}); }, x, dtype, "repeat");
    et::check_fwd_bwd([](const Tensor& t) { return fn::roll(t, {1, -2}, {1, 3}); }, x, dtype, "roll");
    et::check_fwd_bwd([](const Tensor& t) { return fn::channel_shuffle(t, 2); }, x, dtype, "channel_shuffle");
    et::check_fwd_bwd([](const Tensor& t) { return fn::cat({t, fn::mul(t, t)}, 3); }, x, dtype, "cat");
  }
}

}  // namespace
}  // namespace cudaseg
