#include "common/testing.h"

#include <cmath>
#include <sstream>

namespace cudaseg::testing {

Tensor randn(const Shape& shape, uint64_t seed, DType dtype) {
  return Generator(seed).normal(shape, 0.0, 1.0, dtype);
}

Tensor uniform(const Shape& shape, double low, double high, uint64_t seed, DType dtype) {
  return Generator(seed).uniform(shape, low, high, dtype);
}

Tensor leaf(const Shape& shape, uint64_t seed) {
  Tensor t = randn(shape, seed, DType::f64);
  t.set_requires_grad(true);
  return t;
}

Tensor noncontiguous(const Tensor& t) {
  if (t.dim() == 0) return t.clone();
  Shape big = t.shape();
  big.back() = std::max<int64_t>(1, big.back()) * 2;
  Tensor buffer = Tensor::full(big, 12345.0, t.dtype(), t.device());
  Tensor view = buffer.slice(-1, 0, big.back(), 2);
  view.copy_(t);
  return view;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

double rel_l2(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  double num = 0, den = 0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) {
    num += (va[i] - vb[i]) * (va[i] - vb[i]);
    den += vb[i] * vb[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double atol, double rtol) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << shape_str(a.shape()) << " vs "
                                         << shape_str(b.shape());
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  size_t worst = 0, bad = 0;
  double worst_excess = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const double err = std::abs(va[i] - vb[i]);
    const double excess = err - (atol + rtol * std::abs(vb[i]));
    if (excess > 0 || std::isnan(va[i]) != std::isnan(vb[i])) {
      ++bad;
      if (excess >= worst_excess || std::isnan(va[i])) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << va.size() << " elements differ; worst at flat index "
                                       << worst << ": " << va[worst] << " vs " << vb[worst]
                                       << " (atol " << atol << ", rtol " << rtol << ")";
}

::testing::AssertionResult gradcheck_ok(const autograd::SingleFn& f, const std::vector<Tensor>& inputs,
                                        const autograd::GradcheckOptions& options) {
  const autograd::GradcheckResult r = autograd::gradcheck(f, inputs, options);
  if (r.ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "gradcheck failed:\n" << r.report;
}

::testing::AssertionResult throws_mentioning(const std::function<void()>& f,
                                             const std::vector<std::string>& fragments) {
  try {
    f();
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const auto& frag : fragments)
      if (what.find(frag) == std::string::npos)
        return ::testing::AssertionFailure() << "error '" << what << "' does not mention '" << frag << "'";
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no cudaseg::Error thrown";
}

}  // namespace cudaseg::testing
