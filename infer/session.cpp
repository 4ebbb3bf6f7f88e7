#include "infer/session.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "autograd/engine.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "ops/image.h"
#include "ops/reduce.h"
#include "ops/resize.h"
#include "ops/vim.h"
#include "ops/shape.h"
#include "ops/unary.h"
#include "ops/softmax.h"
#include "runtime/cpu_cache.h"
#include "runtime/gpu.h"
#include "runtime/log.h"
#include "runtime/math_mode.h"
#include "runtime/thread_pool.h"

namespace cudaseg::infer {
namespace {

using Json = nlohmann::json;

std::vector<weights::TensorSpec> state_specs(const nn::Module& net) {
  std::vector<weights::TensorSpec> specs;
  for (const auto& [name, t] : net.state_dict()) specs.push_back({name, t.shape(), t.dtype()});
  return specs;
}

std::string model_desc(const Json& model) {
  return "net '" + model.value("name", std::string("?")) + "' " + model.dump();
}

// The two forms predict() takes: u8 [H, W, 3] RGB, or float32 [1, 3, H, W] normalised.
bool is_normalised_input(const Tensor& image) { return image.dim() == 4 && image.dtype() == DType::f32; }

std::array<int64_t, 2> image_size(const Tensor& image) {
  return is_normalised_input(image) ? std::array<int64_t, 2>{image.size(2), image.size(3)}
                                    : std::array<int64_t, 2>{image.size(0), image.size(1)};
}

}  // namespace

Precision parse_precision(const std::string& text) {
  if (text == "fp32" || text == "float32") return Precision::fp32;
  if (text == "fp16" || text == "float16" || text == "half") return Precision::fp16;
  if (text == "bf16" || text == "bfloat16") return Precision::bf16;
  CUDASEG_FAIL("unknown precision '", text, "' (accepted: fp32, fp16, bf16)");
}

const char* precision_name(Precision p) {
  return p == Precision::fp32 ? "fp32" : p == Precision::fp16 ? "fp16" : "bf16";
}

DType precision_dtype(Precision p) {
  return p == Precision::fp32 ? DType::f32 : p == Precision::fp16 ? DType::f16 : DType::bf16;
}

InferenceSession::~InferenceSession() = default;
InferenceSession::InferenceSession(InferenceSession&&) noexcept = default;
InferenceSession& InferenceSession::operator=(InferenceSession&&) noexcept = default;

InferenceSession InferenceSession::load(const std::string& weights_path, const SessionOptions& options) {
  weights::CheckpointLoadOptions load;
  load.verify_checksums = options.verify_checksums;
  load.allow_nonfinite = options.allow_nonfinite;
  weights::Checkpoint ck = weights::load_checkpoint(weights_path, load);
  Json model;
  try {
    model = Json::parse(ck.model_json);
  } catch (const Json::exception& e) {
    CUDASEG_FAIL(weights_path, ": the manifest's model object is not JSON: ", e.what());
  }
  nn::ModulePtr net;
  try {
    // Every parameter is overwritten by the strict load below: skip the draws.
    nn::SkipInitGuard skip_init;
    net = nn::create_net(model);
  } catch (const Error& e) {
    throw e.with_context(weights_path);
  }
  // The net just built gives the expected list (weights/net_tensors.h would
  // build it a second time). A half-precision checkpoint (rtseg_convert
  // --fp16) fits a float32 net: its tensors convert on loading.
  std::map<std::string, Tensor> state;
  try {
    weights::check_tensors(ck.tensors, state_specs(*net), weights_path, true);
    for (const auto& [name, t] : ck.tensors) state.emplace(name, t);
    net->load_state_dict(state);
  } catch (const Error& e) {
    throw e.with_context("checkpoint does not fit " + model_desc(model));
  }
  ModelInfo info{ck.model_json, ck.preprocess, ck.class_names, ck.palette};
  return from_net(std::move(net), std::move(info), options);
}

InferenceSession InferenceSession::from_net(nn::ModulePtr net, ModelInfo info, const SessionOptions& options) {
  CUDASEG_CHECK(net != nullptr, "InferenceSession: null net");
  InferenceSession s;
  s.net_ = std::move(net);
  s.info_ = std::move(info);
  s.options_ = options;
  const Json model = Json::parse(s.info_.model_json);
  s.num_classes_ = model.value("num_classes", int64_t{0});
  CUDASEG_CHECK(s.num_classes_ > 0, "InferenceSession: the model object ", model.dump(),
                " needs a positive num_classes");
  const weights::Preprocess& p = s.info_.preprocess;
  CUDASEG_CHECK(p.mean.size() == 3 && p.std.size() == 3, "InferenceSession: preprocess mean and std need 3 values");
  for (double v : p.std) CUDASEG_CHECK(v != 0.0, "InferenceSession: preprocess std must not be 0");
  CUDASEG_CHECK(p.channel_order == "RGB" || p.channel_order == "BGR",
                "InferenceSession: channel_order must be RGB or BGR, got '", p.channel_order, "'");
  CUDASEG_CHECK(p.input_size.empty() || (p.input_size.size() == 2 && p.input_size[0] > 0 && p.input_size[1] > 0),
                "InferenceSession: preprocess input_size must be [] or [H, W]");
  CUDASEG_CHECK(options.num_threads >= 0 && options.num_threads <= kMaxThreads, "InferenceSession: num_threads ",
                options.num_threads, " must be 0 (the process's pool) to ", kMaxThreads);
  switch (options.size_policy) {
    case SizePolicy::checkpoint:
      try {
        s.fit_ = weights::resolved_fit(p);
      } catch (const Error& e) {
        throw e.with_context("InferenceSession");
      }
      if (s.fit_ == "resize") s.resize_to_ = {p.input_size[0], p.input_size[1]};
      break;
    case SizePolicy::fixed:
      CUDASEG_CHECK(options.input_size[0] > 0 && options.input_size[1] > 0,
                    "InferenceSession: a fixed size policy needs a positive input_size");
      s.fit_ = "resize";
      s.resize_to_ = options.input_size;
      break;
    case SizePolicy::keep: s.fit_ = "none"; break;
    case SizePolicy::pad: s.fit_ = "pad"; break;
  }
  const std::vector<std::string> nets = nn::registered_nets();
  if (model.contains("name") && model["name"].is_string() &&
      std::count(nets.begin(), nets.end(), model["name"].get<std::string>()))
    s.size_divisor_ = nn::size_divisor(model);
  s.prepare();
  return s;
}

void InferenceSession::prepare() {
  const Device device = options_.device;
  CUDASEG_CHECK(options_.precision == Precision::fp32 || device.is_cuda(), "precision ",
                precision_name(options_.precision), " needs a CUDA device (got ", device.str(), ")");
  if (device.is_cuda()) gpu::check_device(device.index);
  net_->eval();
  if (options_.fuse) fuse_report_ = nn::fuse_for_inference(*net_);
  net_->to(device);
  if (options_.precision != Precision::fp32) net_->to(precision_dtype(options_.precision));
  runner_ = std::make_unique<ForwardRunner>(device, precision_dtype(options_.precision), options_.plan_memory,
                                            options_.cuda_graphs);
  // Building, loading and folding left temporaries (float64 copies, the
  // parameters' first values under random init) in the block cache and the
  // heap: an idle session holds its weights and little else.
  release_free_host_memory();
  CUDASEG_LOG_DEBUG("session ready: ", info_.model_json, " on ", device.str(), " (", precision_name(options_.precision),
                    ", fit ", fit_, ", size divisor ", size_divisor_, ")");
}

void InferenceSession::check_usable(const char* what) const {
  CUDASEG_CHECK(net_ != nullptr && runner_ != nullptr, "InferenceSession::", what,
                ": this session was moved from; use the session it was moved into");
}

const nn::Module& InferenceSession::net() const {
  check_usable("net");
  return *net_;
}

nn::ModulePtr InferenceSession::net_ptr() const {
  check_usable("net_ptr");
  return net_;
}

ForwardStats InferenceSession::last_forward() const {
  check_usable("last_forward");
  return runner_->last();
}

std::array<int64_t, 2> InferenceSession::input_size_for(int64_t height, int64_t width) const {
  if (fit_ == "resize") return resize_to_;
  if (fit_ == "none") return {height, width};
  const int64_t d = size_divisor_;
  return {(height + d - 1) / d * d, (width + d - 1) / d * d};
}

Tensor InferenceSession::normalise(const Tensor& image, DType dtype) const {
  CUDASEG_CHECK(image.dim() == 3 && image.size(2) == 3 && image.dtype() == DType::u8, "predict: the image must be u8 ",
                "[H, W, 3] (HWC, RGB) or float32 [1, 3, H, W] (normalised), got ", image.str());
  CUDASEG_CHECK(image.size(0) > 0 && image.size(1) > 0, "predict: empty image ", image.str());
  const weights::Preprocess& p = info_.preprocess;
  ops::ImageInputSpec spec;
  spec.size = input_size_for(image.size(0), image.size(1));
  // Padding writes the image into the top-left of a zero input: 0 is the
  // normalised mean colour, the input the net saw most of in training, and
  // unlike replicated edges it invents no structure next to the photo's border.
  spec.pad = fit_ == "pad";
  for (size_t c = 0; c < 3; ++c) {
    spec.mean[c] = p.mean[c];
    spec.std[c] = p.std[c];
  }
  spec.scale = p.scale;
  spec.bgr = p.channel_order == "BGR";
  spec.dtype = dtype;
  return ops::image_to_input(image, spec);
}

Tensor InferenceSession::preprocess(const Tensor& image) const {
  if (is_normalised_input(image)) return fit_normalised(image);
  return normalise(image.to(Device::cpu()), DType::f32);
}

Tensor InferenceSession::prepare_input(const Tensor& image) const {
  check_usable("prepare_input");
  const Device device = options_.device;
  const DType dtype = precision_dtype(options_.precision);
  if (is_normalised_input(image) || !device.is_cuda()) return preprocess(image).to(device, dtype);
  return normalise(image.to(device), dtype);
}

Tensor InferenceSession::fit_normalised(const Tensor& input) const {
  CUDASEG_CHECK(input.size(0) == 1 && input.size(1) == 3 && input.size(2) > 0 && input.size(3) > 0,
                "predict: a normalised input must be float32 [1, 3, H, W], got ", input.str());
  const Tensor x = input.to(Device::cpu()).contiguous();
  const int64_t h = x.size(2), w = x.size(3);
  const auto size = input_size_for(h, w);
  if (size[0] == h && size[1] == w) return x;
  if (fit_ != "pad") return ops::upsample_bilinear2d(x, size, false);
  Tensor padded = Tensor::zeros({1, 3, size[0], size[1]});
  Tensor region = padded.narrow(2, 0, h).narrow(3, 0, w);
  region.copy_(x);
  return padded;
}

Tensor InferenceSession::forward(const Tensor& input) {
  check_usable("forward");
  autograd::NoGradGuard no_grad;
  const ThreadLimit threads(options_.num_threads);
  const Tf32Guard tf32(options_.tf32);
  Tensor y;
  try {
    y = runner_->run(*net_, input);
  } catch (const Error& e) {
    throw e.with_context(model_desc(Json::parse(info_.model_json)) + " on input " + shape_str(input.shape()));
  }
  CUDASEG_CHECK(y.dim() == 4 && y.size(0) == input.size(0) && y.size(1) == num_classes_,
                "the net returned ", y.str(), " for input ", input.str(), "; expected logits [", input.size(0),
                ", ", num_classes_, ", H, W]");
  return y;
}

Tensor InferenceSession::logits(const Tensor& input) {
  CUDASEG_CHECK(input.dim() == 4 && is_floating(input.dtype()), "logits: the input must be a floating NCHW tensor, got ",
                input.str());
  return forward(input).to(Device::cpu(), DType::f32).contiguous();
}

Tensor InferenceSession::predict(const Tensor& image, PredictOutput output) {
  return predict_batch({image}, output)[0];
}

std::vector<Tensor> InferenceSession::predict_batch(const std::vector<Tensor>& images, PredictOutput output) {
  check_usable("predict");
  const ThreadLimit threads(options_.num_threads);
  std::vector<Tensor> results(images.size());
  std::map<std::array<int64_t, 2>, std::vector<size_t>> groups;
  std::vector<Tensor> inputs(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    inputs[i] = prepare_input(images[i]);
    groups[{inputs[i].size(2), inputs[i].size(3)}].push_back(i);
  }
  for (const auto& [size, members] : groups) {
    std::vector<Tensor> batch;
    for (size_t i : members) batch.push_back(inputs[i]);
    const Tensor y = forward(batch.size() == 1 ? batch[0] : ops::cat(batch, 0));
    for (size_t k = 0; k < members.size(); ++k) {
      Tensor one = ops::to_dtype(y.narrow(0, static_cast<int64_t>(k), 1), DType::f32);
      const std::array<int64_t, 2> out_size = image_size(images[members[k]]);
      if (fit_ == "pad") {
        // The logits of the photo's region: all of them for logits at the
        // input's size, the covering fraction for coarser ones.
        const int64_t ch = (one.size(2) * out_size[0] + size[0] - 1) / size[0];
        const int64_t cw = (one.size(3) * out_size[1] + size[1] - 1) / size[1];
        if (ch != one.size(2) || cw != one.size(3)) one = one.narrow(2, 0, ch).narrow(3, 0, cw).contiguous();
      }
      const bool resize = one.size(2) != out_size[0] || one.size(3) != out_size[1];
      if (output != PredictOutput::labels) {
        Tensor scores = resize ? ops::upsample_bilinear2d(one, out_size, false) : one;
        if (output == PredictOutput::probabilities) scores = ops::softmax(scores, 1);
        results[members[k]] = scores.to(Device::cpu()).contiguous().reshape({num_classes_, out_size[0], out_size[1]});
        continue;
      }
      // The labels of the full bilinear resize + argmax, resizing only the classes that can win (ops/vim.h).
      const Tensor ids = resize ? ops::upsample_bilinear2d_argmax(one, out_size, false) : ops::argmax(one, 1);
      results[members[k]] = ids.to(Device::cpu()).reshape({out_size[0], out_size[1]});
    }
  }
  return results;
}

}  // namespace cudaseg::infer
