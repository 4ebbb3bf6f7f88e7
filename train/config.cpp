#include "train/config.h"

#include <functional>
#include <sstream>

#include "nn/registry.h"
#include "train/data_config.h"
#include "runtime/atomic_file.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "weights/file_io.h"

namespace cudaseg::train {
namespace {

constexpr int64_t kDefaultIters = 200;

std::vector<ConfigSection> make_sections() {
  using J = Json;
  return {
      {"model", "the net, as the registry builds it: {\"name\": ..., \"num_classes\": ..., <net arguments>}", {}},
      {"data", "the dataset (the built-in synthetic one by default); keys in train/data_config.h", {}},
      {"augment", "training augmentation and normalisation; keys in train/data_config.h", {}},
      {"optimizer",
       "the optimizer and its parameter groups",
       {{"type", "sgd", "string", "update rule", {"sgd", "adam", "adamw"}},
        {"lr", 0.01, "number", "base learning rate (the schedule's peak)"},
        {"momentum", 0.9, "number", "sgd momentum"},
        {"nesterov", false, "bool", "sgd nesterov momentum"},
        {"weight_decay", 1e-4, "number", "L2 (sgd, adam) or decoupled (adamw) decay"},
        {"betas", J::array({0.9, 0.999}), "numbers", "adam/adamw [beta1, beta2]", {}, 2},
        {"eps", 1e-8, "number", "adam/adamw epsilon"},
        {"no_decay_norm_bias", false, "bool", "no weight decay for norm layers and biases"},
        {"lr_mult", J::object(), "number_map", "lr multiplier per parameter-name prefix, e.g. {\"backbone.\": 0.1}"},
        {"grad_clip_norm", 0.0, "number", "clip the global gradient norm (0: off)"}}},
      {"schedule",
       "the learning-rate schedule, stepped every iteration",
       {{"policy", "onecycle", "string", "curve after the warmup", {"poly", "cosine", "onecycle", "step"}},
        {"warmup_iters", 0, "integer", "linear warmup length (onecycle: its rising phase)"},
        {"warmup_factor", 0.1, "number", "lr fraction at iteration 0 of the linear warmup"},
        {"power", 0.9, "number", "poly exponent"},
        {"min_lr", 0.0, "number", "poly/cosine final lr"},
        {"step_size", 1000, "integer", "step: iterations per decay"},
        {"gamma", 0.1, "number", "step: decay factor"},
        {"div_factor", 25.0, "number", "onecycle: initial lr = lr / div_factor"},
        {"final_div_factor", 1e4, "number", "onecycle: final lr = initial / final_div_factor"},
        {"anneal", "cos", "string", "onecycle anneal", {"cos", "linear"}},
        {"cycle_momentum", true, "bool", "onecycle: cycle momentum / beta1"},
        {"base_momentum", 0.85, "number", "onecycle: lowest momentum"},
        {"max_momentum", 0.95, "number", "onecycle: highest momentum"}}},
      {"loss",
       "the training objective",
       {{"type", "ohem", "string", "pixel loss", {"ce", "ohem"}},
        {"ignore_index", 255, "integer", "label ignored by loss and metrics"},
        {"class_weights", J::array(), "numbers", "ce class weights (empty: all 1)"},
        {"ohem_thresh", 0.7, "number", "ohem: keep pixels whose true-class probability is below"},
        {"ohem_min_kept", -1, "integer", "ohem: minimum kept pixels (-1: valid / 16)"},
        {"aux_coef", J::array(), "numbers", "weight per aux output (empty: all 1)"},
        {"detail_coef", 1.0, "number", "STDC detail loss weight"},
        {"dice_coef", 1.0, "number", "STDC detail loss: dice weight"},
        {"bce_coef", 1.0, "number", "STDC detail loss: BCE weight"},
        {"detail_thresh", 0.1, "number", "STDC detail loss: target binarisation threshold"}}},
      {"ema",
       "exponential moving average of the weights (validation and best.* use it)",
       {{"enabled", false, "bool", "average the weights"},
        {"mode", "linear", "string", "decay = step / iters (linear) or `decay` (fixed)", {"linear", "fixed"}},
        {"decay", 0.9998, "number", "fixed decay"}}},
      {"val",
       "validation inference",
       {{"mode", "whole", "string", "whole image or sliding window", {"whole", "slide"}},
        {"crop_size", J::array(), "integers", "slide: window [h, w]"},
        {"stride", J::array(), "integers", "slide: step [h, w]"}}},
      {"train",
       "the loop",
       {{"device", "cpu", "string", "cpu, cuda or cuda:N"},
        {"iters", kDefaultIters, "integer", "optimizer steps (the run length unless epochs is set)"},
        {"epochs", 0, "integer",
         "> 0: run epochs * (batches per epoch) steps instead of iters; the saved config.json holds the resolved "
         "iters"},
        {"batch_size", 4, "integer", "images per step"},
        {"precision", "fp32", "string",
         "fp16 or bf16: mixed precision on CUDA (float32 master weights and norm layers; fp16 scales the loss)",
         {"fp32", "fp16", "bf16"}},
        {"seed", 1, "integer", "seed of initialisation, shuffling, augmentation and dropout"},
        {"log_interval", 10, "integer", "steps between progress lines"},
        {"val_interval", 100, "integer", "steps between validations (0: at the end only)"},
        {"ckpt_interval", 100, "integer", "steps between checkpoints (0: at the end only)"},
        {"out", "", "string", "run folder (empty: runs/<config name>); rtseg_train --out, and --resume's folder, win over it"}}},
  };
}

std::string type_word(const std::string& type) {
  if (type == "bool") return "a boolean";
  if (type == "integer") return "an integer";
  if (type == "number") return "a number";
  if (type == "string") return "a string";
  if (type == "numbers") return "an array of numbers";
  if (type == "integers") return "an array of integers";
  return "an object of numbers";
}

bool has_type(const Json& v, const std::string& type) {
  if (type == "bool") return v.is_boolean();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "string") return v.is_string();
  if (type == "numbers" || type == "integers") {
    if (!v.is_array()) return false;
    for (const auto& e : v) {
      if (type == "integers" ? !e.is_number_integer() : !e.is_number()) return false;
    }
    return true;
  }
  if (!v.is_object()) return false;
  for (const auto& [k, e] : v.items()) {
    if (!e.is_number()) return false;
  }
  return true;
}

template <typename T>
std::string join(const std::vector<T>& items, const std::function<std::string(const T&)>& f) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + f(i);
  return out;
}

void check_key(const std::string& path, const ConfigKey& spec, const Json& v) {
  CUDASEG_CHECK(has_type(v, spec.type), "config: '", path, "' must be ", type_word(spec.type), ", got ", v.dump());
  if (!spec.choices.empty()) {
    bool ok = false;
    for (const auto& c : spec.choices) ok = ok || c == v;
    CUDASEG_CHECK(ok, "config: '", path, "' must be one of ",
                  join<Json>(spec.choices, [](const Json& c) { return c.get<std::string>(); }), ", got ", v.dump());
  }
  CUDASEG_CHECK(spec.length < 0 || static_cast<int>(v.size()) == spec.length, "config: '", path, "' must have ",
                spec.length, " values, got ", v.dump());
}

Json resolve_section(const ConfigSection& section, const Json& given) {
  CUDASEG_CHECK(given.is_object(), "config: section '", section.name, "' must be an object, got ", given.dump());
  Json out = Json::object();
  for (const auto& [key, value] : given.items()) {
    const ConfigKey* spec = nullptr;
    for (const auto& k : section.keys) {
      if (k.key == key) spec = &k;
    }
    CUDASEG_CHECK(spec != nullptr, "config: unknown key '", section.name, ".", key, "' (accepted: ",
                  join<ConfigKey>(section.keys, [](const ConfigKey& k) { return k.key; }), ")");
    check_key(section.name + "." + key, *spec, value);
  }
  for (const auto& k : section.keys) out[k.key] = given.contains(k.key) ? given[k.key] : k.default_value;
  return out;
}

}  // namespace

const std::vector<ConfigSection>& config_sections() {
  static const std::vector<ConfigSection> sections = make_sections();
  return sections;
}

std::string config_help() {
  std::ostringstream os;
  const Json data_defaults = resolve_data_config(Json::object(), Json::object());
  for (const auto& s : config_sections()) {
    os << "  " << s.name << ": " << s.help << "\n";
    if (data_defaults.contains(s.name)) {
      for (const auto& [key, value] : data_defaults[s.name].items()) {
        os << "    " << key << " (default " << value.dump() << ")\n";
      }
    }
    for (const auto& k : s.keys) {
      os << "    " << k.key << " (" << k.type << ", default " << k.default_value.dump() << "): " << k.help;
      if (!k.choices.empty()) {
        os << " [" << join<Json>(k.choices, [](const Json& c) { return c.get<std::string>(); }) << "]";
      }
      os << "\n";
    }
  }
  return os.str();
}

void apply_override(Json& config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  CUDASEG_CHECK(eq != std::string::npos && eq > 0, "--set: expected KEY=VALUE (e.g. optimizer.lr=0.01), got '",
                assignment, "'");
  const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  Json value = Json::parse(text, nullptr, false);
  if (value.is_discarded()) value = text;
  Json* node = &config;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    CUDASEG_CHECK(!part.empty(), "--set: empty key component in '", path, "'");
    if (node->is_null()) *node = Json::object();
    CUDASEG_CHECK(node->is_object(), "--set: '", path.substr(0, start ? start - 1 : 0), "' is not an object");
    node = &(*node)[part];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  *node = value;
}

Json resolve_config(const Json& config) {
  CUDASEG_CHECK(config.is_object(), "config: must be a JSON object, got ", config.dump());
  const auto& sections = config_sections();
  for (const auto& [name, value] : config.items()) {
    bool known = false;
    for (const auto& s : sections) known = known || s.name == name;
    CUDASEG_CHECK(known, "config: unknown section '", name, "' (accepted: ",
                  join<ConfigSection>(sections, [](const ConfigSection& s) { return s.name; }), ")");
  }
  CUDASEG_CHECK(config.contains("model"), "config: the 'model' section is required (e.g. {\"name\": \"stdc\", ",
                "\"num_classes\": 19}; registered nets: ",
                join<std::string>(nn::registered_nets(), [](const std::string& s) { return s; }), ")");
  Json out = Json::object();
  try {
    const Json data = resolve_data_config(config.value("data", Json::object()), config.value("augment", Json::object()));
    out["data"] = data["data"];
    out["augment"] = data["augment"];
  } catch (const Error& e) {
    throw e.with_context("config");
  }
  for (const auto& s : sections) {
    if (s.name == "data" || s.name == "augment") continue;
    if (s.name == "model") {
      try {
        out["model"] = nn::resolve_model_config(config["model"]);
      } catch (const Error& e) {
        throw e.with_context("config: model");
      }
      continue;
    }
    out[s.name] = resolve_section(s, config.contains(s.name) ? config[s.name] : Json::object());
  }
  const Json& t = out["train"];
  CUDASEG_CHECK(t["iters"].get<int64_t>() > 0, "config: 'train.iters' must be positive");
  const int64_t epochs = t["epochs"].get<int64_t>();
  CUDASEG_CHECK(epochs >= 0, "config: 'train.epochs' must be >= 0 (0: the run length is train.iters), got ", epochs);
  CUDASEG_CHECK(epochs == 0 || t["iters"] == kDefaultIters, "config: give either 'train.iters' (",
                t["iters"].dump(), ") or 'train.epochs' (", epochs, "), not both");
  const std::string precision = t["precision"].get<std::string>();
  CUDASEG_CHECK(precision == "fp32" || !Device::parse(t["device"].get<std::string>()).is_cpu(),
                "config: train.precision '", precision, "' needs a CUDA device (train.device is '",
                t["device"].get<std::string>(), "'); use fp32 on the CPU");
  CUDASEG_CHECK(t["batch_size"].get<int64_t>() > 0, "config: 'train.batch_size' must be positive");
  CUDASEG_CHECK(t["seed"].get<int64_t>() >= 0, "config: 'train.seed' must be >= 0");
  for (const char* k : {"log_interval", "val_interval", "ckpt_interval"}) {
    CUDASEG_CHECK(t[k].get<int64_t>() >= 0, "config: 'train.", k, "' must be >= 0");
  }
  const Json& v = out["val"];
  if (v["mode"] == "slide") {
    CUDASEG_CHECK(v["crop_size"].size() == 2 && v["stride"].size() == 2,
                  "config: 'val.mode' slide needs 'val.crop_size' and 'val.stride' as [h, w]");
  }
  return out;
}

Json load_config(const std::string& path, const std::vector<std::string>& overrides) {
  const std::string text = weights::read_text_file(path);
  Json config = Json::parse(text, nullptr, false);
  CUDASEG_CHECK(!config.is_discarded(), path, ": not valid JSON");
  for (const auto& o : overrides) apply_override(config, o);
  try {
    return resolve_config(config);
  } catch (const Error& e) {
    throw e.with_context(path);
  }
}

void save_config(const std::string& path, const Json& config) {
  write_file_atomic(path, config.dump(2) + "\n");
}

OptimizerConfig optimizer_config(const Json& config) {
  const Json& o = config.at("optimizer");
  OptimizerConfig c;
  c.type = o["type"];
  c.lr = o["lr"];
  c.momentum = o["momentum"];
  c.nesterov = o["nesterov"];
  c.weight_decay = o["weight_decay"];
  c.beta1 = o["betas"][0];
  c.beta2 = o["betas"][1];
  c.eps = o["eps"];
  c.no_decay_norm_bias = o["no_decay_norm_bias"];
  for (const auto& [k, v] : o["lr_mult"].items()) c.lr_mult[k] = v.get<double>();
  c.grad_clip_norm = o["grad_clip_norm"];
  return c;
}

ScheduleConfig schedule_config(const Json& config) {
  const Json& s = config.at("schedule");
  ScheduleConfig c;
  c.policy = s["policy"];
  c.total_iters = config.at("train")["iters"];
  c.warmup_iters = s["warmup_iters"];
  c.warmup_factor = s["warmup_factor"];
  c.power = s["power"];
  c.min_lr = s["min_lr"];
  c.step_size = s["step_size"];
  c.gamma = s["gamma"];
  c.div_factor = s["div_factor"];
  c.final_div_factor = s["final_div_factor"];
  c.anneal = s["anneal"];
  c.cycle_momentum = s["cycle_momentum"];
  c.base_momentum = s["base_momentum"];
  c.max_momentum = s["max_momentum"];
  return c;
}

LossConfig loss_config(const Json& config) {
  const Json& l = config.at("loss");
  LossConfig c;
  c.type = l["type"];
  c.ignore_index = l["ignore_index"];
  c.class_weights = l["class_weights"].get<std::vector<double>>();
  c.ohem_thresh = l["ohem_thresh"];
  c.ohem_min_kept = l["ohem_min_kept"];
  c.aux_coef = l["aux_coef"].get<std::vector<double>>();
  c.detail_coef = l["detail_coef"];
  c.dice_coef = l["dice_coef"];
  c.bce_coef = l["bce_coef"];
  c.detail_thresh = l["detail_thresh"];
  return c;
}

EmaConfig ema_config(const Json& config) {
  const Json& e = config.at("ema");
  return {e["enabled"].get<bool>(), e["mode"].get<std::string>(), e["decay"].get<double>()};
}

ValConfig val_config(const Json& config) {
  const Json& v = config.at("val");
  return {v["mode"], v["crop_size"].get<std::vector<int64_t>>(), v["stride"].get<std::vector<int64_t>>()};
}

TrainConfig train_config(const Json& config) {
  const Json& t = config.at("train");
  TrainConfig c;
  c.device = t["device"];
  c.iters = t["iters"];
  c.epochs = t["epochs"];
  c.batch_size = t["batch_size"];
  c.precision = t["precision"];
  c.seed = t["seed"].get<uint64_t>();
  c.log_interval = t["log_interval"];
  c.val_interval = t["val_interval"];
  c.ckpt_interval = t["ckpt_interval"];
  c.out = t["out"];
  return c;
}

Json resolve_run_length(const Json& config, int64_t batches_per_epoch) {
  Json out = config;
  Json& t = out.at("train");
  const int64_t epochs = t.at("epochs").get<int64_t>();
  if (epochs == 0) return out;
  CUDASEG_CHECK(batches_per_epoch > 0, "config: train.epochs needs at least one batch per epoch, got ",
                batches_per_epoch);
  t["iters"] = epochs * batches_per_epoch;
  t["epochs"] = 0;
  return out;
}

}  // namespace cudaseg::train
