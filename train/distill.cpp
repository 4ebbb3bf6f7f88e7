#include "train/distill.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "autograd/distill.h"
#include "autograd/engine.h"
#include "autograd/fn.h"
#include "infer/session.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "runtime/error.h"
#include "runtime/json_schema.h"
#include "runtime/rng.h"
#include "train/config.h"
#include "weights/checkpoint.h"

namespace cudaseg::train {
namespace {

using Json = nlohmann::json;

constexpr const char* kAdapterPrefix = "distill_adapters.";

struct ObjectiveSpec {
  const char* type;
  bool features;  // compares pair features (else the logits)
  Json params;    // accepted params with defaults
  const char* help;
};

const std::vector<ObjectiveSpec>& objective_specs() {
  static const std::vector<ObjectiveSpec> specs = {
      {"kd", false, {{"temperature", 4.0}},
       "Hinton KD as zh320's kd_loss_fn: KL(softmax(t/T) || softmax(s/T)) mean over N*C*H*W, times T^2"},
      {"pkl", false, {{"k1", 0.5}, {"temperature", 2.0}}, "FastSegFormer's P&KL logits loss (paper formula)"},
      {"nfd", true, {{"eps", 1e-5}},
       "FastSegFormer's NFD: ||Normal(F_t) - Normal(F_s)|| / (W_s H_s), summed over its pairs"},
      {"cwd", true, {{"temperature", 4.0}}, "channel-wise distillation (Shu et al.), summed over its pairs"},
      {"sekd_context", true, {{"scales", Json::array({1.0, 1.0, 1.0})}},
       "SEKD's multi-scale context alignment (feature MSE + normalised channel-Gram MSE)"},
      {"sekd_texture", true, Json::object(), "SEKD's texture loss on embedding maps (Laplacian pyramid + patch statistics)"},
      {"sekd_reconstruction", true, {{"mask_ratio", 0.3}},
       "SEKD's self-supervised reconstruction: student feature with a random zeroed box vs teacher"},
      {"sekd_alignment", true, {{"scales", Json::array({0.25})}}, "SEKD's FeatureAlignmentLoss (resized MSE)"},
  };
  return specs;
}

const ObjectiveSpec* find_spec(const std::string& type) {
  for (const auto& s : objective_specs()) {
    if (type == s.type) return &s;
  }
  return nullptr;
}

std::vector<std::string> spec_names() {
  std::vector<std::string> out;
  for (const auto& s : objective_specs()) out.push_back(s.type);
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

void check_keys(const Json& object, const std::string& where, const std::vector<std::string>& accepted) {
  CUDASEG_CHECK(object.is_object(), where, ": expected an object, got ", object.dump());
  for (const auto& [key, value] : object.items()) {
    if (std::find(accepted.begin(), accepted.end(), key) != accepted.end()) continue;
    const std::string near = schema::nearest(key, accepted);
    CUDASEG_FAIL(where, ": unknown key '", key, "'", near.empty() ? "" : " (did you mean '" + near + "'?)",
                 "; accepted: ", join(accepted));
  }
}

// Every module path of `root` ("" is the root itself).
void collect_paths(const nn::Module& module, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& [name, child] : module.named_children()) {
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    out.push_back(path);
    collect_paths(*child, path, out);
  }
}

const nn::Module* find_module(const nn::Module& root, const std::string& path) {
  const nn::Module* cur = &root;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const nn::Module* next = nullptr;
    for (const auto& [name, child] : cur->named_children()) {
      if (name == part) next = child.get();
    }
    if (next == nullptr) return nullptr;
    cur = next;
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
  return nullptr;
}

const nn::Module& resolve_module(const nn::Module& root, const std::string& path, const std::string& where,
                                 const std::string& net_name) {
  const nn::Module* m = find_module(root, path);
  if (m != nullptr) return *m;
  std::vector<std::string> paths;
  collect_paths(root, "", paths);
  std::sort(paths.begin(), paths.end(), [&](const std::string& a, const std::string& b) {
    return schema::edit_distance(path, a) < schema::edit_distance(path, b);
  });
  paths.resize(std::min<size_t>(paths.size(), 5));
  CUDASEG_FAIL(where, ": the ", net_name, " has no module '", path, "' (closest: ", join(paths),
               "; rtseg_infer --dump-layer lists the paths)");
}

// [N, L, C] patch tokens as [N, C, s, s] maps; maps unchanged.
Tensor as_map(const Tensor& t, const std::string& what) {
  if (t.dim() == 4) return t;
  CUDASEG_CHECK(t.dim() == 3, what, ": expected a [N, C, H, W] map or [N, L, C] tokens, got ", shape_str(t.shape()));
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(t.size(1)))));
  CUDASEG_CHECK(side * side == t.size(1), what, ": ", t.size(1), " tokens are not a square map");
  return fn::reshape(fn::transpose(t, 1, 2), {t.size(0), t.size(2), side, side});
}

// Records the first output of the last call of each watched module.
class CaptureHook : public nn::ForwardHook {
 public:
  void watch(const nn::Module* module, size_t slot) { slots_[module].push_back(slot); }
  bool empty() const { return slots_.empty(); }
  void reset(size_t count) { got_.assign(count, Tensor()); }
  const Tensor& got(size_t slot) const { return got_[slot]; }
  void after(const nn::Module& module, const std::vector<Tensor>& inputs,
             const std::vector<Tensor>& outputs) override {
    (void)inputs;
    const auto it = slots_.find(&module);
    if (it == slots_.end() || outputs.empty()) return;
    for (const size_t slot : it->second) got_[slot] = outputs[0];
  }

 private:
  std::map<const nn::Module*, std::vector<size_t>> slots_;
  std::vector<Tensor> got_;
};

class AdapterSet : public nn::Module {
 public:
  AdapterSet() : nn::Module("DistillAdapters") {}
  std::shared_ptr<nn::Conv2d> add(size_t pair, int64_t in, int64_t out) {
    return register_module(std::to_string(pair), std::make_shared<nn::Conv2d>(in, out, 1));
  }
};

double param(const DistillObjective& o, const char* name) { return o.params.at(name).get<double>(); }

}  // namespace

bool distill_enabled(const Json& config) {
  return config.contains("distill") && config["distill"].is_object() && !config["distill"].empty();
}

DistillConfig distill_config(const Json& config) {
  const Json& d = config.at("distill");
  check_keys(d, "distill", {"teacher", "pairs", "objectives"});
  DistillConfig out;
  CUDASEG_CHECK(d.contains("teacher"), "distill: 'teacher' is required ({\"config\" or \"model\", \"checkpoint\"})");
  const Json& t = d["teacher"];
  check_keys(t, "distill.teacher", {"config", "model", "checkpoint"});
  CUDASEG_CHECK(t.contains("config") != t.contains("model"),
                "distill.teacher: give exactly one of 'config' (a run config path) and 'model' (a registry object)");
  if (t.contains("config")) {
    CUDASEG_CHECK(t["config"].is_string(), "distill.teacher.config: expected a path, got ", t["config"].dump());
    try {
      out.teacher_model = load_config(t["config"].get<std::string>())["model"];
    } catch (const Error& e) {
      throw e.with_context("distill.teacher.config");
    }
  } else {
    try {
      out.teacher_model = nn::resolve_model_config(t["model"]);
    } catch (const Error& e) {
      throw e.with_context("distill.teacher.model");
    }
  }
  CUDASEG_CHECK(t.contains("checkpoint") && t["checkpoint"].is_string() && !t["checkpoint"].get<std::string>().empty(),
                "distill.teacher.checkpoint: the teacher's weights (a checkpoint NAME(.json|.bin)) are required");
  out.teacher_checkpoint = t["checkpoint"];

  const Json pairs = d.value("pairs", Json::array());
  CUDASEG_CHECK(pairs.is_array(), "distill.pairs: expected an array, got ", pairs.dump());
  for (size_t i = 0; i < pairs.size(); ++i) {
    const std::string where = "distill.pairs[" + std::to_string(i) + "]";
    const Json& p = pairs[i];
    check_keys(p, where, {"student", "teacher", "adapter"});
    CUDASEG_CHECK(p.contains("student") && (p["student"].is_string() || p["student"].is_number_integer()),
                  where, ".student: expected a module path, \"logits\" or a forward_train output index");
    CUDASEG_CHECK(p.contains("teacher") && p["teacher"].is_string(), where,
                  ".teacher: expected a module path or \"logits\"");
    DistillPair pair{p["student"], p["teacher"], p.value("adapter", std::string("auto"))};
    CUDASEG_CHECK(pair.adapter == "auto" || pair.adapter == "none", where, ".adapter: expected auto or none, got '",
                  pair.adapter, "'");
    out.pairs.push_back(std::move(pair));
  }

  const Json objectives = d.value("objectives", Json::array());
  CUDASEG_CHECK(objectives.is_array() && !objectives.empty(),
                "distill.objectives: expected a non-empty array of {type, weight, params}");
  for (size_t i = 0; i < objectives.size(); ++i) {
    const std::string where = "distill.objectives[" + std::to_string(i) + "]";
    const Json& o = objectives[i];
    check_keys(o, where, {"type", "weight", "params", "pairs"});
    CUDASEG_CHECK(o.contains("type") && o["type"].is_string(), where, ".type: required, one of ", join(spec_names()));
    DistillObjective obj;
    obj.type = o["type"];
    const ObjectiveSpec* spec = find_spec(obj.type);
    if (spec == nullptr) {
      const std::string near = schema::nearest(obj.type, spec_names());
      CUDASEG_FAIL(where, ".type: unknown objective '", obj.type, "'",
                   near.empty() ? "" : " (did you mean '" + near + "'?)", "; accepted: ", join(spec_names()));
    }
    CUDASEG_CHECK(!o.contains("weight") || o["weight"].is_number(), where, ".weight: expected a number");
    obj.weight = o.value("weight", 1.0);
    obj.params = spec->params;
    if (o.contains("params")) {
      std::vector<std::string> accepted;
      for (const auto& [k, v] : spec->params.items()) accepted.push_back(k);
      check_keys(o["params"], where + ".params", accepted);
      for (const auto& [k, v] : o["params"].items()) {
        CUDASEG_CHECK(v.type() == spec->params[k].type() ||
                          (v.is_number() && spec->params[k].is_number()),
                      where, ".params.", k, ": expected ", spec->params[k].is_array() ? "an array" : "a number",
                      ", got ", v.dump());
        obj.params[k] = v;
      }
    }
    if (o.contains("pairs")) {
      CUDASEG_CHECK(spec->features, where, ".pairs: objective '", obj.type, "' compares the logits, not pairs");
      CUDASEG_CHECK(o["pairs"].is_array(), where, ".pairs: expected an array of indices into distill.pairs");
      for (const auto& v : o["pairs"]) {
        CUDASEG_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 &&
                          v.get<int64_t>() < static_cast<int64_t>(out.pairs.size()),
                      where, ".pairs: ", v.dump(), " is not an index into distill.pairs (", out.pairs.size(),
                      " pairs)");
        obj.pairs.push_back(v.get<int64_t>());
      }
    } else if (spec->features) {
      CUDASEG_CHECK(!out.pairs.empty(), where, ": objective '", obj.type, "' needs distill.pairs");
      for (size_t k = 0; k < out.pairs.size(); ++k) obj.pairs.push_back(static_cast<int64_t>(k));
    }
    out.objectives.push_back(std::move(obj));
  }
  return out;
}

std::string distill_help() {
  std::string s =
      "  distill: knowledge distillation from a frozen teacher (absent or {}: off)\n"
      "    teacher.config      a run config whose model is the teacher (or teacher.model, a registry object)\n"
      "    teacher.checkpoint  the teacher's weights, NAME(.json|.bin); must be saved for that model\n"
      "    pairs               [{student, teacher, adapter}]: a module path (--dump-layer names), \"logits\",\n"
      "                        or for the student an index into forward_train's outputs; adapter auto (a\n"
      "                        trained 1x1 conv to the teacher's channels when they differ) or none\n"
      "    objectives          [{type, weight, params, pairs}]; pairs: indices into distill.pairs (default all)\n";
  for (const auto& spec : objective_specs()) {
    s += "      " + std::string(spec.type) + ": " + spec.help + "; params " +
         (spec.params.empty() ? std::string("none") : spec.params.dump()) + "\n";
  }
  s += "    The teacher runs in eval mode, without history, BatchNorm folded; it sees augment.multi_resolution's\n"
       "    teacher crop when set. Adapters are saved in OUT/last (resume) but not in the exported weights.\n";
  return s;
}

// ---------------------------------------------------------------- Distiller

struct Distiller::Impl {
  DistillConfig config;
  nn::SegNet* student = nullptr;
  nn::SegNetPtr teacher_net;
  std::optional<infer::InferenceSession> session;
  CaptureHook student_hook, teacher_hook;
  std::shared_ptr<AdapterSet> adapters = std::make_shared<AdapterSet>();
  std::vector<std::shared_ptr<nn::Conv2d>> pair_adapter;  // null: none

  Tensor student_feature(size_t k, const std::vector<Tensor>& outputs) const {
    const Json& s = config.pairs[k].student;
    if (s.is_number_integer()) {
      const auto i = s.get<int64_t>();
      CUDASEG_CHECK(i >= 0 && i < static_cast<int64_t>(outputs.size()), "distill.pairs[", k, "].student: index ", i,
                    " but forward_train gives ", outputs.size(), " outputs");
      return outputs[static_cast<size_t>(i)];
    }
    if (s == "logits") return outputs[0];
    return student_hook.got(k);
  }
  Tensor teacher_feature(size_t k, const Tensor& logits) const {
    return config.pairs[k].teacher == "logits" ? logits : teacher_hook.got(k);
  }
  Shape last_teacher_input;

  Tensor run_teacher(const Tensor& images) {
    autograd::NoGradGuard no_grad;
    last_teacher_input = images.shape();
    teacher_hook.reset(config.pairs.size());
    if (teacher_hook.empty()) return session->forward(images);
    nn::ForwardHookGuard guard(&teacher_hook);
    return session->forward(images);
  }
};

Distiller::Distiller(const DistillConfig& config, nn::SegNet& student, Device device, const Tensor& student_probe,
                     const Tensor& teacher_probe)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.config = config;
  m.student = &student;
  const std::string& ckpt = config.teacher_checkpoint;
  const weights::Checkpoint ck = [&] {
    try {
      return weights::load_checkpoint(ckpt);
    } catch (const Error& e) {
      throw e.with_context("distill.teacher.checkpoint '" + ckpt + "'");
    }
  }();
  const Json saved_model = Json::parse(ck.model_json);
  const Json model = config.teacher_model;
  // A checkpoint's model is resolved when saved by the trainer; resolve again to compare converted ones too.
  Json saved_resolved = saved_model;
  try {
    saved_resolved = nn::resolve_model_config(saved_model);
  } catch (const Error&) {
    saved_resolved = saved_model;
  }
  CUDASEG_CHECK(saved_resolved == model, "distill.teacher.checkpoint '", ckpt, "' was saved for the model ",
                saved_model.dump(), ", not the teacher's ", model.dump());
  m.teacher_net = nn::create_net(model);
  try {
    m.teacher_net->load_state_dict(std::map<std::string, Tensor>(ck.tensors.begin(), ck.tensors.end()), true);
  } catch (const Error& e) {
    throw e.with_context("distill.teacher.checkpoint '" + ckpt + "'");
  }
  for (const auto& [name, p] : m.teacher_net->named_parameters()) {
    Tensor t = p;
    t.set_requires_grad(false);
  }
  for (size_t k = 0; k < config.pairs.size(); ++k) {
    const std::string where = "distill.pairs[" + std::to_string(k) + "]";
    const DistillPair& p = config.pairs[k];
    if (p.student.is_string() && p.student != "logits") {
      m.student_hook.watch(&resolve_module(student, p.student.get<std::string>(), where + ".student",
                                           "student " + student.type_name()),
                           k);
    }
    if (p.teacher != "logits") {
      m.teacher_hook.watch(&resolve_module(*m.teacher_net, p.teacher.get<std::string>(), where + ".teacher",
                                           "teacher " + m.teacher_net->type_name()),
                           k);
    }
  }
  infer::ModelInfo info;
  info.model_json = model.dump();
  infer::SessionOptions so;
  so.device = device;
  m.session = infer::InferenceSession::from_net(m.teacher_net, info, so);

  // Probe both nets once for the feature shapes (student in eval: no running-statistics update, no dropout).
  const bool was_training = student.is_training();
  std::vector<Tensor> outputs;
  {
    autograd::NoGradGuard no_grad;
    student.eval();
    m.student_hook.reset(config.pairs.size());
    nn::ForwardHookGuard guard(&m.student_hook);
    outputs = student.forward_train(student_probe.to(device));
  }
  if (was_training) student.train();
  const Tensor t_logits = m.run_teacher(teacher_probe.to(device));
  m.pair_adapter.assign(config.pairs.size(), nullptr);
  for (size_t k = 0; k < config.pairs.size(); ++k) {
    const std::string where = "distill.pairs[" + std::to_string(k) + "]";
    const Tensor s = m.student_feature(k, outputs), t = m.teacher_feature(k, t_logits);
    CUDASEG_CHECK(s.defined(), where, ".student: module ", config.pairs[k].student.dump(),
                  " was not called by the student's forward_train");
    CUDASEG_CHECK(t.defined(), where, ".teacher: module ", config.pairs[k].teacher.dump(),
                  " was not called by the teacher's forward");
    const Tensor sm = as_map(s, where + ".student"), tm = as_map(t, where + ".teacher");
    if (sm.size(1) == tm.size(1)) continue;
    CUDASEG_CHECK(config.pairs[k].adapter == "auto", where, ": the student feature has ", sm.size(1),
                  " channels, the teacher's ", tm.size(1), "; set adapter auto");
    m.pair_adapter[k] = m.adapters->add(k, sm.size(1), tm.size(1));
  }
  m.adapters->to(device);
  m.adapters->train();
}

Distiller::~Distiller() = default;

const nn::Module& Distiller::teacher() const { return *impl_->teacher_net; }

Shape Distiller::last_teacher_input() const { return impl_->last_teacher_input; }

std::vector<OptimParam> Distiller::adapter_params(const OptimizerConfig& config) const {
  std::vector<OptimParam> out = make_param_groups(*impl_->adapters, config);
  for (OptimParam& p : out) p.name = kAdapterPrefix + p.name;
  return out;
}

weights::TensorDict Distiller::adapter_state() const {
  weights::TensorDict out;
  for (const auto& [name, t] : impl_->adapters->state_dict()) out.insert(kAdapterPrefix + name, t);
  return out;
}

void Distiller::load_adapter_state(const weights::TensorDict& state) {
  std::map<std::string, Tensor> own;
  const std::string prefix = kAdapterPrefix;
  for (const auto& [name, t] : state) {
    if (name.rfind(prefix, 0) == 0) own[name.substr(prefix.size())] = t;
  }
  try {
    impl_->adapters->load_state_dict(own, true);
  } catch (const Error& e) {
    throw e.with_context("distill adapters");
  }
}

Distiller::Capture::Capture(Distiller& d) {
  d.impl_->student_hook.reset(d.impl_->config.pairs.size());
  if (!d.impl_->student_hook.empty()) guard_ = std::make_unique<nn::ForwardHookGuard>(&d.impl_->student_hook);
}

Distiller::Capture::~Capture() = default;

void Distiller::add_terms(LossResult& loss, const std::vector<Tensor>& student_outputs, const Tensor& teacher_images,
                          uint64_t seed, int64_t step) {
  Impl& m = *impl_;
  const Tensor t_logits = fn::to_dtype(m.run_teacher(teacher_images), DType::f32);
  const Tensor s_logits = student_outputs[0];
  const auto features = [&](const DistillObjective& o) {
    std::pair<std::vector<Tensor>, std::vector<Tensor>> st;
    for (const int64_t k : o.pairs) {
      const auto kk = static_cast<size_t>(k);
      const std::string where = "distill.pairs[" + std::to_string(k) + "]";
      Tensor s = as_map(fn::to_dtype(m.student_feature(kk, student_outputs), DType::f32), where + ".student");
      if (m.pair_adapter[kk]) s = (*m.pair_adapter[kk])(s);
      st.first.push_back(s);
      st.second.push_back(as_map(fn::to_dtype(m.teacher_feature(kk, t_logits), DType::f32), where + ".teacher"));
    }
    return st;
  };
  std::map<std::string, int> seen;
  for (const DistillObjective& o : m.config.objectives) seen[o.type]++;
  std::map<std::string, int> index;
  for (const DistillObjective& o : m.config.objectives) {
    Tensor value;
    if (o.type == "kd") {
      value = fn::kd_loss(s_logits, fn::resize_teacher(t_logits, s_logits), param(o, "temperature"));
    } else if (o.type == "pkl") {
      value = fn::pkl_loss(s_logits, t_logits, {param(o, "k1"), param(o, "temperature")});
    } else {
      const auto [s, t] = features(o);
      if (o.type == "nfd" || o.type == "cwd") {
        for (size_t i = 0; i < s.size(); ++i) {
          const Tensor v = o.type == "nfd" ? fn::nfd_loss(s[i], t[i], {param(o, "eps")})
                                           : fn::cwd_loss(s[i], t[i], {param(o, "temperature")});
          value = value.defined() ? fn::add(value, v) : v;
        }
      } else if (o.type == "sekd_context") {
        value = fn::sekd_context_loss(s, t, {o.params["scales"].get<std::vector<double>>()});
      } else if (o.type == "sekd_texture") {
        value = fn::sekd_texture_loss(s, t);
      } else if (o.type == "sekd_alignment") {
        value = fn::sekd_alignment_loss(s, t, o.params["scales"].get<std::vector<double>>());
      } else {
        // Upstream draws with torch.randint each step; here a Philox stream keyed by (seed, step) so that
        // a resumed run draws the same boxes.
        const double ratio = param(o, "mask_ratio");
        Generator gen(seed ^ 0x5EED0018ull, static_cast<uint64_t>(step) << 24);
        std::vector<std::vector<std::array<int64_t, 2>>> starts;
        for (const Tensor& f : s) {
          const int64_t h = f.size(2), w = f.size(3);
          const int64_t room_h = h - static_cast<int64_t>(static_cast<double>(h) * ratio);
          const int64_t room_w = w - static_cast<int64_t>(static_cast<double>(w) * ratio);
          const std::vector<double> u = gen.uniform({f.size(0), 2}, 0.0, 1.0, DType::f64).to_vector();
          starts.emplace_back();
          for (int64_t b = 0; b < f.size(0); ++b) {
            starts.back().push_back({std::min(room_h - 1, static_cast<int64_t>(u[2 * b] * room_h)),
                                     std::min(room_w - 1, static_cast<int64_t>(u[2 * b + 1] * room_w))});
          }
        }
        value = fn::sekd_reconstruction_loss(s, t, starts, ratio);
      }
    }
    const Tensor term = fn::mul(value, o.weight);
    const std::string name = seen[o.type] > 1 ? o.type + std::to_string(index[o.type]++) : o.type;
    loss.terms.push_back({name, term});
    loss.total = fn::add(loss.total, term);
  }
}

}  // namespace cudaseg::train
