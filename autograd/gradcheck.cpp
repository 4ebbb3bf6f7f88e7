#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "runtime/rng.h"

namespace cudaseg::autograd {
namespace {

double projected(const std::vector<Tensor>& outs, const std::vector<std::vector<double>>& r) {
  double total = 0.0;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!outs[k].defined() || !is_floating(outs[k].dtype())) continue;
    const std::vector<double> v = outs[k].to_vector();
    for (size_t i = 0; i < v.size(); ++i) total += v[i] * r[k][i];
  }
  return total;
}

}  // namespace

GradcheckResult gradcheck(const MultiFn& f, const std::vector<Tensor>& inputs_in,
                          const GradcheckOptions& opt) {
  std::vector<Tensor> inputs;
  for (const Tensor& t : inputs_in) {
    if (!t.defined()) {
      inputs.push_back(t);
      continue;
    }
    CUDASEG_CHECK(t.device().is_cpu(), "gradcheck: inputs must be CPU tensors, got ", t.str());
    CUDASEG_CHECK(!t.requires_grad() || t.dtype() == DType::f64,
                  "gradcheck: inputs that require grad must be float64, got ", t.str());
    // A private contiguous copy that keeps the caller's view geometry out of
    // the perturbation loop; non-contiguous inputs are built inside f.
    Tensor c = t.contiguous().clone().detach();
    if (t.requires_grad()) c.set_requires_grad(true);
    inputs.push_back(c);
  }

  std::vector<Tensor> outs = f(inputs);
  Generator gen(opt.seed);
  std::vector<std::vector<double>> r(outs.size());
  std::vector<Tensor> weighted;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!outs[k].defined() || !is_floating(outs[k].dtype())) continue;
    Tensor w = gen.normal(outs[k].shape(), 0.0, 1.0, DType::f64);
    r[k] = w.to_vector();
    if (outs[k].requires_grad()) weighted.push_back(fn::sum(fn::mul(outs[k], w)));
  }
  CUDASEG_CHECK(!weighted.empty(), "gradcheck: no output requires grad");
  Tensor loss = weighted[0];
  for (size_t k = 1; k < weighted.size(); ++k) loss = fn::add(loss, weighted[k]);
  backward(loss);

  GradcheckResult result;
  std::ostringstream report;
  int reported = 0;
  NoGradGuard no_grad;
  for (size_t a = 0; a < inputs.size(); ++a) {
    Tensor x = inputs[a];
    if (!x.defined() || !x.requires_grad()) continue;
    const Tensor g = x.grad();
    const std::vector<double> analytic = g.defined() ? g.to_vector() : std::vector<double>(x.numel(), 0.0);
    double* p = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double saved = p[i];
      p[i] = saved + opt.eps;
      const double lp = projected(f(inputs), r);
      p[i] = saved - opt.eps;
      const double lm = projected(f(inputs), r);
      p[i] = saved;
      const double numeric = (lp - lm) / (2 * opt.eps);
      const double err = std::abs(analytic[i] - numeric);
      if (!(err <= opt.atol + opt.rtol * std::abs(numeric))) {
        result.ok = false;
        if (reported++ < 8)
          report << "input " << a << " element " << i << ": analytic " << analytic[i] << " numeric "
                 << numeric << " (error " << err << ")\n";
      }
    }
  }
  if (reported > 8) report << "... " << reported - 8 << " more mismatches\n";
  result.report = report.str();
  return result;
}

GradcheckResult gradcheck(const SingleFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  return gradcheck(MultiFn([&f](const std::vector<Tensor>& in) { return std::vector<Tensor>{f(in)}; }),
                   inputs, options);
}

}  // namespace cudaseg::autograd
