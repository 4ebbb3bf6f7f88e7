// Elementwise ops on CUDA against the CPU kernels: broadcasting binary
// arithmetic and pow, the scalar forms, unary math, clamp, comparisons,
// where and casts, per dtype, forward and backward, on odd shapes and
// non-contiguous views, with poisoned outputs.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/arith.h"
#include "autograd/unary.h"
#include "cuda/elemshape_testing.h"
#include "ops/binary.h"
#include "ops/compare.h"
#include "ops/unary.h"

namespace cudaseg {
namespace {

namespace et = cudaseg::elemshape_testing;
namespace ct = cudaseg::testing;

using BinaryFn = std::function<Tensor(const Tensor&, const Tensor&)>;

TEST(CudaElementwise, BinaryBroadcastPerDtype) {
  CUDASEG_REQUIRE_CUDA();
  const std::vector<std::pair<const char*, BinaryFn>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return fn::add(a, b, 0.5); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return fn::sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return fn::mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return fn::div(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return fn::pow(a, b); }}};
  for (DType dtype : et::floating_dtypes())
    for (const auto& [name, f] : ops) {
      // Positive operands keep pow and div well conditioned.
      const et::Input a = et::uniform_input({3, 5, 7, 9}, 0.5, 2.0, 1, dtype, true);
      const et::Input b = et::uniform_input({5, 1, 9}, 0.5, 2.0, 2, dtype);
      const std::string what = std::string(name) + " broadcast";
      const Tensor ref = f(a.ref, b.ref);
      et::poison(ref.shape(), dtype);
      EXPECT_TRUE(et::close(f(a.dev, b.dev), ref, dtype, what));
      // Both gradients, the broadcast one summed back to [5, 1, 9].
      const et::Input g = et::randn_input(ref.shape(), 3, dtype);
      EXPECT_TRUE(et::close(et::grad_of([&](const Tensor& x) { return f(x, b.dev); }, a.dev, g.dev),
                            et::grad_of([&](const Tensor& x) { return f(x, b.ref); }, a.ref, g.ref), dtype,
                            what + " grad a"));
      EXPECT_TRUE(et::close(et::grad_of([&](const Tensor& y) { return f(a.dev, y); }, b.dev, g.dev),
                            et::grad_of([&](const Tensor& y) { return f(a.ref, y); }, b.ref, g.ref), dtype,
                            what + " grad b"));
    }
}

TEST(CudaElementwise, ContiguousAndPermutedOperands) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : et::floating_dtypes()) {
    const et::Input a = et::randn_input({6, 11, 13}, 4, dtype);
    const et::Input b = et::randn_input({13, 11, 6}, 5, dtype);
    et::poison({6, 11, 13}, dtype);
    EXPECT_TRUE(et::close(ops::mul(a.dev, b.dev.permute({2, 1, 0})), ops::mul(a.ref, b.ref.permute({2, 1, 0})),
                          dtype, "mul permuted"));
    const et::Input c = et::randn_input({6, 11, 13}, 6, dtype);
    et::poison({6, 11, 13}, dtype);
    EXPECT_TRUE(et::close(ops::sub(a.dev, c.dev, 2.0), ops::sub(a.ref, c.ref, 2.0), dtype, "sub flat"));
  }
}

TEST(CudaElementwise, ScalarFormsPerDtype) {
  CUDASEG_REQUIRE_CUDA();
  using UnaryFn = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<const char*, UnaryFn>> ops = {
      {"add", [](const Tensor& x) { return fn::add(x, 1.25); }},
      {"sub", [](const Tensor& x) { return fn::sub(x, 0.75); }},
      {"rsub", [](const Tensor& x) { return fn::rsub(x, 3.0); }},
      {"mul", [](const Tensor& x) { return fn::mul(x, -1.5); }},
      {"div", [](const Tensor& x) { return fn::div(x, 0.3); }},
      {"pow", [](const Tensor& x) { return fn::pow(x, 2.5); }},
      {"pow -0.5", [](const Tensor& x) { return fn::pow(x, -0.5); }}};
  for (DType dtype : et::floating_dtypes())
    for (const auto& [name, f] : ops)
      et::check_fwd_bwd(f, et::uniform_input({7, 5, 9}, 0.2, 3.0, 7, dtype, true), dtype, name);
}

TEST(CudaElementwise, UnaryAndClampPerDtype) {
  CUDASEG_REQUIRE_CUDA();
  using UnaryFn = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<const char*, UnaryFn>> signed_ops = {
      {"neg", [](const Tensor& x) { return fn::neg(x); }},
      {"abs", [](const Tensor& x) { return fn::abs(x); }},
      {"exp", [](const Tensor& x) { return fn::exp(x); }},
      {"clamp both", [](const Tensor& x) { return fn::clamp(x, -0.5, 0.7); }},
      {"clamp min", [](const Tensor& x) { return fn::clamp(x, -0.2, std::nullopt); }},
      {"clamp max", [](const Tensor& x) { return fn::clamp(x, std::nullopt, 0.1); }},
      {"clamp min > max", [](const Tensor& x) { return fn::clamp(x, 1.0, -1.0); }}};
  const std::vector<std::pair<const char*, UnaryFn>> positive_ops = {
      {"sqrt", [](const Tensor& x) { return fn::sqrt(x); }},
      {"rsqrt", [](const Tensor& x) { return fn::rsqrt(x); }},
      {"log", [](const Tensor& x) { return fn::log(x); }}};
  for (DType dtype : et::floating_dtypes()) {
    for (const auto& [name, f] : signed_ops)
      et::check_fwd_bwd(f, et::randn_input({5, 9, 11}, 8, dtype, true), dtype, name);
    for (const auto& [name, f] : positive_ops)
      et::check_fwd_bwd(f, et::uniform_input({5, 9, 11}, 0.1, 4.0, 9, dtype, true), dtype, name);
    // sign has a zero gradient; its values (with exact zeros) are compared exactly.
    const Tensor ints = et::small_ints({4, 7, 9}, 5, 10).to(dtype);
    et::poison({4, 7, 9}, dtype);
    EXPECT_TRUE(et::same(ops::sign(ct::noncontiguous(ints.to(et::cuda0()))).to(Device::cpu()), ops::sign(ints),
                         "sign"));
  }
}

TEST(CudaElementwise, IntegerArithmeticIsExact) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : {DType::i32, DType::i64}) {
    const Tensor a = et::small_ints({3, 5, 7}, 2000, 11).to(dtype);
    const Tensor b = ct::uniform({5, 1}, 1, 1000, 12).to(dtype);  // no zero divisor
    const Tensor da = ct::noncontiguous(a.to(et::cuda0())), db = b.to(et::cuda0());
    auto check = [&](const Tensor& dev, const Tensor& ref, const char* what) {
      EXPECT_TRUE(et::same(dev.to(Device::cpu()), ref, std::string(what) + " " + dtype_name(dtype)));
    };
    et::poison({3, 5, 7}, dtype);
    check(ops::add(da, db, 3.0), ops::add(a, b, 3.0), "add");
    check(ops::sub(da, db), ops::sub(a, b), "sub");
    check(ops::mul(da, db), ops::mul(a, b), "mul");
    check(ops::add(da, 7.0), ops::add(a, 7.0), "add scalar");
    check(ops::mul(da, -3.0), ops::mul(a, -3.0), "mul scalar");
    check(ops::rsub(da, 5.0), ops::rsub(a, 5.0), "rsub scalar");
    check(ops::neg(da), ops::neg(a), "neg");
    check(ops::abs(da), ops::abs(a), "abs");
    check(ops::sign(da), ops::sign(a), "sign");
    check(ops::clamp(da, -100.0, 300.0), ops::clamp(a, -100.0, 300.0), "clamp");
    // True division promotes to float32.
    EXPECT_TRUE(et::close(ops::div(da, db), ops::div(a, b).to(DType::f64), DType::f32, "int div"));
  }
}

TEST(CudaElementwise, ComparisonsEveryDtype) {
  CUDASEG_REQUIRE_CUDA();
  using CompareFn = Tensor (*)(const Tensor&, const Tensor&);
  using ScalarFn = Tensor (*)(const Tensor&, double);
  const std::vector<std::pair<CompareFn, ScalarFn>> ops = {{ops::eq, ops::eq}, {ops::ne, ops::ne},
                                                           {ops::lt, ops::lt}, {ops::le, ops::le},
                                                           {ops::gt, ops::gt}, {ops::ge, ops::ge}};
  for (DType dtype : {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i32, DType::i64, DType::u8}) {
    // Few levels, so equality holds often; u8 takes the non-negative ones.
    const double shift = dtype == DType::u8 ? 4.0 : 0.0;
    const Tensor a = ops::add(et::small_ints({4, 1, 6, 5}, 7, 13), shift).to(dtype);
    const Tensor b = ops::add(et::small_ints({3, 6, 1}, 7, 14), shift).to(dtype);
    const Tensor da = ct::noncontiguous(a.to(et::cuda0())), db = b.to(et::cuda0());
    for (size_t k = 0; k < ops.size(); ++k) {
      const std::string what = "compare " + std::to_string(k) + " " + dtype_name(dtype);
      et::poison({4, 3, 6, 5}, DType::boolean);
      EXPECT_TRUE(et::same(ops[k].first(da, db).to(Device::cpu()), ops[k].first(a, b), what));
      et::poison({4, 1, 6, 5}, DType::boolean);
      EXPECT_TRUE(et::same(ops[k].second(da, shift + 1.0).to(Device::cpu()), ops[k].second(a, shift + 1.0),
                           what + " scalar"));
      EXPECT_TRUE(et::same(ops[k].second(da, shift + 0.5).to(Device::cpu()), ops[k].second(a, shift + 0.5),
                           what + " fractional scalar"));
    }
  }
  // Bool against bool.
  const Tensor m = ops::gt(ct::randn({5, 7}, 15), 0.0), n = ops::gt(ct::randn({7}, 16), 0.0);
  EXPECT_TRUE(et::same(ops::eq(m.to(et::cuda0()), n.to(et::cuda0())).to(Device::cpu()), ops::eq(m, n), "bool eq"));
}

TEST(CudaElementwise, WhereBroadcastsEveryDtype) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor cond = ops::gt(ct::randn({4, 1, 9}, 17), 0.0);
  for (DType dtype : {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i32, DType::i64, DType::u8,
                      DType::boolean}) {
    const Tensor a = ct::uniform({6, 9}, 0, 100, 18).to(dtype), b = ct::uniform({4, 6, 1}, 0, 100, 19).to(dtype);
    et::poison({4, 6, 9}, dtype);
    EXPECT_TRUE(et::same(
        ops::where(cond.to(et::cuda0()), ct::noncontiguous(a.to(et::cuda0())), b.to(et::cuda0())).to(Device::cpu()),
        ops::where(cond, a, b), std::string("where ") + dtype_name(dtype)));
  }
  // The gradient flows to each branch through the mask.
  for (DType dtype : et::floating_dtypes()) {
    const et::Input a = et::randn_input({4, 6, 9}, 20, dtype, true);
    const et::Input b = et::randn_input({6, 9}, 21, dtype);
    const Tensor dcond = cond.to(et::cuda0());
    et::check_fwd_bwd([&](const Tensor& x) { return fn::where(x.device().is_cuda() ? dcond : cond, x,
                                                              x.device().is_cuda() ? b.dev : b.ref); },
                      a, dtype, "where");
  }
}

TEST(CudaElementwise, CastsBetweenEveryDtype) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor x = ops::mul(ct::randn({5, 7, 3}, 22), 40.0);
  for (DType from : {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i32, DType::i64})
    for (DType to : {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i32, DType::i64, DType::boolean}) {
      const Tensor src = x.to(from);
      et::poison(x.shape(), to);
      const Tensor dev = fn::to_dtype(ct::noncontiguous(src.to(et::cuda0())), to);
      EXPECT_TRUE(dev.device().is_cuda());
      EXPECT_TRUE(et::same(dev.to(Device::cpu()), src.to(to),
                           std::string("cast ") + dtype_name(from) + " -> " + dtype_name(to)));
    }
}

}  // namespace
}  // namespace cudaseg
