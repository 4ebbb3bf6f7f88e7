#include "train/config.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "runtime/atomic_file.h"
#include "nn/registry.h"
#include "train/data_config.h"
#include "train/datasets.h"
#include "train/distill.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/json_read.h"
#include "weights/file_io.h"

namespace cudaseg::train {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDefaultIters = 200;

using schema::Type;

// train.iters is null in a resolved config whose length comes from
// train.epochs, so resolving it again does not see iters as given.
std::vector<schema::Key> make_sections() {
  using J = Json;
  return {
      {"model", Type::any, J::object(),
       "the net, as the registry builds it: {\"name\": ..., \"num_classes\": ..., <net arguments>}"},
      {"data", Type::any, J::object(), "the dataset (the built-in synthetic one by default)"},
      {"augment", Type::any, J::object(), "training augmentation and normalisation"},
      schema::object_key(
          "optimizer", "the optimizer and its parameter groups",
          {{"type", Type::string, "sgd", "update rule", {"sgd", "adam", "adamw"}},
           {"lr", Type::number, 0.01, "base learning rate (the schedule's peak)", {}, 0.0},
           {"momentum", Type::number, 0.9, "sgd momentum", {}, 0.0},
           {"nesterov", Type::boolean, false, "sgd nesterov momentum"},
           {"weight_decay", Type::number, 1e-4, "L2 (sgd, adam) or decoupled (adamw) decay", {}, 0.0},
           {"betas", Type::numbers, J::array({0.9, 0.999}), "adam/adamw [beta1, beta2]", {}, 0.0, 1.0, 2},
           {"eps", Type::number, 1e-8, "adam/adamw epsilon", {}, 0.0},
           {"no_decay_norm_bias", Type::boolean, false, "no weight decay for norm layers and biases"},
           {"lr_mult", Type::number_map, J::object(),
            "lr multiplier per parameter-name prefix, e.g. {\"backbone.\": 0.1}"},
           {"grad_clip_norm", Type::number, 0.0, "clip the global gradient norm (0: off)", {}, 0.0}}),
      schema::object_key(
          "schedule", "the learning-rate schedule, stepped every iteration",
          {{"policy", Type::string, "onecycle", "curve after the warmup", {"poly", "cosine", "onecycle", "step"}},
           {"warmup_iters", Type::integer, 0, "linear warmup length (onecycle: its rising phase)", {}, 0},
           {"warmup_factor", Type::number, 0.1, "lr fraction at iteration 0 of the linear warmup", {}, 0.0},
           {"power", Type::number, 0.9, "poly exponent"},
           {"min_lr", Type::number, 0.0, "poly/cosine final lr", {}, 0.0},
           {"step_size", Type::integer, 1000, "step: iterations per decay", {}, 1},
           {"gamma", Type::number, 0.1, "step: decay factor"},
           {"div_factor", Type::number, 25.0, "onecycle: initial lr = lr / div_factor"},
           {"final_div_factor", Type::number, 1e4, "onecycle: final lr = initial / final_div_factor"},
           {"anneal", Type::string, "cos", "onecycle anneal", {"cos", "linear"}},
           {"cycle_momentum", Type::boolean, true, "onecycle: cycle momentum / beta1"},
           {"base_momentum", Type::number, 0.85, "onecycle: lowest momentum"},
           {"max_momentum", Type::number, 0.95, "onecycle: highest momentum"}}),
      schema::object_key(
          "loss", "the training objective",
          {{"type", Type::string, "ohem", "pixel loss", {"ce", "ohem"}},
           {"ignore_index", Type::integer, 255, "label ignored by loss and metrics"},
           {"class_weights", Type::numbers, J::array(), "ce class weights (empty: all 1)", {}, 0.0},
           {"ohem_thresh", Type::number, 0.7, "ohem: keep pixels whose true-class probability is below", {}, 0.0, 1.0},
           {"ohem_min_kept", Type::integer, -1, "ohem: minimum kept pixels (-1: valid / 16)", {}, -1},
           {"aux_coef", Type::numbers, J::array(), "weight per aux output (empty: all 1)"},
           {"detail_coef", Type::number, 1.0, "STDC detail loss weight"},
           {"dice_coef", Type::number, 1.0, "STDC detail loss: dice weight"},
           {"bce_coef", Type::number, 1.0, "STDC detail loss: BCE weight"},
           {"detail_thresh", Type::number, 0.1, "STDC detail loss: target binarisation threshold"}}),
      schema::object_key(
          "ema", "exponential moving average of the weights (validation and best.* use it)",
          {{"enabled", Type::boolean, false, "average the weights"},
           {"mode", Type::string, "linear", "decay = step / iters (linear) or `decay` (fixed)", {"linear", "fixed"}},
           {"decay", Type::number, 0.9998, "fixed decay", {}, 0.0, 1.0}}),
      schema::object_key("val", "validation inference",
                         {{"mode", Type::string, "whole", "whole image or sliding window", {"whole", "slide"}},
                          {"crop_size", Type::integers, J::array(), "slide: window [h, w]", {}, 1},
                          {"stride", Type::integers, J::array(), "slide: step [h, w]", {}, 1}}),
      schema::object_key(
          "train", "the loop",
          {{"device", Type::string, "cpu", "cpu, cuda or cuda:N"},
           {"iters", Type::integer, kDefaultIters, "optimizer steps (the run length unless epochs is set)", {}, 1,
            std::nullopt, -1, true},
           {"epochs", Type::integer, 0,
            "> 0: run epochs * (batches per epoch) steps instead of iters; the saved config.json holds the resolved "
            "iters",
            {}, 0},
           {"batch_size", Type::integer, 4, "images per step (over all ranks of a data-parallel run)", {}, 1},
           {"precision", Type::string, "fp32",
            "fp16 or bf16: mixed precision on CUDA (float32 master weights and norm layers; fp16 scales the loss)",
            {"fp32", "fp16", "bf16"}},
           {"tf32", Type::boolean, false,
            "CUDA: TF32 tensor-core maths in float32 matrix products and convolutions (faster; about 1e-3 "
            "relative error)"},
           {"sync_bn", Type::boolean, false,
            "data-parallel runs: BatchNorm statistics over every rank's batch, forward and backward (torch's "
            "SyncBatchNorm); one process is unaffected"},
           {"ddp_bucket_mb", Type::integer, 25,
            "data-parallel runs: MiB of gradients per bucket, each summed over the ranks as soon as the backward "
            "completes it (torch DDP's bucket_cap_mb)",
            {}, 1},
           {"seed", Type::integer, 1, "seed of initialisation, shuffling, augmentation and dropout", {}, 0},
           {"backbone_weights", Type::string, "",
            "a torchvision ImageNet state_dict (.pth: resnet18..resnet152, mobilenet_v2) that initialises the "
            "net's backbone before training, as upstream's pretrained=True (empty: random init)"},
           {"log_interval", Type::integer, 10, "steps between progress lines", {}, 0},
           {"val_interval", Type::integer, 100, "steps between validations (0: at the end only)", {}, 0},
           {"ckpt_interval", Type::integer, 100, "steps between checkpoints (0: at the end only)", {}, 0},
           {"out", Type::string, "",
            "run folder (empty: runs/<config name>); rtseg_train --out, and --resume's folder, win over it"}}),
      {"distill", Type::any, J::object(),
       "knowledge distillation from a frozen teacher (absent or {}: off; see train/distill.h)"},
  };
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string file_datasets_text() { return join(file_dataset_names()); }

int64_t iters_of(const Json& train) { return train.at("iters").is_null() ? 0 : train.at("iters").get<int64_t>(); }

}  // namespace

const std::vector<schema::Key>& config_sections() {
  static const std::vector<schema::Key> sections = make_sections();
  return sections;
}

std::string config_help() {
  std::ostringstream os;
  for (const auto& s : config_sections()) {
    os << "  " << s.name << ": " << s.help << "\n";
    if (s.name == "data") {
      const std::vector<schema::Key> synthetic = data_schema("synthetic");
      os << schema::describe(synthetic, "    ") << "    with a file dataset instead (" << file_datasets_text()
         << "):\n";
      std::vector<schema::Key> differ;
      for (const auto& k : data_schema("folder")) {
        const auto same = std::find_if(synthetic.begin(), synthetic.end(), [&](const schema::Key& o) {
          return o.name == k.name && o.default_value == k.default_value && o.required == k.required;
        });
        if (same == synthetic.end()) differ.push_back(k);
      }
      os << schema::describe(differ, "      ");
    } else if (s.name == "augment") {
      os << schema::describe(augment_schema(), "    ");
    } else if (s.name == "distill") {
      const std::string help = distill_help();
      os << help.substr(help.find('\n') + 1);
    } else {
      os << schema::describe(s.keys, "    ");
    }
  }
  return os.str();
}

void apply_override(Json& config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  CUDASEG_CHECK(eq != std::string::npos && eq > 0, "--set: expected KEY=VALUE (e.g. optimizer.lr=0.01), got '",
                assignment, "'");
  // A value that is not JSON is kept as a string, and nlohmann's dump() throws
  // its own type_error on a string that is not UTF-8: later, in an error
  // message or while config.json is written.
  try {
    (void)Json(assignment).dump();
  } catch (const Json::type_error& e) {
    const std::string what = e.what();
    CUDASEG_FAIL("--set: not valid UTF-8 text (", what.substr(what.find("] ") + 2), ")");
  }
  const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  check_json_depth(text, "--set " + path);
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
  try {
    CUDASEG_CHECK(config.is_object(), "must be a JSON object, got ", config.dump());
    CUDASEG_CHECK(config.contains("model"), "the 'model' section is required (e.g. {\"name\": \"stdc\", ",
                  "\"num_classes\": 19}; registered nets: ", join(nn::registered_nets()), ")");
    Json out = schema::resolve(config_sections(), config, "");
    out["model"] = nn::resolve_model_config(config["model"]);
    const Json data = resolve_data_config(out["data"], out["augment"]);
    out["data"] = data["data"];
    out["augment"] = data["augment"];

    Json& t = out["train"];
    const int64_t epochs = t["epochs"].get<int64_t>();
    // Whether the user gave iters, not its value: iters equal to the default
    // beside epochs is as contradictory as any other.
    const Json& given = config.value("train", Json::object());
    const bool iters_given = given.is_object() && given.contains("iters") && !given["iters"].is_null();
    CUDASEG_CHECK(epochs == 0 || !iters_given, "give either 'train.iters' (", iters_given ? given["iters"].dump() : "",
                  ") or 'train.epochs' (", epochs, "), not both (--set train.iters=null drops a config's iters)");
    if (epochs > 0) t["iters"] = nullptr;
    else if (t["iters"].is_null()) t["iters"] = kDefaultIters;
    const std::string precision = t["precision"].get<std::string>();
    CUDASEG_CHECK(precision == "fp32" || !Device::parse(t["device"].get<std::string>()).is_cpu(),
                  "train.precision '", precision, "' needs a CUDA device (train.device is '",
                  t["device"].get<std::string>(), "'); use fp32 on the CPU");
    if (distill_enabled(out)) distill_config(out);
    const Json& v = out["val"];
    if (v["mode"] == "slide") {
      CUDASEG_CHECK(v["crop_size"].size() == 2 && v["stride"].size() == 2,
                    "'val.mode' slide needs 'val.crop_size' and 'val.stride' as [h, w]");
    }
    return out;
  } catch (const Error& e) {
    throw e.with_context("config");
  }
}

Json load_config(const std::string& path, const std::vector<std::string>& overrides) {
  // A teacher's config (distill.teacher.config) is loaded while its student's
  // resolves: a chain of them that comes back to a config would recurse until
  // the stack overflows. The configs being loaded on this thread, outermost first:
  thread_local std::vector<std::string> loading;
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(path, ec);
  const std::string id = ec ? path : canonical.string();
  if (std::find(loading.begin(), loading.end(), id) != loading.end()) {
    std::string chain;
    for (auto it = std::find(loading.begin(), loading.end(), id); it != loading.end(); ++it) chain += *it + " -> ";
    CUDASEG_FAIL(path, ": the config names itself as a teacher config (", chain, id, ")");
  }
  loading.push_back(id);
  struct Pop {
    ~Pop() { loading.pop_back(); }
  } pop;
  Json config = parse_json(weights::read_text_file(path), path);
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
  c.total_iters = iters_of(config.at("train"));
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
  c.iters = iters_of(t);
  c.epochs = t["epochs"];
  c.batch_size = t["batch_size"];
  c.precision = t["precision"];
  c.tf32 = t["tf32"];
  c.sync_bn = t["sync_bn"];
  c.ddp_bucket_mb = t["ddp_bucket_mb"];
  c.seed = t["seed"].get<uint64_t>();
  c.backbone_weights = t["backbone_weights"];
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
