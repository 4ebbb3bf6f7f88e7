// Reductions on CUDA against the CPU kernels: every op over dim sets that
// take each kernel path (rows by warp, rows by block, rows split into chunks,
// an inner dim with and without chunks, the permuted copy), per dtype,
// forward and backward, poisoned outputs; indices and ties exactly; runs that
// repeat bit for bit.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/arith.h"
#include "autograd/reduce.h"
#include "cuda/elemshape_testing.h"
#include "ops/binary.h"
#include "ops/reduce.h"

namespace cudaseg {
namespace {

namespace et = cudaseg::elemshape_testing;
namespace ct = cudaseg::testing;

using Dims = std::vector<int64_t>;
using ReduceFn = std::function<Tensor(const Tensor&, const Dims&, bool)>;

const std::vector<std::pair<const char*, ReduceFn>>& reductions() {
  static const std::vector<std::pair<const char*, ReduceFn>> fns = {
      {"sum", [](const Tensor& x, const Dims& d, bool k) { return fn::sum(x, d, k); }},
      {"mean", [](const Tensor& x, const Dims& d, bool k) { return fn::mean(x, d, k); }},
      {"amax", [](const Tensor& x, const Dims& d, bool k) { return fn::amax(x, d, k); }},
      {"amin", [](const Tensor& x, const Dims& d, bool k) { return fn::amin(x, d, k); }},
      {"var", [](const Tensor& x, const Dims& d, bool k) { return fn::var(x, d, 1.0, k); }},
      {"std", [](const Tensor& x, const Dims& d, bool k) { return fn::std(x, d, 0.0, k); }},
      {"norm1", [](const Tensor& x, const Dims& d, bool k) { return fn::norm(x, 1.0, d, k); }},
      {"norm2", [](const Tensor& x, const Dims& d, bool k) { return fn::norm(x, 2.0, d, k); }}};
  return fns;
}

std::string describe(const char* name, const Shape& shape, const Dims& dims, bool keepdim, bool noncontig) {
  return std::string(name) + " of " + shape_str(shape) + " over " + shape_str(dims) + (keepdim ? " keepdim" : "") +
         (noncontig ? " (view)" : "");
}

TEST(CudaReduce, EveryOpEveryPathPerDtype) {
  CUDASEG_REQUIRE_CUDA();
  const Shape shape = {4, 33, 5, 7};
  // All dims, the last (rows), a middle one and a middle run (inner), the
  // first (inner, outer 1), and a split set (the permuted copy).
  const std::vector<Dims> dim_sets = {{}, {3}, {1}, {1, 2}, {0}, {0, 2}, {-1, -2}};
  for (DType dtype : et::floating_dtypes())
    for (const auto& [name, f] : reductions())
      for (size_t s = 0; s < dim_sets.size(); ++s) {
        const bool keepdim = s % 2 == 1, noncontig = s % 3 == 2;
        const et::Input x = et::randn_input(shape, 30 + s, dtype, noncontig);
        const Dims dims = dim_sets[s];
        et::check_fwd_bwd([&](const Tensor& t) { return f(t, dims, keepdim); }, x, dtype,
                          describe(name, shape, dims, keepdim, noncontig));
      }
}

TEST(CudaReduce, LongRowsAndChunkedReductions) {
  CUDASEG_REQUIRE_CUDA();
  // rows by block (count 3001), rows split into chunks (count 70000 over 2 rows,
  // 200001 in one), an inner dim split into chunks (count 20000, inner 3).
  const std::vector<std::pair<Shape, Dims>> cases = {
      {{5, 3001}, {1}}, {{2, 70000}, {1}}, {{200001}, {}}, {{2, 20000, 3}, {1}}, {{20000, 17}, {0}}};
  for (DType dtype : et::floating_dtypes())
    for (const auto& [name, f] : reductions())
      for (const auto& [shape, dims] : cases) {
        // A non-zero mean makes var and the sums less forgiving; the scale keeps
        // the float16 sums of 200001 elements below its largest finite value.
        const et::Input x = et::input_from(ops::mul(ops::add(ct::randn(shape, 40), 0.75), 0.1), dtype);
        const Tensor ref = f(x.ref, dims, false);
        et::poison(ref.shape(), dtype);
        EXPECT_TRUE(et::close(f(x.dev, dims, false), ref, dtype, describe(name, shape, dims, false, false)));
      }
}

TEST(CudaReduce, RepeatedRunsAreBitwiseEqual) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor x = ct::randn({3, 90001}, 41, DType::f32).to(et::cuda0());
  const Tensor y = ct::randn({2, 30000, 5}, 42, DType::f32).to(et::cuda0());
  for (const auto& [name, f] : reductions()) {
    EXPECT_EQ(f(x, {1}, false).to_vector(), f(x, {1}, false).to_vector()) << name;
    EXPECT_EQ(f(y, {1}, false).to_vector(), f(y, {1}, false).to_vector()) << name;
  }
}

TEST(CudaReduce, IntegerSumAndExtremesAreExact) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : {DType::i32, DType::i64})
    for (const Dims& dims : std::vector<Dims>{{}, {2}, {1}, {0, 2}}) {
      const Tensor x = et::small_ints({6, 13, 2001}, 100000, 43).to(dtype);
      const Tensor dx = x.to(et::cuda0());
      const std::string what = std::string(dtype_name(dtype)) + " over " + shape_str(dims);
      EXPECT_TRUE(et::same(ops::sum(dx, dims).to(Device::cpu()), ops::sum(x, dims), "sum " + what));
      EXPECT_TRUE(et::same(ops::amax(dx, dims, true).to(Device::cpu()), ops::amax(x, dims, true), "amax " + what));
      EXPECT_TRUE(et::same(ops::amin(dx, dims).to(Device::cpu()), ops::amin(x, dims), "amin " + what));
    }
}

// Values with many ties (and, when asked, NaNs): the indices must be the CPU's exactly.
Tensor tied_values(const Shape& shape, uint64_t seed, bool with_nans) {
  Tensor v = et::small_ints(shape, 5, seed);
  if (!with_nans) return v;
  std::vector<double> e = v.to_vector();
  for (size_t i = 0; i < e.size(); i += 97) e[i] = NAN;
  return Tensor::from_vector(e, shape);
}

TEST(CudaReduce, IndicesMatchTheCpuWithTiesAndNans) {
  CUDASEG_REQUIRE_CUDA();
  const std::vector<Shape> shapes = {{7, 9, 11}, {3, 3001, 2}, {2, 40000}};
  for (DType dtype : {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i32, DType::i64})
    for (const Shape& shape : shapes)
      for (bool nans : {false, true}) {
        if (nans && !is_floating(dtype)) continue;
        const Tensor x = tied_values(shape, 44, nans).to(dtype);
        const Tensor dx = x.to(et::cuda0());
        for (int64_t dim = 0; dim < static_cast<int64_t>(shape.size()); ++dim) {
          const std::string what = std::string(dtype_name(dtype)) + " " + shape_str(shape) + " dim " +
                                   std::to_string(dim) + (nans ? " with NaNs" : "");
          for (bool keepdim : {false, true}) {
            const ops::ValuesIndices ref = ops::max(x, dim, keepdim), ref_min = ops::min(x, dim, keepdim);
            et::poison(ref.indices.shape(), DType::i64);
            const ops::ValuesIndices got = ops::max(dx, dim, keepdim), got_min = ops::min(dx, dim, keepdim);
            EXPECT_TRUE(et::same(got.values.to(Device::cpu()), ref.values, "max values " + what));
            EXPECT_TRUE(et::same(got.indices.to(Device::cpu()), ref.indices, "max indices " + what));
            EXPECT_TRUE(et::same(got_min.values.to(Device::cpu()), ref_min.values, "min values " + what));
            EXPECT_TRUE(et::same(got_min.indices.to(Device::cpu()), ref_min.indices, "min indices " + what));
          }
          EXPECT_TRUE(et::same(ops::argmax(dx, dim).to(Device::cpu()), ops::argmax(x, dim), "argmax " + what));
          EXPECT_TRUE(et::same(ops::argmin(dx, dim, true).to(Device::cpu()), ops::argmin(x, dim, true),
                               "argmin " + what));
        }
        EXPECT_TRUE(et::same(ops::argmax(dx).to(Device::cpu()), ops::argmax(x), "flat argmax"));
        EXPECT_TRUE(et::same(ops::argmin(dx, std::nullopt, true).to(Device::cpu()), ops::argmin(x, std::nullopt, true),
                             "flat argmin"));
        EXPECT_TRUE(et::same(ops::amax(dx).to(Device::cpu()), ops::amax(x), "amax with ties"));
      }
}

TEST(CudaReduce, ValueSelectingBackwardPerDtype) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : et::floating_dtypes())
    for (int64_t dim : {0, 1, 2})
      for (bool keepdim : {false, true}) {
        const et::Input x = et::randn_input({5, 8, 7}, 45 + dim, dtype, dim == 1);
        const std::string what = "max along " + std::to_string(dim) + (keepdim ? " keepdim" : "");
        et::check_fwd_bwd([&](const Tensor& t) { return fn::max(t, dim, keepdim).values; }, x, dtype, what);
        et::check_fwd_bwd([&](const Tensor& t) { return fn::min(t, dim, keepdim).values; }, x, dtype,
                          "min" + what.substr(3));
        // The raw op, on a gradient view, into poisoned memory.
        const ops::ValuesIndices ref = ops::max(x.ref, dim, keepdim);
        const ops::ValuesIndices got = ops::max(x.dev, dim, keepdim);
        const et::Input g = et::randn_input(ref.values.shape(), 46, dtype, true);
        et::poison(x.ref.shape(), dtype);
        EXPECT_TRUE(et::close(ops::value_selecting_reduction_backward(g.dev, dim, got.indices, x.ref.shape(), keepdim),
                              ops::value_selecting_reduction_backward(g.ref, dim, ref.indices, x.ref.shape(), keepdim),
                              dtype, "value_selecting_reduction_backward " + what));
      }
}

TEST(CudaReduce, EmptyAndDegenerateReductions) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor empty = Tensor::zeros({3, 0, 4}, DType::f32);
  const Tensor dempty = empty.to(et::cuda0());
  EXPECT_TRUE(et::same(ops::sum(dempty, {1}).to(Device::cpu()), ops::sum(empty, {1}), "sum over an empty dim"));
  EXPECT_TRUE(et::same(ops::mean(dempty, {1}).to(Device::cpu()), ops::mean(empty, {1}), "mean over an empty dim"));
  EXPECT_TRUE(et::same(ops::sum(dempty, {0}).to(Device::cpu()), ops::sum(empty, {0}), "sum to an empty result"));
  const Tensor one = ct::randn({4, 1, 3}, 47, DType::f32);
  EXPECT_TRUE(et::same(ops::var(one.to(et::cuda0()), {1}).to(Device::cpu()), ops::var(one, {1}), "var of one"));
  const Tensor scalar = Tensor::full({}, 2.5);
  EXPECT_TRUE(et::same(ops::sum(scalar.to(et::cuda0())).to(Device::cpu()), ops::sum(scalar), "0-dim sum"));
}

}  // namespace
}  // namespace cudaseg
