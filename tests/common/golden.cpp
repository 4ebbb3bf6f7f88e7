#include "common/golden.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>

#include "autograd/arith.h"
#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/loss.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/param_init.h"
#include "nn/registry.h"
#include "nn/segnet.h"
#include "runtime/error.h"

namespace cudaseg::testing::golden {
namespace {

constexpr int64_t kIgnoreIndex = 255;

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

Shape json_shape(const Json& j) { return j.get<Shape>(); }

// |a - b| / |scale|, with 0 / 0 = 0.
double rel(double a, double b, double scale) {
  const double d = std::abs(a - b);
  if (d == 0) return 0;
  return scale > 0 ? d / scale : std::numeric_limits<double>::infinity();
}

std::string fmt(double v) {
  std::ostringstream os;
  os << std::setprecision(3) << std::scientific << v;
  return os.str();
}

void log_line(const std::string& text) { std::cout << "[ golden   ] " << text << std::endl; }

struct Checksums {
  double sum = 0, abs_sum = 0, sq_sum = 0, min = 0, max = 0;
};

Checksums checksums(const std::vector<double>& v) {
  Checksums c;
  if (v.empty()) return c;
  c.min = c.max = v[0];
  for (double x : v) {
    c.sum += x;
    c.abs_sum += std::abs(x);
    c.sq_sum += x * x;
    c.min = std::min(c.min, x);
    c.max = std::max(c.max, x);
  }
  return c;
}

std::string case_label(const Golden& g, size_t i) { return g.stem() + " " + g.case_name(i); }

}  // namespace

// ---------------------------------------------------------------- files

Golden Golden::load(const std::string& stem) {
  const std::string path = std::string(CUDASEG_SOURCE_DIR) + "/tests/goldens/" + stem + ".json";
  std::ifstream in(path);
  CUDASEG_CHECK(in.good(), "golden: cannot open ", path,
                " (regenerate with tools/goldens, see tests/goldens/README.md)");
  Golden g;
  g.stem_ = stem;
  try {
    g.json_ = Json::parse(in);
  } catch (const std::exception& e) {
    CUDASEG_FAIL("golden: ", path, " is not valid JSON: ", e.what());
  }
  CUDASEG_CHECK(g.json_.value("format", "") == "cudaseg-golden" && g.json_.value("version", 0) == 1,
                "golden: ", path, " is not a cudaseg-golden version 1 file");
  return g;
}

DType Golden::dtype() const {
  const std::string name = json_.value("dtype", "float32");
  if (name == "float32") return DType::f32;
  if (name == "float64") return DType::f64;
  CUDASEG_FAIL("golden ", stem_, ": unsupported dtype '", name, "' (float32, float64)");
}

std::string Golden::case_name(size_t i) const {
  const Shape s = json_shape(case_json(i).at("input").at("shape"));
  return std::to_string(s[2]) + "x" + std::to_string(s[3]);
}

void fill_det_params(nn::Module& module, uint64_t seed) {
  autograd::NoGradGuard no_grad;
  for (auto& [name, t] : module.state_dict()) {
    if (nn::det_rule(name, t.shape(), t.dtype()) == nn::ParamRule::Keep) continue;
    Tensor dst = t;
    dst.copy_(nn::det_param(name, t.shape(), t.dtype(), seed));
  }
}

nn::ModulePtr Golden::build(const Json& overrides) const {
  Json config = model();
  for (const auto& [key, value] : overrides.items()) config[key] = value;
  nn::ModulePtr net;
  {
    nn::SkipInitGuard skip;  // every parameter is filled below
    net = nn::create_net(config);
  }
  fill_det_params(*net, seed());
  if (dtype() != DType::f32) net->to(dtype());
  return net;
}

Tensor Golden::input(size_t i) const {
  const Json& in = case_json(i).at("input");
  Tensor x = nn::det_uniform(in.at("name").get<std::string>(), json_shape(in.at("shape")),
                               in.at("low").get<double>(), in.at("high").get<double>(), seed());
  const Checksums c = checksums(x.to_vector());
  const Json& e = in.at("checksums");
  CUDASEG_CHECK(rel(c.sum, e.at("sum"), e.at("abs_sum")) < 1e-12 &&
                    rel(c.sq_sum, e.at("sq_sum"), e.at("sq_sum")) < 1e-12,
                "golden ", stem_, ": the input of case ", case_name(i), " differs from the recorded one");
  return dtype() == DType::f32 ? x : x.to(dtype());
}

Tensor Golden::labels(size_t i) const {
  const Json& lj = case_json(i).at("labels");
  Tensor y = nn::det_labels(lj.at("name").get<std::string>(), json_shape(lj.at("shape")),
                              lj.at("num_classes").get<int64_t>(), seed());
  int64_t sum = 0, ignored = 0;
  for (double v : y.to_vector()) {
    sum += static_cast<int64_t>(v);
    ignored += v == kIgnoreIndex;
  }
  CUDASEG_CHECK(sum == lj.at("sum").get<int64_t>() && ignored == lj.at("num_ignored").get<int64_t>(), "golden ",
                stem_, ": the labels of case ", case_name(i), " differ from the recorded ones");
  return y;
}

// ---------------------------------------------------------------- state_dict

::testing::AssertionResult state_dict_matches(const nn::Module& module, const Golden& golden) {
  const Json& entries = golden.json().at("state_dict").at("entries");
  const nn::NamedTensors ours = module.state_dict();
  std::ostringstream errors;
  const size_t n = std::max(ours.size(), entries.size());
  int shown = 0;
  for (size_t i = 0; i < n && shown < 20; ++i) {
    const std::string theirs =
        i < entries.size() ? entries[i][0].get<std::string>() + " " + shape_str(json_shape(entries[i][1])) + " " +
                                 entries[i][2].get<std::string>()
                           : "(none)";
    const std::string mine =
        i < ours.size() ? ours[i].first + " " + shape_str(ours[i].second.shape()) + " " +
                              dtype_name(ours[i].second.dtype())
                        : "(none)";
    if (theirs != mine) {
      errors << "\n  #" << i << ": golden " << theirs << ", ours " << mine;
      ++shown;
    }
  }
  std::vector<std::string> params;
  int64_t numel = 0;
  for (const auto& [name, t] : module.named_parameters()) {
    params.push_back(name);
    numel += t.numel();
  }
  if (params != golden.json().at("state_dict").at("parameters").get<std::vector<std::string>>())
    errors << "\n  the parameter list (the rest of the state_dict being buffers) differs";
  if (numel != golden.json().at("num_parameters").get<int64_t>())
    errors << "\n  " << numel << " parameter values, golden " << golden.json().at("num_parameters");
  if (errors.tellp() > 0)
    return ::testing::AssertionFailure() << golden.stem() << ": state_dict differs (" << ours.size()
                                         << " entries, golden " << entries.size() << "):" << errors.str();
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------- outputs

double StatsReport::worst() const {
  return std::max({samples_rel_l2, sq_sum_rel, abs_sum_rel, sum_rel, extremes_rel});
}

::testing::AssertionResult matches_stats(const Tensor& output, const Json& expected, double tol,
                                         StatsReport* report) {
  const Shape want = json_shape(expected.at("shape"));
  if (output.shape() != want)
    return ::testing::AssertionFailure() << "shape " << shape_str(output.shape()) << ", golden " << shape_str(want);
  const std::vector<double> v = output.to_vector();
  const Checksums c = checksums(v);
  StatsReport r;
  const double e_abs = expected.at("abs_sum"), e_sq = expected.at("sq_sum");
  r.sum_rel = rel(c.sum, expected.at("sum"), e_abs);
  r.abs_sum_rel = rel(c.abs_sum, e_abs, e_abs);
  r.sq_sum_rel = rel(c.sq_sum, e_sq, e_sq);
  const double e_min = expected.at("min"), e_max = expected.at("max");
  const double range = std::max(std::abs(e_min), std::abs(e_max));
  r.extremes_rel = std::max(rel(c.min, e_min, range), rel(c.max, e_max, range));
  if (expected.contains("samples")) {
    const auto idx = expected["samples"].at("index").get<std::vector<int64_t>>();
    const auto val = expected["samples"].at("value").get<std::vector<double>>();
    double d2 = 0, n2 = 0;
    for (size_t k = 0; k < idx.size(); ++k) {
      const double ours = v.at(static_cast<size_t>(idx[k]));
      d2 += (ours - val[k]) * (ours - val[k]);
      n2 += val[k] * val[k];
    }
    r.samples_rel_l2 = d2 == 0 ? 0 : (n2 > 0 ? std::sqrt(d2 / n2) : std::numeric_limits<double>::infinity());
  }
  if (report) *report = r;
  if (!(r.worst() <= tol))
    return ::testing::AssertionFailure() << "beyond " << tol << ": samples rel L2 " << fmt(r.samples_rel_l2)
                                         << ", sq_sum " << fmt(r.sq_sum_rel) << ", abs_sum " << fmt(r.abs_sum_rel)
                                         << ", sum " << fmt(r.sum_rel) << ", min/max " << fmt(r.extremes_rel)
                                         << " (sum " << c.sum << " vs " << expected.at("sum") << ", sq_sum "
                                         << c.sq_sum << " vs " << e_sq << ")";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult check_eval(const Golden& golden, size_t i, const Tolerances& tol) {
  nn::ModulePtr net = golden.build();
  net->eval();
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    out = net->forward(golden.input(i));
  }
  StatsReport r;
  auto ok = matches_stats(out, golden.case_json(i).at("eval").at("outputs").at("out"), tol.eval, &r);
  log_line(case_label(golden, i) + " eval: samples rel L2 " + fmt(r.samples_rel_l2) + ", worst checksum/sample rel " +
           fmt(r.worst()));
  if (!ok) return ::testing::AssertionFailure() << case_label(golden, i) << " eval logits: " << ok.message();
  return ok;
}

// ---------------------------------------------------------------- losses

Tensor ce_loss(const Tensor& logits, const Tensor& labels) {
  fn::CrossEntropyOptions o;
  o.ignore_index = kIgnoreIndex;
  return fn::cross_entropy(logits, labels, o);
}

Tensor aux_ce_loss(const Tensor& logits, const Tensor& labels) {
  const Shape& s = logits.shape();
  Tensor resized;
  {
    autograd::NoGradGuard no_grad;
    Tensor f = fn::unsqueeze(labels, 1).to(DType::f32);
    resized = fn::squeeze(fn::interpolate(f, std::array<int64_t, 2>{s[2], s[3]}, std::nullopt, "nearest"), 1)
                  .to(DType::i64);
  }
  return ce_loss(logits, resized);
}

DetailTerms detail_loss(const Tensor& detail_logits, const Tensor& labels, const Tensor& detail_conv_weight,
                        double thrs) {
  Tensor target;
  int64_t ones = 0;
  {
    autograd::NoGradGuard no_grad;
    Tensor lbl = fn::unsqueeze(labels, 1).to(DType::f32);
    const Shape& s = lbl.shape();
    Tensor kernel = Tensor::from_vector({-1, -1, -1, -1, 8, -1, -1, -1, -1}, {1, 1, 3, 3});
    std::vector<Tensor> levels;
    for (int64_t stride : {1, 2, 4}) {
      ops::Conv2dParams p;
      p.stride = {stride, stride};
      p.padding = {1, 1};
      Tensor l = fn::conv2d(lbl, kernel, Tensor(), p);
      if (stride > 1) l = fn::interpolate(l, std::array<int64_t, 2>{s[2], s[3]}, std::nullopt, "nearest");
      levels.push_back(l);
    }
    Tensor mixed = fn::conv2d(fn::cat(levels, 1), detail_conv_weight.detach());
    std::vector<double> v = mixed.to_vector();
    for (double& x : v) {
      x = x > thrs ? 1.0 : 0.0;
      ones += x == 1.0;
    }
    target = Tensor::from_vector(v, mixed.shape());
  }
  const Shape& t = target.shape();
  Tensor pred =
      fn::interpolate(detail_logits, std::array<int64_t, 2>{t[2], t[3]}, std::nullopt, "bilinear", true);
  DetailTerms d;
  d.dice = fn::dice_loss(pred, target);
  d.bce = fn::binary_cross_entropy_with_logits(pred, target);
  d.total = fn::add(d.dice, d.bce);
  d.target_ones = ones;
  return d;
}

LossFn main_only_loss() {
  return [](nn::Module&, const std::vector<Tensor>& outs, const Tensor& labels) {
    LossTerms t;
    t.total = ce_loss(outs.at(0), labels);
    t.main = t.total.item();
    return t;
  };
}

LossFn main_plus_aux_loss() {
  return [](nn::Module&, const std::vector<Tensor>& outs, const Tensor& labels) {
    LossTerms t;
    t.total = ce_loss(outs.at(0), labels);
    t.main = t.total.item();
    for (size_t i = 1; i < outs.size(); ++i) {
      Tensor a = aux_ce_loss(outs[i], labels);
      t.aux.push_back(a.item());
      t.total = fn::add(t.total, a);
    }
    return t;
  };
}

LossFn main_plus_detail_loss(const std::string& weight_name) {
  return [weight_name](nn::Module& net, const std::vector<Tensor>& outs, const Tensor& labels) {
    LossTerms t;
    Tensor main = ce_loss(outs.at(0), labels);
    const DetailTerms d = detail_loss(outs.at(1), labels, net.get(weight_name));
    t.main = main.item();
    t.detail = d.total.item();
    t.detail_dice = d.dice.item();
    t.detail_bce = d.bce.item();
    t.detail_target_ones = d.target_ones;
    t.total = fn::add(main, d.total);
    return t;
  };
}

// ---------------------------------------------------------------- training step

::testing::AssertionResult check_train_step(const Golden& golden, size_t i, const LossFn& loss_fn,
                                            const Json& train_overrides, const Tolerances& tol) {
  const std::string label = case_label(golden, i) + " train";
  const Json& tj = golden.case_json(i).at("train");
  nn::ModulePtr net = golden.build(train_overrides);
  net->train();
  auto* seg = dynamic_cast<nn::SegNet*>(net.get());
  if (!seg) return ::testing::AssertionFailure() << label << ": the net is not a nn::SegNet (no forward_train)";
  const Tensor labels = golden.labels(i);
  const std::vector<Tensor> outs = seg->forward_train(golden.input(i));
  std::ostringstream errors;

  // Outputs: "out", then "<extra_kind>.<j>".
  const Json& eo = tj.at("outputs");
  if (outs.size() != eo.size())
    errors << "\n  " << outs.size() << " outputs, golden " << eo.size() << " (" << eo.dump().substr(0, 80) << "...)";
  double out_worst = 0;
  for (size_t k = 0; k < outs.size() && k < eo.size(); ++k) {
    const std::string key = k == 0 ? "out" : tj.at("extra_kind").get<std::string>() + "." + std::to_string(k - 1);
    if (!eo.contains(key)) {
      errors << "\n  output " << k << ": golden has no \"" << key << "\"";
      continue;
    }
    StatsReport r;
    auto ok = matches_stats(outs[k], eo[key], tol.train_output, &r);
    out_worst = std::max(out_worst, r.worst());
    if (!ok) errors << "\n  output " << key << ": " << ok.message();
  }

  // Loss terms.
  const LossTerms terms = loss_fn(*net, outs, labels);
  const Json& el = tj.at("loss");
  double loss_worst = 0;
  auto term = [&](const std::string& name, std::optional<double> ours, const Json& want) {
    if (!ours) {
      errors << "\n  loss \"" << name << "\" recorded in the golden but not computed";
      return;
    }
    const double w = want.get<double>(), e = rel(*ours, w, std::abs(w));
    loss_worst = std::max(loss_worst, e);
    if (!(e <= tol.loss))
      errors << "\n  loss " << name << " " << *ours << ", golden " << w << " (rel " << fmt(e) << ")";
  };
  term("total", terms.total.item(), el.at("total"));
  const std::pair<const char*, std::optional<double>> named[] = {
      {"main", terms.main}, {"detail", terms.detail}, {"detail_dice", terms.detail_dice},
      {"detail_bce", terms.detail_bce}};
  for (const auto& [name, ours] : named)
    if (el.contains(name)) term(name, ours, el[name]);
  if (el.contains("aux")) {
    if (terms.aux.size() != el["aux"].size()) errors << "\n  " << terms.aux.size() << " aux losses, golden "
                                                     << el["aux"].size();
    for (size_t k = 0; k < terms.aux.size() && k < el["aux"].size(); ++k)
      term("aux." + std::to_string(k), terms.aux[k], el["aux"][k]);
  }
  if (el.contains("detail_target_ones") &&
      terms.detail_target_ones.value_or(-1) != el["detail_target_ones"].get<int64_t>())
    errors << "\n  detail target has " << terms.detail_target_ones.value_or(-1) << " ones, golden "
           << el["detail_target_ones"];

  // Gradients.
  autograd::backward(terms.total);
  double max_norm = 0;
  for (const auto& [name, want] : tj.at("grads").items())
    if (!want.is_null()) max_norm = std::max(max_norm, want.at("norm").get<double>());
  const double floor = tol.grad_zero_floor * max_norm;
  double grad_worst = 0;
  std::string grad_worst_name;
  int at_floor = 0;
  for (const auto& [name, want] : tj.at("grads").items()) {
    const Tensor g = net->get(name).grad();
    const double norm = g.defined() ? std::sqrt(checksums(g.to_vector()).sq_sum) : 0.0;
    const double want_norm = want.is_null() ? 0.0 : want.at("norm").get<double>();
    if (want.is_null()) {
      if (norm != 0) errors << "\n  grad " << name << ": norm " << norm << ", upstream has none";
      continue;
    }
    // An exact zero upstream is a gradient that cancels in exact arithmetic;
    // ours may carry rounding noise of the same kind.
    if (want_norm < floor || want_norm == 0) {
      ++at_floor;
      if (!(norm < floor))
        errors << "\n  grad " << name << ": norm " << norm << ", golden " << want_norm << " (rounding noise under "
               << floor << ")";
      continue;
    }
    if (!g.defined()) {
      errors << "\n  grad " << name << ": none, golden norm " << want_norm;
      continue;
    }
    const double e = rel(norm, want_norm, want_norm);
    if (e > grad_worst) {
      grad_worst = e;
      grad_worst_name = name;
    }
    if (!(e <= tol.grad_norm)) errors << "\n  grad " << name << ": norm " << norm << ", golden " << want_norm
                                      << " (rel " << fmt(e) << ")";
  }
  for (const auto& [name, s] : tj.at("grad_samples").items()) {
    const Tensor g = net->get(name).grad();
    const double want_norm = tj.at("grads").at(name).at("norm").get<double>();
    if (!g.defined() || want_norm < floor) continue;  // reported above
    const std::vector<double> v = g.to_vector();
    const double scale = tol.grad_sample * want_norm / std::sqrt(static_cast<double>(v.size()));
    const auto idx = s.at("index").get<std::vector<int64_t>>();
    const auto val = s.at("value").get<std::vector<double>>();
    for (size_t k = 0; k < idx.size(); ++k) {
      const double ours = v.at(static_cast<size_t>(idx[k]));
      if (!(std::abs(ours - val[k]) <= scale + tol.grad_sample * std::abs(val[k])))
        errors << "\n  grad " << name << "[" << idx[k] << "] = " << ours << ", golden " << val[k];
    }
  }

  // Buffers after the train forward (running statistics, batch counters).
  for (const auto& [name, want] : tj.at("buffer_sums_after").items()) {
    const Tensor b = net->get(name);
    const Checksums c = checksums(b.to_vector());
    if (is_floating(b.dtype())) {
      const double w = want.get<double>();
      if (!(std::abs(c.sum - w) <= tol.buffer * (std::abs(w) + c.abs_sum)))
        errors << "\n  buffer " << name << ": sum " << c.sum << ", golden " << w;
    } else if (static_cast<int64_t>(c.sum) != want.get<int64_t>()) {
      errors << "\n  buffer " << name << ": sum " << c.sum << ", golden " << want;
    }
  }

  log_line(label + ": loss " + std::to_string(terms.total.item()) + " rel " + fmt(loss_worst) +
           ", outputs worst rel " + fmt(out_worst) + ", grad-norm worst rel " + fmt(grad_worst) + " (" +
           grad_worst_name + "), " + std::to_string(at_floor) + " gradients zero up to rounding");
  if (errors.tellp() > 0) return ::testing::AssertionFailure() << label << ":" << errors.str();
  return ::testing::AssertionSuccess();
}

Tolerances float64_tolerances() {
  Tolerances t;
  t.eval = t.train_output = t.loss = t.grad_norm = t.buffer = 1e-9;
  t.grad_sample = 1e-7;
  t.grad_zero_floor = 1e-12;
  return t;
}

std::map<std::string, Tensor> state_map(const nn::Module& module) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : module.state_dict()) out.emplace(name, t);
  return out;
}

}  // namespace cudaseg::testing::golden
