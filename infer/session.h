// InferenceSession: a checkpoint turned into a ready-to-run segmenter.
//
//   auto s = infer::InferenceSession::load("stdc1.json", {.device = Device::cuda(0)});
//   Tensor labels = s.predict(read_image("street.png"));   // int64 [H, W]
//
// load() reads the manifest, builds its `model` by the net registry, loads
// the tensors strictly against the net's state dict (one error naming the net
// and every missing, unexpected or mis-shaped tensor), switches to eval,
// folds BatchNorm into the preceding convolutions and fuses activations
// (nn/fuse.h), then moves the net to the device and precision. predict()
// applies the checkpoint's preprocessing, fits the image to the net (the
// checkpoint's `fit`, weights/checkpoint.h: resized to its input size, or
// padded bottom and right to the net's size divisor, so that any photo runs),
// runs the net, crops away the padding's logits, resizes the logits
// bilinearly (align_corners false) to the image's size and takes the argmax,
// resizing only the classes that can win the argmax (ops/vim.h: the same
// labels as resizing them all). On CUDA a u8 image goes to the device as u8
// and is fitted, normalised, laid out as NCHW and cast to the session's
// dtype there by one kernel (ops/image.h), with the bits of the host path.
//
// Every forward goes through infer/runner.h: a memory plan per
// input shape, so from the second call of a shape on the net's intermediate
// tensors come from one planned arena and the call allocates only the tensor
// it returns (last_forward() counts it); on CUDA, a CUDA graph per input
// shape, captured on the second call and replayed after. Returned tensors are
// the caller's: no later call overwrites them.
//
// Threads: a session may be shared between threads. Its forwards run one at
// a time (plans and graphs are per session, not per thread: ForwardRunner
// serialises them), while pre- and post-processing of concurrent calls
// overlap. A moved-from session throws on every use.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "nn/fuse.h"
#include "nn/module.h"
#include "weights/checkpoint.h"
#include "infer/runner.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::infer {

enum class Precision { fp32, fp16, bf16 };
// "fp32"/"float32", "fp16"/"float16"/"half", "bf16"/"bfloat16"; else throws.
Precision parse_precision(const std::string& text);
const char* precision_name(Precision precision);
DType precision_dtype(Precision precision);

// How an image's size becomes the net's input size.
enum class SizePolicy {
  checkpoint,  // the checkpoint's preprocess.fit (weights::resolved_fit)
  fixed,       // resized to SessionOptions::input_size
  keep,        // the image's own size
  pad,         // padded bottom and right to size_divisor(), whatever the checkpoint says
};

struct SessionOptions {
  Device device = Device::cpu();
  Precision precision = Precision::fp32;  // fp16 and bf16 need a CUDA device
  SizePolicy size_policy = SizePolicy::checkpoint;
  std::array<int64_t, 2> input_size{0, 0};  // [H, W] for SizePolicy::fixed
  // BatchNorm folding and activation fusion; off gives the plain module
  // forward (layer dumps compare module by module with PyTorch).
  bool fuse = true;
  // One memory plan per input shape: from the second call of a shape on,
  // intermediate tensors come from a planned arena (no allocation). Off gives
  // the plain allocator on every call (and no CUDA graphs).
  bool plan_memory = true;
  // On CUDA: capture the forward of each input shape in a CUDA graph and
  // replay it (infer/runner.h). Ignored on the CPU.
  bool cuda_graphs = true;
  // On CUDA: TF32 tensor-core maths in float32 matrix products and
  // convolutions (runtime/math_mode.h), set on the calling thread for each
  // forward and restored after it. Off, float32 results match the CPU's.
  bool tf32 = false;
  // Checkpoint loading (weights/checkpoint.h CheckpointLoadOptions): off
  // skips the per-tensor checksums (trusted files, faster start).
  bool verify_checksums = true;
  // Loads NaN/Inf weights instead of refusing them: debugging only.
  bool allow_nonfinite = false;
  // CPU threads this session's kernels use (runtime/thread_pool.h
  // ThreadLimit, at most the process pool's size); 0: the whole pool.
  int num_threads = 0;
};

// What predict() returns per image, at the image's size.
enum class PredictOutput {
  labels,         // int64 [H, W] class ids
  logits,         // float32 [C, H, W]: the net's logits resized bilinearly to the image
  probabilities,  // float32 [C, H, W]: their softmax over the classes
};

// What predict() needs besides the net: the checkpoint's metadata.
struct ModelInfo {
  std::string model_json = "{}";  // the registry `model` object
  weights::Preprocess preprocess;
  std::vector<std::string> class_names;
  std::vector<std::array<uint8_t, 3>> palette;
};

class InferenceSession {
 public:
  // Loads NAME.json + NAME.bin (either path or the bare NAME).
  static InferenceSession load(const std::string& weights_path, const SessionOptions& options = {});
  // Prepares a net already built (rtseg_bench from a config, tests). The net
  // is switched to eval and, with options.fuse, folded in place.
  static InferenceSession from_net(nn::ModulePtr net, ModelInfo info, const SessionOptions& options = {});
  // Out of line: they destroy the ForwardRunner, which libcudaseg.so does not export.
  ~InferenceSession();
  InferenceSession(InferenceSession&&) noexcept;
  InferenceSession& operator=(InferenceSession&&) noexcept;

  // image: u8 [H, W, 3] (HWC, RGB as read_image gives it), or float32
  // [1, 3, H, W] already normalised as the checkpoint's preprocessing does
  // (planes in its channel order), which is fitted to the net as an image is.
  // Returns `output` on the CPU (int64 class ids [H, W] by default).
  Tensor predict(const Tensor& image, PredictOutput output = PredictOutput::labels);
  // Images of any sizes; those sharing an input size run as one batch.
  std::vector<Tensor> predict_batch(const std::vector<Tensor>& images,
                                    PredictOutput output = PredictOutput::labels);
  // The debug path: NCHW input (any floating dtype, any device) straight into
  // the net, no pre- or post-processing. Returns float32 logits on the CPU.
  Tensor logits(const Tensor& input);
  // The net on the session's device and dtype; the output stays there
  // (benchmarks, pipelines that post-process on the device).
  Tensor forward(const Tensor& input);
  // The net's input for one image (either form predict takes): float32
  // [1, 3, h, w] on the CPU.
  Tensor preprocess(const Tensor& image) const;
  // What predict() runs the net on: preprocess()'s values in the session's
  // dtype on its device. On CUDA a u8 image is copied as u8 and fitted and
  // normalised on the device; the values are preprocess()'s cast to the
  // dtype, bit for bit.
  Tensor prepare_input(const Tensor& image) const;
  // The input size [h, w] an image of size [H, W] gets.
  std::array<int64_t, 2> input_size_for(int64_t height, int64_t width) const;
  // How images are fitted to the net: "resize", "pad" or "none" (the options'
  // size policy, else the checkpoint's fit).
  const std::string& fit() const { return fit_; }
  // The multiple the net needs H and W to be (nn::size_divisor; 1 for a
  // model the registry does not know).
  int64_t size_divisor() const { return size_divisor_; }

  const nn::Module& net() const;
  nn::ModulePtr net_ptr() const;
  const ModelInfo& info() const { return info_; }
  const SessionOptions& options() const { return options_; }
  const nn::FuseReport& fuse_report() const { return fuse_report_; }
  int64_t num_classes() const { return num_classes_; }
  // What the last forward (also under logits, predict) did with memory and graphs.
  ForwardStats last_forward() const;

 private:
  InferenceSession() = default;
  void prepare();
  // Throws when this session was moved from (its net and runner went with it).
  void check_usable(const char* what) const;
  // A float32 [1, 3, H, W] normalised input fitted to the net (padded or resized).
  Tensor fit_normalised(const Tensor& input) const;
  // A u8 [H, W, 3] image as the net's input in `dtype`, on the image's device.
  Tensor normalise(const Tensor& image, DType dtype) const;

  nn::ModulePtr net_;
  ModelInfo info_;
  SessionOptions options_;
  nn::FuseReport fuse_report_;
  int64_t num_classes_ = 0;
  std::string fit_;
  std::array<int64_t, 2> resize_to_{0, 0};
  int64_t size_divisor_ = 1;
  std::unique_ptr<ForwardRunner> runner_;
};

}  // namespace cudaseg::infer
CUDASEG_API_END
