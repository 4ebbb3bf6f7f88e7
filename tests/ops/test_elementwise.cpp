// Elementwise ops against naive double loops: binary arithmetic with
// broadcasting and scalars, unary math, clamp, comparisons, where, casts.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "common/testing.h"
#include "ops/binary.h"
#include "ops/common.h"
#include "ops/compare.h"
#include "ops/unary.h"

using namespace cudaseg;
using cudaseg::testing::all_close;
using cudaseg::testing::noncontiguous;
using cudaseg::testing::randn;
using cudaseg::testing::throws_mentioning;
using cudaseg::testing::uniform;

namespace {

// t's values broadcast to `out` (row-major), by explicit index arithmetic.
std::vector<double> broadcast_values(const Tensor& t, const Shape& out) {
  const std::vector<double> v = t.to_vector();
  const int64_t nd = static_cast<int64_t>(out.size()), lead = nd - t.dim();
  std::vector<double> r(static_cast<size_t>(shape_numel(out)));
  for (size_t flat = 0; flat < r.size(); ++flat) {
    int64_t rem = static_cast<int64_t>(flat), src = 0, mult = 1;
    for (int64_t d = nd - 1; d >= 0; --d) {
      const int64_t i = rem % out[d];
      rem /= out[d];
      if (d >= lead) {
        const int64_t n = t.size(d - lead);
        src += (n == 1 ? 0 : i) * mult;
        mult *= n;
      }
    }
    r[flat] = v[static_cast<size_t>(src)];
  }
  return r;
}

Tensor naive_binary(const Tensor& a, const Tensor& b, const Shape& out,
                    const std::function<double(double, double)>& f) {
  const auto va = broadcast_values(a, out), vb = broadcast_values(b, out);
  std::vector<double> r(va.size());
  for (size_t i = 0; i < r.size(); ++i) r[i] = f(va[i], vb[i]);
  return Tensor::from_vector(r, out, DType::f64);
}

Tensor naive_unary(const Tensor& x, const std::function<double(double)>& f) {
  std::vector<double> v = x.to_vector();
  for (double& e : v) e = f(e);
  return Tensor::from_vector(v, x.shape(), DType::f64);
}

double tol(DType dt) { return dt == DType::f32 ? 2e-6 : 1e-13; }

}  // namespace

TEST(Elementwise, BinaryBroadcastMatchesNaive) {
  struct Case {
    Shape a, b;
  };
  const std::vector<Case> cases = {{{7, 13}, {7, 13}}, {{7, 1, 13}, {5, 1}}, {{13}, {3, 7, 13}},
                                   {{1}, {7, 13}},     {{}, {4, 5}},         {{2, 3, 1, 5}, {3, 4, 1}}};
  for (DType dt : {DType::f32, DType::f64})
    for (const Case& c : cases) {
      const Tensor a = randn(c.a, 1, dt), b = randn(c.b, 2, dt);
      const Tensor pa = uniform(c.a, 0.5, 2.0, 3, dt);
      const Shape out = ops::broadcast_shapes("test", c.a, c.b);
      const double t = tol(dt);
      EXPECT_TRUE(
          all_close(ops::add(a, b), naive_binary(a, b, out, [](double x, double y) { return x + y; }), t, t));
      EXPECT_TRUE(all_close(ops::add(a, b, 0.5),
                            naive_binary(a, b, out, [](double x, double y) { return x + 0.5 * y; }), t, t));
      EXPECT_TRUE(all_close(ops::sub(a, b, 2.0),
                            naive_binary(a, b, out, [](double x, double y) { return x - 2 * y; }), t, t));
      EXPECT_TRUE(
          all_close(ops::mul(a, b), naive_binary(a, b, out, [](double x, double y) { return x * y; }), t, t));
      EXPECT_TRUE(
          all_close(ops::div(a, b), naive_binary(a, b, out, [](double x, double y) { return x / y; }), t, t));
      EXPECT_TRUE(all_close(ops::pow(pa, b),
                            naive_binary(pa, b, out, [](double x, double y) { return std::pow(x, y); }), t,
                            t));
      // Non-contiguous operands give the same result.
      if (!c.a.empty() && !c.b.empty()) {
        EXPECT_TRUE(all_close(ops::div(noncontiguous(a), noncontiguous(b)), ops::div(a, b), 0, 0));
      }
    }
}

TEST(Elementwise, BinaryOnPermutedViews) {
  const Tensor a = randn({13, 7}, 4), b = randn({7, 13}, 5);
  const Tensor at = a.transpose(0, 1);
  EXPECT_TRUE(all_close(ops::mul(at, b),
                        naive_binary(at.contiguous(), b, {7, 13}, [](double x, double y) { return x * y; })));
}

TEST(Elementwise, ScalarFormsMatchNaive) {
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor x = noncontiguous(randn({7, 13}, 6, dt));
    const Tensor p = uniform({7, 13}, 0.2, 3.0, 7, dt);
    const double t = tol(dt);
    EXPECT_TRUE(all_close(ops::add(x, 1.5), naive_unary(x, [](double v) { return v + 1.5; }), t, t));
    EXPECT_TRUE(all_close(ops::sub(x, 1.5), naive_unary(x, [](double v) { return v - 1.5; }), t, t));
    EXPECT_TRUE(all_close(ops::rsub(x, 1.5), naive_unary(x, [](double v) { return 1.5 - v; }), t, t));
    EXPECT_TRUE(all_close(ops::mul(x, -3.0), naive_unary(x, [](double v) { return -3 * v; }), t, t));
    EXPECT_TRUE(all_close(ops::div(x, 3.0), naive_unary(x, [](double v) { return v / 3; }), t, t));
    for (double e : {2.0, 2.5, -1.5, 0.0, 1.0})
      EXPECT_TRUE(all_close(ops::pow(p, e), naive_unary(p, [e](double v) { return std::pow(v, e); }), t, t))
          << e;
    EXPECT_EQ(ops::div(x, 3.0).dtype(), dt);
  }
}

TEST(Elementwise, IntegerArithmeticAndTrueDivision) {
  const Tensor a = Tensor::from_vector({7, -3, 9, 4}, {2, 2}, DType::i64);
  const Tensor b = Tensor::from_vector({2, 2, -4, 4}, {2, 2}, DType::i64);
  EXPECT_EQ(ops::add(a, b).dtype(), DType::i64);
  EXPECT_EQ(ops::mul(a, b).to_vector(), (std::vector<double>{14, -6, -36, 16}));
  const Tensor q = ops::div(a, b);
  EXPECT_EQ(q.dtype(), DType::f32);
  EXPECT_EQ(q.to_vector(), (std::vector<double>{3.5, -1.5, -2.25, 1}));
  EXPECT_EQ(ops::div(a, 2.0).to_vector(), (std::vector<double>{3.5, -1.5, 4.5, 2}));
}

TEST(Elementwise, UnaryMatchesNaive) {
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor x = randn({7, 13}, 8, dt);
    const Tensor pos = uniform({13, 7}, 0.05, 4.0, 9, dt).transpose(0, 1);  // permuted view
    const double t = tol(dt);
    for (const Tensor& in : {x, noncontiguous(x)}) {
      EXPECT_TRUE(all_close(ops::neg(in), naive_unary(in, [](double v) { return -v; }), 0, 0));
      EXPECT_TRUE(all_close(ops::abs(in), naive_unary(in, [](double v) { return std::abs(v); }), 0, 0));
      EXPECT_TRUE(
          all_close(ops::sign(in), naive_unary(in, [](double v) { return (v > 0) - (v < 0); }), 0, 0));
      EXPECT_TRUE(all_close(ops::exp(in), naive_unary(in, [](double v) { return std::exp(v); }), t, t));
    }
    EXPECT_TRUE(all_close(ops::sqrt(pos), naive_unary(pos, [](double v) { return std::sqrt(v); }), t, t));
    EXPECT_TRUE(
        all_close(ops::rsqrt(pos), naive_unary(pos, [](double v) { return 1 / std::sqrt(v); }), t, t));
    EXPECT_TRUE(all_close(ops::log(pos), naive_unary(pos, [](double v) { return std::log(v); }), t, t));
    EXPECT_EQ(ops::sqrt(pos).dtype(), dt);
  }
  EXPECT_EQ(ops::sign(Tensor::from_vector({-2, 0, 3}, {3})).to_vector(), (std::vector<double>{-1, 0, 1}));
  EXPECT_EQ(ops::abs(Tensor::from_vector({-2, 0, 3}, {3}, DType::i32)).to_vector(),
            (std::vector<double>{2, 0, 3}));
}

TEST(Elementwise, ClampEveryOption) {
  const Tensor x = noncontiguous(randn({7, 13}, 10));
  auto naive = [&](double lo, double hi, bool has_lo, bool has_hi) {
    return naive_unary(x, [=](double v) {
      if (has_lo) v = std::max(v, lo);
      if (has_hi) v = std::min(v, hi);
      return v;
    });
  };
  EXPECT_TRUE(all_close(ops::clamp(x, -0.5, 0.7), naive(-0.5, 0.7, true, true), 0, 0));
  EXPECT_TRUE(all_close(ops::clamp(x, -0.5, std::nullopt), naive(-0.5, 0, true, false), 0, 0));
  EXPECT_TRUE(all_close(ops::clamp(x, std::nullopt, 0.7), naive(0, 0.7, false, true), 0, 0));
  // min > max: everything becomes max, as torch.clamp.
  EXPECT_EQ(ops::clamp(x, 1.0, -1.0).to_vector(), std::vector<double>(91, -1.0));
  const Tensor xi = Tensor::from_vector({-5, 0, 3, 9}, {4}, DType::i64);
  EXPECT_EQ(ops::clamp(xi, -1.0, 4.0).to_vector(), (std::vector<double>{-1, 0, 3, 4}));
}

TEST(Elementwise, ComparisonsAgainstTensorsAndScalars) {
  // Rounded values so that equality happens often.
  const Tensor a = ops::to_dtype(ops::mul(randn({7, 1, 13}, 11), 2.0), DType::i32).to(DType::f64);
  const Tensor b = ops::to_dtype(ops::mul(randn({5, 1}, 12), 2.0), DType::i32).to(DType::f64);
  const Shape out = {7, 5, 13};
  using Cmp = std::function<Tensor(const Tensor&, const Tensor&)>;
  using CmpS = std::function<Tensor(const Tensor&, double)>;
  const std::vector<std::tuple<Cmp, CmpS, std::function<bool(double, double)>>> cases = {
      {[](auto& x, auto& y) { return ops::eq(x, y); }, [](auto& x, double y) { return ops::eq(x, y); },
       [](double x, double y) { return x == y; }},
      {[](auto& x, auto& y) { return ops::ne(x, y); }, [](auto& x, double y) { return ops::ne(x, y); },
       [](double x, double y) { return x != y; }},
      {[](auto& x, auto& y) { return ops::lt(x, y); }, [](auto& x, double y) { return ops::lt(x, y); },
       [](double x, double y) { return x < y; }},
      {[](auto& x, auto& y) { return ops::le(x, y); }, [](auto& x, double y) { return ops::le(x, y); },
       [](double x, double y) { return x <= y; }},
      {[](auto& x, auto& y) { return ops::gt(x, y); }, [](auto& x, double y) { return ops::gt(x, y); },
       [](double x, double y) { return x > y; }},
      {[](auto& x, auto& y) { return ops::ge(x, y); }, [](auto& x, double y) { return ops::ge(x, y); },
       [](double x, double y) { return x >= y; }},
  };
  for (const auto& [cmp, cmp_scalar, ref] : cases) {
    const Tensor r = cmp(noncontiguous(a), b);
    EXPECT_EQ(r.dtype(), DType::boolean);
    const auto& f = ref;
    EXPECT_TRUE(
        all_close(r, naive_binary(a, b, out, [&](double x, double y) { return f(x, y) ? 1.0 : 0.0; }), 0, 0));
    const Tensor rs = cmp_scalar(a, 1.0);
    EXPECT_EQ(rs.dtype(), DType::boolean);
    EXPECT_TRUE(all_close(rs, naive_unary(a, [&](double x) { return f(x, 1.0) ? 1.0 : 0.0; }), 0, 0));
  }
  const Tensor ai = a.to(DType::i64);
  EXPECT_TRUE(all_close(ops::lt(ai, 0.5), ops::lt(a, 0.5), 0, 0));
}

TEST(Elementwise, WhereBroadcastsAllThree) {
  const Tensor cond = ops::gt(randn({7, 1}, 13), 0.0);
  const Tensor a = noncontiguous(randn({1, 13}, 14));
  const Tensor b = randn({13}, 15);
  const Shape out = {7, 13};
  const auto vc = broadcast_values(cond, out), va = broadcast_values(a, out), vb = broadcast_values(b, out);
  std::vector<double> expect(vc.size());
  for (size_t i = 0; i < expect.size(); ++i) expect[i] = vc[i] != 0 ? va[i] : vb[i];
  EXPECT_TRUE(all_close(ops::where(cond, a, b), Tensor::from_vector(expect, out, DType::f64), 0, 0));
  const Tensor bi = Tensor::from_vector({1, 2}, {2}, DType::i64);
  EXPECT_EQ(ops::where(Tensor::from_vector({1, 0}, {2}, DType::boolean), bi, Tensor::zeros({}, DType::i64))
                .to_vector(),
            (std::vector<double>{1, 0}));
}

TEST(Elementwise, ToDtypeConverts) {
  const Tensor x = Tensor::from_vector({-1.75, 0.0, 2.5, 3.25}, {2, 2}, DType::f64);
  EXPECT_EQ(ops::to_dtype(x, DType::i32).to_vector(), (std::vector<double>{-1, 0, 2, 3}));
  EXPECT_EQ(ops::to_dtype(x, DType::boolean).to_vector(), (std::vector<double>{1, 0, 1, 1}));
  EXPECT_EQ(ops::to_dtype(x, DType::f32).dtype(), DType::f32);
  EXPECT_TRUE(ops::to_dtype(x, DType::f64).is_same(x));
}

TEST(Elementwise, MisuseErrors) {
  const Tensor a = randn({2, 3}, 1), b = randn({4}, 2);
  EXPECT_TRUE(throws_mentioning([&] { ops::add(a, b); }, {"add", "[2, 3]", "[4]"}));
  EXPECT_TRUE(throws_mentioning(
      [&] {
        ops::mul(a, randn({2, 3}, 3, DType::f32));
      },
      {"mul", "float32", "float64"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::where(a, a, a); }, {"where", "condition", "bool"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::where(ops::gt(a, 0.0), a, b); }, {"where", "[2, 3]", "[4]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::eq(a, b); }, {"eq", "[2, 3]", "[4]"}));
  EXPECT_TRUE(
      throws_mentioning([&] { ops::sqrt(Tensor::ones({2}, DType::i64)); }, {"sqrt", "floating", "int64"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::pow(Tensor::ones({2}, DType::i32), 2.0); }, {"pow", "floating"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::clamp(a, std::nullopt, std::nullopt); }, {"clamp", "min", "max"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::add(ops::gt(a, 0.0), 1.0); }, {"add", "bool"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::neg(Tensor()); }, {"neg", "input", "undefined"}));
}
