#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "autograd/engine.h"
#include "autograd/unary.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nn/segnet.h"
#include "nn/sync_batch_norm.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "runtime/image_io.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/math_mode.h"
#include "train/ddp.h"
#include "train/validate.h"
#include "weights/backbone_weights.h"

namespace cudaseg::train {
namespace {

namespace fs = std::filesystem;
constexpr const char* kEmaPrefix = "ema/";
constexpr const char* kAdapterPrefix = "adapter/";

std::string hms(double seconds) {
  const auto s = static_cast<long long>(std::max(0.0, seconds));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

Json resolve_for(const Json& config, const TrainData& data) {
  CUDASEG_CHECK(data.train != nullptr, "Trainer: no training loader");
  return resolve_run_length(resolve_config(config), data.train->batches_per_epoch());
}

DType compute_dtype(const std::string& precision) {
  if (precision == "fp16") return DType::f16;
  if (precision == "bf16") return DType::bf16;
  return DType::f32;
}

}  // namespace

Trainer::Trainer(const Json& config, std::string out_dir, TrainData data)
    : config_(resolve_for(config, data)),
      out_dir_(std::move(out_dir)),
      data_(std::move(data)),
      tc_(train_config(config_)),
      device_(Device::parse(tc_.device)),
      compute_dtype_(compute_dtype(tc_.precision)),
      comm_(&dist::world()) {
  set_log([](const std::string& line) { CUDASEG_LOG_INFO(line); });
  const LoaderOptions& lo = data_.train->options();
  CUDASEG_CHECK(lo.world == comm_->world() && lo.rank == comm_->rank(), "Trainer: the train loader serves rank ",
                lo.rank, " of ", lo.world, ", this process is rank ", comm_->rank(), " of ", comm_->world());
  if (lo.world == 1) {
    CUDASEG_CHECK(lo.batch_size == tc_.batch_size, "Trainer: the train loader's batch size ", lo.batch_size,
                  " differs from train.batch_size ", tc_.batch_size);
  } else {
    CUDASEG_CHECK(lo.batch_size * lo.world == tc_.batch_size, "Trainer: the train loader's batch size ",
                  lo.batch_size, " on each of ", lo.world, " ranks differs from train.batch_size ", tc_.batch_size);
  }
  const int64_t classes = config_["model"]["num_classes"].get<int64_t>();
  for (const auto& loader : {data_.train, data_.val}) {
    if (!loader) continue;
    const Dataset& d = loader->dataset();
    CUDASEG_CHECK(d.num_classes() == classes, "Trainer: dataset '", d.name(), "' has ", d.num_classes(),
                  " classes, model.num_classes is ", classes);
  }
  // Initialisation, then dropout, draw from the layers' generator; its state is checkpointed.
  nn::manual_seed(tc_.seed);
  net_ = nn::create_net(config_["model"]);
  if (!tc_.backbone_weights.empty()) {
    const weights::BackboneInit init = weights::load_backbone_weights(*net_, tc_.backbone_weights);
    log_("backbone " + init.module + " (" + init.type + "): " + std::to_string(init.copied) + " tensors from " +
         tc_.backbone_weights + (init.skipped ? ", " + std::to_string(init.skipped) + " ImageNet head tensors skipped" : ""));
  }
  const EmaConfig ec = ema_config(config_);
  if (ec.enabled) eval_net_ = nn::create_net(config_["model"]);
  net_->to(device_);
  if (eval_net_) eval_net_->to(device_);
  net_->train();
  const OptimizerConfig oc = optimizer_config(config_);
  std::vector<OptimParam> params = make_param_groups(*net_, oc);
  if (distill_enabled(config_)) {
    // The probe batch is a pure function of (epoch, batch): building it moves no loader state.
    const Batch probe = data_.train->make_batch(0, 0);
    const Tensor student_in = probe.images.narrow(0, 0, 1);
    const Tensor teacher_in = probe.teacher_images.defined() ? probe.teacher_images.narrow(0, 0, 1) : student_in;
    distill_ = std::make_unique<Distiller>(distill_config(config_), *net_, device_, student_in, teacher_in);
    for (OptimParam& p : distill_->adapter_params(oc)) params.push_back(std::move(p));
  }
  optimizer_ = std::make_unique<Optimizer>(std::move(params), oc);
  schedule_ = std::make_unique<LrSchedule>(oc.lr, schedule_config(config_));
  loss_ = std::make_unique<SegLoss>(loss_config(config_), classes);
  add_net_losses(*loss_, *net_);
  ema_ = std::make_unique<ModelEma>(*net_, ec);
  if (compute_dtype_ == DType::f16) scaler_ = std::make_unique<GradScaler>();
  batches_ = std::make_unique<LoaderBatches>(data_.train);
  if (comm_->world() > 1) {
    reducer_ = std::make_unique<GradReducer>(optimizer_->params(), *comm_, static_cast<size_t>(tc_.ddp_bucket_mb) << 20);
  }
}

Trainer::~Trainer() = default;

void Trainer::set_batch_source(std::unique_ptr<BatchSource> source) {
  CUDASEG_CHECK(source != nullptr, "Trainer::set_batch_source: null source");
  batches_ = std::move(source);
}

void Trainer::set_log(std::function<void(const std::string&)> log) {
  if (writes_files()) {
    log_ = std::move(log);
  } else {
    log_ = [](const std::string&) {};
  }
}

weights::Preprocess Trainer::preprocess() const {
  weights::Preprocess p;
  const Json& a = config_["augment"];
  if (a.contains("mean")) p.mean = a["mean"].get<std::vector<double>>();
  if (a.contains("std")) p.std = a["std"].get<std::vector<double>>();
  if (a.contains("val_resize") && !a["val_resize"].is_null())
    p.input_size = a["val_resize"].get<std::vector<int64_t>>();
  return p;
}

void Trainer::save_last() const {
  if (!writes_files()) return;
  weights::Checkpoint ck;
  ck.model_json = config_["model"].dump();
  ck.preprocess = preprocess();
  ck.class_names = data_.train->dataset().class_names();
  ck.palette = data_.train->dataset().palette();
  for (const auto& [name, t] : net_->state_dict()) ck.tensors.insert(name, t);
  weights::TrainState ts;
  ts.step = step_;
  ts.epoch = batches_->epoch();
  ts.rng_seed = nn::init_generator().seed();
  ts.rng_offset = nn::init_generator().offset();
  ts.loader_json = batches_->state().dump();
  Json saved{{"optimizer", optimizer_->hyper()},
             {"best_miou", result_.best_miou},
             {"best_step", result_.best_step},
             {"last_miou", result_.last_miou}};
  if (scaler_) saved["grad_scaler"] = scaler_->state();
  ts.optimizer_json = saved.dump();
  ts.optimizer = optimizer_->state();
  if (ema_config(config_).enabled) {
    for (const auto& [name, t] : ema_->state()) ts.optimizer.insert(kEmaPrefix + name, t);
  }
  if (distill_) {
    for (const auto& [name, t] : distill_->adapter_state()) ts.optimizer.insert(kAdapterPrefix + name, t);
  }
  ck.train_state = std::move(ts);
  ck.metadata_json = Json{{"config", config_}, {"kind", "last"}}.dump();
  weights::save_checkpoint((fs::path(out_dir_) / "last").string(), ck);
}

void Trainer::save_best(double miou) const {
  if (!writes_files()) return;
  weights::Checkpoint ck;
  ck.model_json = config_["model"].dump();
  ck.preprocess = preprocess();
  ck.class_names = data_.train->dataset().class_names();
  ck.palette = data_.train->dataset().palette();
  for (const auto& [name, t] : ema_->state()) ck.tensors.insert(name, t);
  ck.metadata_json = Json{{"config", config_}, {"kind", "best"}, {"step", step_}, {"miou", miou}}.dump();
  weights::save_checkpoint((fs::path(out_dir_) / "best").string(), ck);
}

void Trainer::resume(const std::string& path) {
  std::string where = path;
  if (fs::is_directory(path)) where = (fs::path(path) / "last").string();
  // Rank 0 alone finishes or removes a save cut short; the others read after it.
  if (writes_files()) weights::clean_checkpoint_files(where);
  comm_->barrier();
  const weights::Checkpoint ck = weights::load_checkpoint(where);
  CUDASEG_CHECK(ck.train_state.has_value(), where, ": not a training checkpoint (no train state); resume needs ",
                "OUT/last from rtseg_train");
  CUDASEG_CHECK(ck.train_state->step <= tc_.iters, where, ": the checkpoint is at step ", ck.train_state->step,
                ", beyond this run's ", tc_.iters, " steps; to train further raise train.iters (--set train.iters=N)");
  try {
    restore(ck, where);
  } catch (const nlohmann::json::exception& e) {
    CUDASEG_FAIL(weights::checkpoint_paths(where).json, ": damaged training state: ", e.what());
  } catch (const Error& e) {
    throw e.with_context(weights::checkpoint_paths(where).json);
  }
}

void Trainer::restore(const weights::Checkpoint& ck, const std::string& where) {
  const Json model = Json::parse(ck.model_json);
  CUDASEG_CHECK(model == config_["model"], "the checkpoint's model ", model.dump(),
                " differs from the config's ", config_["model"].dump());
  std::map<std::string, Tensor> state(ck.tensors.begin(), ck.tensors.end());
  net_->load_state_dict(state, true);
  const weights::TrainState& ts = *ck.train_state;
  const Json saved = Json::parse(ts.optimizer_json);
  weights::TensorDict opt_state;
  weights::TensorDict adapter_state;
  for (const auto& [name, t] : ts.optimizer) {
    if (name.rfind(kAdapterPrefix, 0) == 0) {
      adapter_state.insert(name.substr(std::string(kAdapterPrefix).size()), t);
    } else if (name.rfind(kEmaPrefix, 0) != 0) {
      opt_state.insert(name, t);
    }
  }
  if (distill_) distill_->load_adapter_state(adapter_state);
  optimizer_->load_state(opt_state, saved.at("optimizer"));
  // A run saved in fp32 or bf16 has no scale yet: fp16 then starts from the initial one.
  if (scaler_ && saved.contains("grad_scaler")) scaler_->load_state(saved["grad_scaler"]);
  if (ema_config(config_).enabled) {
    ema_->load(ts.optimizer, kEmaPrefix);
  } else {
    ema_->update(*net_, ts.step, tc_.iters);
  }
  nn::init_generator().set_state(ts.rng_seed, ts.rng_offset);
  batches_->set_state(Json::parse(ts.loader_json));
  step_ = ts.step;
  result_.step = step_;
  result_.best_miou = saved.value("best_miou", -1.0);
  result_.best_step = saved.value("best_step", int64_t{-1});
  result_.last_miou = saved.value("last_miou", -1.0);
  log_("resumed " + where + " at step " + std::to_string(step_));
}

double Trainer::validate() {
  nn::Module& net = eval_net_ ? *eval_net_ : *net_;
  if (eval_net_) ema_->copy_to(*eval_net_);
  broadcast_state(net, *comm_);
  EvalResult r = evaluate(net, *data_.val, val_config(config_), device_);
  if (comm_->world() > 1) {
    std::vector<int64_t>& counts = r.confusion.counts();
    counts.push_back(r.images);
    Tensor summed = Tensor::empty({static_cast<int64_t>(counts.size())}, DType::i64);
    std::copy(counts.begin(), counts.end(), summed.data<int64_t>());
    comm_->all_reduce_sum(summed);
    std::copy(summed.data<int64_t>(), summed.data<int64_t>() + summed.numel(), counts.begin());
    r.images = counts.back();
    counts.pop_back();
  }
  const double miou = r.confusion.miou();
  if (!writes_files()) return miou;
  const std::vector<std::string> names = data_.val->dataset().class_names();
  report_->validation(step_, r.confusion, names);
  write_predictions(net);
  report_->write_plots();
  char line[128];
  std::snprintf(line, sizeof line, "val step %lld: mIoU %.2f%%, pixel acc %.2f%% over %lld images",
                static_cast<long long>(step_), 100.0 * miou, 100.0 * r.confusion.pixel_accuracy(),
                static_cast<long long>(r.images));
  log_(line + std::string("\n") + r.confusion.table(names));
  return miou;
}

void Trainer::write_predictions(nn::Module& net) const {
  constexpr int64_t kShown = 4;
  Loader& loader = *data_.val;
  std::vector<Tensor> images, labels;
  int64_t count = 0;
  for (int64_t b = 0; b < loader.batches_per_epoch() && count < kShown; ++b) {
    const Batch batch = loader.make_batch(0, b);
    const int64_t take = std::min(kShown - count, batch.images.size(0));
    images.push_back(batch.images.narrow(0, 0, take));
    labels.push_back(batch.labels.narrow(0, 0, take));
    count += take;
  }
  // Samples of different sizes cannot share a grid: show those of the first one's size.
  std::vector<Tensor> same_images, same_labels;
  for (size_t i = 0; i < images.size(); ++i) {
    if (images[i].size(2) == images[0].size(2) && images[i].size(3) == images[0].size(3)) {
      same_images.push_back(images[i]);
      same_labels.push_back(labels[i]);
    }
  }
  const Tensor input = ops::cat(same_images, 0), label = ops::cat(same_labels, 0);
  const bool was_training = net.is_training();
  net.eval();
  Tensor predictions;
  {
    autograd::NoGradGuard no_grad;
    predictions = ops::argmax(infer(net, input.to(device_), val_config(config_)).to(Device::cpu()), 1);
  }
  if (was_training) net.train();
  const weights::Preprocess p = preprocess();
  report_->predictions(step_, prediction_grid(input, label, predictions, p.mean, p.std,
                                             data_.val->dataset().palette(), data_.val->dataset().ignore_index()));
}

void Trainer::log_progress(const LossResult& loss, double lr, double seconds, int64_t done_this_run) {
  const double per_step = seconds / static_cast<double>(done_this_run);
  char line[512];
  std::snprintf(line, sizeof line, "step %lld/%lld  loss %.4f (%s)  lr %.3e  %.1f img/s  ETA %s",
                static_cast<long long>(step_), static_cast<long long>(tc_.iters), loss.total.item(),
                loss.summary().c_str(), lr, static_cast<double>(tc_.batch_size) / per_step,
                hms(per_step * static_cast<double>(tc_.iters - step_)).c_str());
  std::string text = line;
  std::optional<double> loss_scale;
  if (scaler_) {
    loss_scale = scaler_->scale_value();
    std::snprintf(line, sizeof line, "  loss scale %g", *loss_scale);
    text += line;
  }
  log_(text);
  if (!writes_files()) return;
  std::vector<std::pair<std::string, double>> terms;
  for (const LossTerm& t : loss.terms) terms.emplace_back(t.name, t.value.item());
  report_->train_step(step_, loss.total.item(), terms, lr, static_cast<double>(tc_.batch_size) / per_step,
                      loss_scale);
}

std::vector<Tensor> Trainer::forward(const Tensor& images) {
  std::optional<nn::SyncBatchNormGuard> sync;
  if (tc_.sync_bn && comm_->world() > 1) sync.emplace([this](Tensor& t) { comm_->all_reduce_sum(t); });
  if (compute_dtype_ == DType::f32) return net_->forward_train(images);
  std::vector<Tensor> outputs;
  {
    nn::MixedPrecisionGuard mixed;
    outputs = net_->forward_train(images.to(compute_dtype_));
  }
  // The losses (softmax, OHEM's sort, BCE, dice) and the loss scale need float32's range.
  for (Tensor& o : outputs) o = fn::to_dtype(o, DType::f32);
  return outputs;
}

bool Trainer::backward_and_update(const Tensor& loss) {
  optimizer_->zero_grad();
  const Tensor root = scaler_ ? scaler_->scale(loss) : loss;
  if (reducer_) {
    reducer_->backward([&] { autograd::backward(root); });
  } else {
    autograd::backward(root);
  }
  if (!scaler_) {
    optimizer_->step();
    return true;
  }
  if (!reducer_) return scaler_->step(*optimizer_);
  return scaler_->step(*optimizer_, [this](bool found_inf) { return comm_->any(found_inf); });
}

TrainResult Trainer::run(int64_t stop_at) {
  const Tf32Guard tf32(tc_.tf32);
  const int64_t end = stop_at > 0 ? std::min(stop_at, tc_.iters) : tc_.iters;
  const auto start = std::chrono::steady_clock::now();
  const int64_t first = step_;
  if (writes_files()) {
    fs::create_directories(out_dir_);
    save_config((fs::path(out_dir_) / "config.json").string(), config_);
    report_ = std::make_unique<RunReport>(out_dir_, step_, config_);
  }
  // The ranks start from rank 0's weights, as DDP's constructor makes them.
  broadcast_state(*net_, *comm_);
  net_->train();
  const std::string last_path = (fs::path(out_dir_) / "last").string();
  // The step `last` holds (a resumed run starts from it); nothing is on disk
  // for a fresh run until its first save.
  int64_t saved = fs::exists(last_path + ".json") ? step_ : -1;
  // Steps trained since `saved` are kept when the run fails, except when the
  // failure may have left the state inconsistent (an update half applied) or
  // bad (a diverged loss).
  bool keepable = true;
  try {
    train_loop(end, first, start, saved, keepable);
  } catch (const std::exception& e) {
    const std::string where =
        saved >= 0 ? "the last good checkpoint " + last_path + " is intact" : std::string("no checkpoint was written yet");
    if (!keepable || step_ <= std::max<int64_t>(saved, 0)) CUDASEG_FAIL(e.what(), "; ", where);
    try {
      save_last();
    } catch (const std::exception& save_error) {
      CUDASEG_FAIL(e.what(), "; saving the ", step_, " steps trained failed too (", save_error.what(), "); ", where);
    }
    CUDASEG_FAIL(e.what(), "; the ", step_, " steps trained are saved in ", last_path,
                 ": continue with --resume ", out_dir_);
  }
  optimizer_->zero_grad();
  if (report_) report_->write_plots();
  result_.step = step_;
  return result_;
}

void Trainer::train_loop(int64_t end, int64_t first, std::chrono::steady_clock::time_point start, int64_t& saved,
                         bool& keepable) {
  while (step_ < end) {
    const double lr = schedule_->lr(step_);
    optimizer_->set_lr(lr);
    if (auto m = schedule_->momentum(step_)) optimizer_->set_momentum(*m);
    Batch batch;
    try {
      batch = batches_->next();
    } catch (const Error& e) {
      // A bad sample (unreadable file, wrong size, unknown label) ends the run.
      CUDASEG_FAIL(e.what(), " (at step ", step_ + 1, ")");
    }
    const Tensor images = batch.images.to(device_), labels = batch.labels.to(device_);
    std::vector<Tensor> outputs;
    try {
      std::optional<Distiller::Capture> capture;
      if (distill_) capture.emplace(*distill_);
      outputs = forward(images);
    } catch (const Error& e) {
      // The net's own message names a layer; the batch's size is what the user controls.
      throw e.with_context("step " + std::to_string(step_ + 1) + ", training batch " + shape_str(images.shape()));
    }
    LossResult loss = (*loss_)(outputs, labels);
    if (distill_) {
      const Tensor teacher_images = batch.teacher_images.defined() ? batch.teacher_images.to(device_) : images;
      distill_->add_terms(loss, outputs, teacher_images, tc_.seed, step_);
    }
    const double value = loss.total.item();
    if (comm_->any(!std::isfinite(value))) {
      keepable = false;
      if (std::isfinite(value)) CUDASEG_FAIL("training diverged on another rank at step ", step_ + 1);
      CUDASEG_FAIL("training diverged: loss is ", value, " at step ", step_ + 1, " (", loss.summary(), ", lr ", lr,
                   "); lower optimizer.lr or set optimizer.grad_clip_norm");
    }
    const double scale = scaler_ ? scaler_->scale_value() : 1.0;
    keepable = false;
    const bool updated = backward_and_update(loss.total);
    keepable = true;
    if (!updated) {
      char line[160];
      std::snprintf(line, sizeof line, "step %lld: fp16 gradients overflowed at loss scale %g; update skipped, "
                    "scale now %g", static_cast<long long>(step_ + 1), scale, scaler_->scale_value());
      log_(line);
    }
    ++step_;
    ema_->update(*net_, step_, tc_.iters);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const bool last = step_ == tc_.iters;
    if (tc_.log_interval > 0 && (step_ % tc_.log_interval == 0 || last)) {
      log_progress(loss, lr, seconds, step_ - first);
    }
    std::optional<double> validated;
    if (data_.val && (last || (tc_.val_interval > 0 && step_ % tc_.val_interval == 0))) {
      result_.last_miou = validate();
      validated = result_.last_miou;
      if (result_.last_miou > result_.best_miou) {
        result_.best_miou = result_.last_miou;
        result_.best_step = step_;
        save_best(result_.last_miou);
      }
    }
    if (progress_) {
      StepProgress p{step_, tc_.iters, value, {}, lr, seconds, validated};
      for (const LossTerm& t : loss.terms) p.terms.emplace_back(t.name, t.value.item());
      progress_(p);
    }
    // Every rank stops after the same step, whichever received the signal.
    const bool stop = comm_->any(stop_flag_ != nullptr && stop_flag_->load());
    if (last || stop || step_ == end || (tc_.ckpt_interval > 0 && step_ % tc_.ckpt_interval == 0)) {
      save_last();
      saved = step_;
    }
    if (stop) {
      log_("stopped at step " + std::to_string(step_) + "; continue with --resume " + out_dir_);
      break;
    }
  }
}

}  // namespace cudaseg::train
