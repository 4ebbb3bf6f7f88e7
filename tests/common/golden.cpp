#include "common/golden.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "autograd/loss.h"
#include "nets/param_init.h"
#include "nets/registry.h"
#include "nets/segnet.h"
#include "ops/resize.h"
#include "runtime/error.h"

namespace cudaseg::testing::golden {
namespace {

Shape to_shape(const Json& j) { return j.get<std::vector<int64_t>>(); }

double rel(double ours, double ref, double scale) {
  return std::abs(ours - ref) / std::max(scale, 1e-30);
}

void print_line(const std::string& what, const std::string& detail) {
  std::printf("[ golden   ] %s: %s\n", what.c_str(), detail.c_str());
}

struct Checksums {
  double sum = 0, abs_sum = 0, sq_sum = 0;
};

Checksums checksums(const std::vector<double>& v) {
  Checksums c;
  for (double x : v) {
    c.sum += x;
    c.abs_sum += std::abs(x);
    c.sq_sum += x * x;
  }
  return c;
}

// Runs `f` turning a cudaseg::Error into a failed assertion naming `what`.
::testing::AssertionResult guarded(const std::string& what, const std::function<::testing::AssertionResult()>& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << what << ": threw: " << e.what();
  }
}

}  // namespace

// ------------------------------------------------------------------ Golden

Golden Golden::load(const std::string& stem) {
  const std::string path = std::string(CUDASEG_SOURCE_DIR) + "/tests/goldens/" + stem + ".json";
  std::ifstream in(path);
  CUDASEG_CHECK(in.good(), "golden: cannot open ", path);
  Golden g;
  g.stem_ = stem;
  in >> g.json_;
  CUDASEG_CHECK(g.json_.value("format", "") == "cudaseg-golden" && g.json_.value("version", 0) == 1, path,
                ": not a cudaseg-golden version 1 file");
  return g;
}

std::string Golden::case_name(size_t i) const {
  const Shape s = to_shape(case_json(i).at("input").at("shape"));
  return std::to_string(s.at(2)) + "x" + std::to_string(s.at(3));
}

DType Golden::compute_dtype() const {
  const std::string d = json_.value("compute_dtype", "float32");
  CUDASEG_CHECK(d == "float32" || d == "float64", stem_, ": compute_dtype must be float32 or float64, got ", d);
  return d == "float64" ? DType::f64 : DType::f32;
}

nn::ModulePtr Golden::build(const Json& overrides) const {
  Json config = model();
  for (const auto& [k, v] : overrides.items()) config[k] = v;
  nn::ModulePtr net = nets::create_net(config);
  fill_det_params(*net, seed());
  if (compute_dtype() != DType::f32) net->to(compute_dtype());
  return net;
}

Tensor Golden::input(size_t i) const {
  const Json& spec = case_json(i).at("input");
  Tensor x = nets::det_uniform(spec.at("name").get<std::string>(), to_shape(spec.at("shape")),
                               spec.at("low").get<double>(), spec.at("high").get<double>(), seed());
  const Checksums c = checksums(x.to_vector());
  const Json& ref = spec.at("checksums");
  CUDASEG_CHECK(rel(c.sum, ref.at("sum").get<double>(), ref.at("abs_sum").get<double>()) < 1e-9 &&
                    rel(c.sq_sum, ref.at("sq_sum").get<double>(), ref.at("sq_sum").get<double>()) < 1e-9,
                stem_, " case ", case_name(i), ": det_uniform input differs from the golden's");
  return x.to(compute_dtype());
}

Tensor Golden::labels(size_t i) const {
  const Json& spec = case_json(i).at("labels");
  Tensor y = nets::det_labels(spec.at("name").get<std::string>(), to_shape(spec.at("shape")),
                              spec.at("num_classes").get<int64_t>(), seed());
  int64_t sum = 0, ignored = 0;
  for (double v : y.to_vector()) {
    sum += static_cast<int64_t>(v);
    ignored += v == 255;
  }
  CUDASEG_CHECK(sum == spec.at("sum").get<int64_t>() && ignored == spec.at("num_ignored").get<int64_t>(), stem_,
                " case ", case_name(i), ": det_labels differ from the golden's");
  return y;
}

void fill_det_params(nn::Module& module, uint64_t seed) {
  for (auto& [name, t] : module.state_dict()) {
    const nets::ParamRule rule = nets::det_rule(name, t.shape(), t.dtype());
    if (rule == nets::ParamRule::Keep) continue;
    t.copy_(nets::det_param(name, t.shape(), t.dtype(), seed));
  }
}

::testing::AssertionResult state_dict_matches(const nn::Module& module, const Golden& golden) {
  const Json& entries = golden.json().at("state_dict").at("entries");
  const nn::NamedTensors ours = module.state_dict();
  std::ostringstream diff;
  const size_t n = std::max(ours.size(), entries.size());
  int shown = 0;
  for (size_t i = 0; i < n && shown < 10; ++i) {
    const std::string ref_desc =
        i < entries.size() ? entries[i][0].get<std::string>() + " " + shape_str(to_shape(entries[i][1])) + " " +
                                 entries[i][2].get<std::string>()
                           : "(none)";
    const std::string our_desc =
        i < ours.size() ? ours[i].first + " " + shape_str(ours[i].second.shape()) + " " +
                              dtype_name(ours[i].second.dtype())
                        : "(none)";
    if (ref_desc != our_desc) {
      diff << "\n  #" << i << ": ours " << our_desc << ", golden " << ref_desc;
      ++shown;
    }
  }
  std::vector<std::string> our_params, ref_params = golden.json().at("state_dict").at("parameters");
  for (const auto& [name, t] : module.named_parameters()) our_params.push_back(name);
  if (our_params != ref_params) diff << "\n  parameter lists differ (" << our_params.size() << " vs " << ref_params.size() << ")";
  if (diff.tellp() > 0)
    return ::testing::AssertionFailure() << golden.stem() << ": state_dict differs (" << ours.size() << " entries vs "
                                         << entries.size() << "):" << diff.str();
  return ::testing::AssertionSuccess();
}

// ------------------------------------------------------------------ outputs

double StatsReport::worst() const { return std::max({samples_rel_l2, sq_sum_rel, abs_sum_rel, sum_rel}); }

::testing::AssertionResult matches_stats(const Tensor& output, const Json& expected, double tol,
                                         StatsReport* report) {
  const Shape shape = to_shape(expected.at("shape"));
  if (output.shape() != shape)
    return ::testing::AssertionFailure() << "shape " << shape_str(output.shape()) << ", golden " << shape_str(shape);
  const std::vector<double> v = output.to_vector();
  const Checksums c = checksums(v);
  StatsReport r;
  const double abs_sum = expected.at("abs_sum").get<double>(), sq_sum = expected.at("sq_sum").get<double>();
  r.sum_rel = rel(c.sum, expected.at("sum").get<double>(), abs_sum);
  r.abs_sum_rel = rel(c.abs_sum, abs_sum, abs_sum);
  r.sq_sum_rel = rel(c.sq_sum, sq_sum, sq_sum);
  if (expected.contains("samples")) {
    const auto& idx = expected["samples"]["index"];
    const auto& val = expected["samples"]["value"];
    double d2 = 0, n2 = 0;
    for (size_t k = 0; k < idx.size(); ++k) {
      const double ref = val[k].get<double>(), ours = v.at(idx[k].get<size_t>());
      d2 += (ours - ref) * (ours - ref);
      n2 += ref * ref;
    }
    r.samples_rel_l2 = std::sqrt(d2) / std::max(std::sqrt(n2), 1e-30);
  }
  if (report) *report = r;
  std::ostringstream os;
  os << "samples rel L2 " << r.samples_rel_l2 << ", sq_sum rel " << r.sq_sum_rel << ", abs_sum rel "
     << r.abs_sum_rel << ", sum rel " << r.sum_rel << " (tol " << tol << ")";
  if (!(r.worst() <= tol)) return ::testing::AssertionFailure() << os.str();
  return ::testing::AssertionSuccess() << os.str();
}

::testing::AssertionResult check_eval(const Golden& golden, size_t i, const Tolerances& tol) {
  const std::string what = golden.stem() + " eval " + golden.case_name(i);
  return guarded(what, [&]() -> ::testing::AssertionResult {
    nn::ModulePtr net = golden.build();
    net->eval();
    autograd::NoGradGuard no_grad;
    const Tensor out = net->forward(golden.input(i));
    auto r = matches_stats(out, golden.case_json(i).at("eval").at("outputs").at("out"), tol.eval);
    print_line(what, r.message());
    if (!r) return ::testing::AssertionFailure() << what << ": " << r.message();
    return ::testing::AssertionSuccess();
  });
}

// ------------------------------------------------------------------ losses

Tensor ce_loss(const Tensor& logits, const Tensor& labels) {
  ops::CrossEntropyOptions options;
  options.ignore_index = 255;
  return fn::cross_entropy(logits, labels, options);
}

Tensor aux_ce_loss(const Tensor& logits, const Tensor& labels) {
  const Tensor as_float = labels.to(DType::f32).unsqueeze(1);
  const Tensor resized =
      ops::interpolate(as_float, std::array<int64_t, 2>{logits.size(2), logits.size(3)}, std::nullopt, "nearest");
  return ce_loss(logits, resized.squeeze(1).to(DType::i64));
}

LossFn main_only_loss() {
  return [](nn::Module&, const std::vector<Tensor>& outputs, const Tensor& labels) {
    LossTerms t;
    t.total = ce_loss(outputs.at(0), labels);
    t.main = t.total.item();
    return t;
  };
}

LossFn main_plus_aux_loss() {
  return [](nn::Module&, const std::vector<Tensor>& outputs, const Tensor& labels) {
    LossTerms t;
    t.total = ce_loss(outputs.at(0), labels);
    t.main = t.total.item();
    for (size_t k = 1; k < outputs.size(); ++k) {
      const Tensor aux = aux_ce_loss(outputs[k], labels);
      t.aux.push_back(aux.item());
      t.total = fn::add(t.total, aux);
    }
    return t;
  };
}

// ------------------------------------------------------------------ training step

namespace {

::testing::AssertionResult train_check(const Golden& golden, size_t i, const LossFn& loss_fn,
                                       const Json& train_overrides, const Tolerances& tol, bool with_backward) {
  const std::string what = golden.stem() + (with_backward ? " train step " : " train forward ") + golden.case_name(i);
  return guarded(what, [&]() -> ::testing::AssertionResult {
    const Json& ref = golden.case_json(i).at("train");
    nn::ModulePtr net = golden.build(train_overrides);
    auto* seg = dynamic_cast<nets::SegNet*>(net.get());
    if (!seg) return ::testing::AssertionFailure() << what << ": the net is not a nets::SegNet";
    net->train();
    const Tensor labels = golden.labels(i);
    const std::vector<Tensor> outputs = seg->forward_train(golden.input(i));
    std::ostringstream fails;

    // Outputs.
    const Json& ref_out = ref.at("outputs");
    if (outputs.size() != ref_out.size())
      return ::testing::AssertionFailure() << what << ": " << outputs.size() << " outputs, golden " << ref_out.size();
    double out_worst = 0;
    for (size_t k = 0; k < outputs.size(); ++k) {
      const std::string key = k == 0 ? "out" : ref.at("extra_kind").get<std::string>() + "." + std::to_string(k - 1);
      StatsReport r;
      auto ok = matches_stats(outputs[k], ref_out.at(key), tol.train_output, &r);
      out_worst = std::max(out_worst, r.worst());
      if (!ok) fails << "\n  output " << key << ": " << ok.message();
    }

    // Loss.
    const LossTerms terms = loss_fn(*net, outputs, labels);
    const Json& ref_loss = ref.at("loss");
    double loss_worst = 0;
    auto cmp_loss = [&](const std::string& name, double ours, double theirs) {
      const double e = rel(ours, theirs, std::abs(theirs));
      loss_worst = std::max(loss_worst, e);
      if (!(e <= tol.loss)) fails << "\n  loss " << name << ": " << ours << ", golden " << theirs;
    };
    cmp_loss("total", terms.total.item(), ref_loss.at("total").get<double>());
    if (terms.main) cmp_loss("main", *terms.main, ref_loss.at("main").get<double>());
    if (!terms.aux.empty() || ref_loss.contains("aux")) {
      const auto ref_aux = ref_loss.value("aux", std::vector<double>{});
      if (ref_aux.size() != terms.aux.size())
        fails << "\n  " << terms.aux.size() << " aux losses, golden " << ref_aux.size();
      for (size_t k = 0; k < std::min(ref_aux.size(), terms.aux.size()); ++k)
        cmp_loss("aux." + std::to_string(k), terms.aux[k], ref_aux[k]);
    }

    // Gradients.
    const Json& ref_grads = ref.at("grads");
    double norm_max = 0;
    for (const auto& [name, r] : ref_grads.items())
      if (!r.is_null()) norm_max = std::max(norm_max, r.at("norm").get<double>());
    double grad_worst = 0, zero_worst = 0;
    int n_zero = 0;
    std::map<std::string, Tensor> grads;
    if (with_backward) autograd::backward(terms.total);
    for (const auto& [name, p] : with_backward ? net->named_parameters() : nn::NamedTensors{}) {
      const Tensor g = p.grad();
      grads[name] = g;
      const Json& r = ref_grads.at(name);
      const double ours = g.defined() ? checksums(g.to_vector()).sq_sum : 0.0;
      const double our_norm = std::sqrt(ours);
      const double ref_norm = r.is_null() ? 0.0 : r.at("norm").get<double>();
      if (ref_norm <= tol.zero_grad_fraction * norm_max) {
        ++n_zero;
        const double e = norm_max > 0 ? our_norm / norm_max : our_norm;
        zero_worst = std::max(zero_worst, e);
        if (r.is_null() && g.defined() && our_norm > 0)
          fails << "\n  grad " << name << ": golden has none, ours has norm " << our_norm;
        else if (!(our_norm <= tol.grad_abs * norm_max))
          fails << "\n  grad " << name << ": norm " << our_norm << ", golden ~0 (" << ref_norm << ")";
        continue;
      }
      const double e = rel(our_norm, ref_norm, ref_norm);
      grad_worst = std::max(grad_worst, e);
      if (!(e <= tol.grad_norm)) fails << "\n  grad " << name << ": norm " << our_norm << ", golden " << ref_norm;
    }
    static const Json no_samples = Json::object();
    for (const auto& [name, s] : (with_backward ? ref.at("grad_samples") : no_samples).items()) {
      const Tensor& g = grads.at(name);
      if (!g.defined()) {
        fails << "\n  grad sample " << name << ": no gradient";
        continue;
      }
      const std::vector<double> v = g.to_vector();
      const double ref_norm = ref_grads.at(name).at("norm").get<double>();
      const bool zero = ref_norm <= tol.zero_grad_fraction * norm_max;
      const double scale = ref_norm / std::sqrt(double(v.size()));
      for (size_t k = 0; k < s["index"].size(); ++k) {
        const double theirs = s["value"][k].get<double>(), ours = v.at(s["index"][k].get<size_t>());
        const double bound =
            zero ? tol.grad_abs * norm_max : tol.grad_sample * (scale + std::abs(theirs));
        if (!(std::abs(ours - theirs) <= bound))
          fails << "\n  grad sample " << name << "[" << s["index"][k] << "]: " << ours << ", golden " << theirs;
      }
    }

    // Running buffers after the step.
    double buf_worst = 0;
    for (const auto& [name, b] : net->named_buffers()) {
      const Json& r = ref.at("buffer_sums_after").at(name);
      const std::vector<double> v = b.to_vector();
      double sum = 0;
      for (double x : v) sum += x;
      const double e = std::abs(sum - r.get<double>()) / (std::abs(r.get<double>()) + double(v.size()));
      buf_worst = std::max(buf_worst, e);
      if (!(e <= tol.buffer)) fails << "\n  buffer " << name << ": sum " << sum << ", golden " << r.get<double>();
    }

    std::ostringstream summary;
    summary << "outputs worst " << out_worst << ", loss rel " << loss_worst;
    if (with_backward)
      summary << ", grad norm rel " << grad_worst << " (" << n_zero << " ~zero grads, worst " << zero_worst
              << " of max norm)";
    summary << ", buffers " << buf_worst;
    print_line(what, summary.str());
    if (fails.tellp() > 0) return ::testing::AssertionFailure() << what << ": " << summary.str() << fails.str();
    return ::testing::AssertionSuccess();
  });
}

}  // namespace

::testing::AssertionResult check_train_step(const Golden& golden, size_t i, const LossFn& loss_fn,
                                            const Json& train_overrides, const Tolerances& tol) {
  return train_check(golden, i, loss_fn, train_overrides, tol, true);
}

::testing::AssertionResult check_train_forward(const Golden& golden, size_t i, const LossFn& loss_fn,
                                               const Json& train_overrides, const Tolerances& tol) {
  return train_check(golden, i, loss_fn, train_overrides, tol, false);
}

}  // namespace cudaseg::testing::golden
