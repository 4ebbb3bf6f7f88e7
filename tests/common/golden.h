// The golden-parity harness shared by the net tests (tests/goldens/README.md
// describes the files and how tools/goldens/make_golden.py writes them).
//
// A golden test, for a net whose golden is tests/goldens/<stem>.json:
//
//   const auto g = golden::Golden::load("stdc1_aux");
//   EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));       // names, shapes, dtypes, order
//   for (size_t i = 0; i < g.num_cases(); ++i) {
//     EXPECT_TRUE(golden::check_eval(g, i));                        // eval logits at each size
//     EXPECT_TRUE(golden::check_train_step(g, i, golden::main_plus_aux_loss()));
//   }
//
// * Golden::build() creates the net by registry from the golden's `model`
//   object (plus optional overrides), without drawing initial values
//   (nn::SkipInitGuard), and fills every state_dict entry with
//   nn::det_param(name, shape, dtype, seed); Keep-rule integer buffers keep
//   the model's own value.
// * Golden::input(i) / labels(i) rebuild case i's input (det_uniform) and
//   labels (det_labels) and check them against the recorded checksums.
// * check_eval: eval mode, no grad, net->forward(input) against the case's
//   eval "out" statistics (see matches_stats).
// * check_train_step: a freshly built net in train mode, forward_train (the
//   net must derive from nn::SegNet), the outputs against the case's train
//   outputs ("out", then "<extra_kind>.i" for outputs 1, 2, ...), the loss
//   terms the LossFn returns against the recorded ones, then backward of the
//   total and every parameter's gradient against "grads" (norm; a golden null
//   or zero-norm gradient accepts an undefined or all-zero one; see
//   Tolerances::grad_zero_floor for gradients that are zero up to rounding) and
//   "grad_samples", and the buffers against "buffer_sums_after".
//   Stochastic layers must be off as in the golden (dropout p = 0, drop path
//   0): pass the net's arguments for that as `train_overrides`
//   ({"dropout_ratio": 0.0, "drop_path_rate": 0.0} for SegFormer); they must
//   not change the state_dict.
// * LossFn: maps the net, forward_train's outputs and the labels to the loss terms;
//   ce_loss / aux_ce_loss / detail_loss are the README's pieces, and
//   main_only_loss / main_plus_aux_loss / main_plus_detail_loss the whole
//   recipes of zh320's SegTrainer with plain CE (ignore 255).
//
// Every comparison prints one "[ golden   ]" line with the worst relative
// errors seen, so a run documents how close each net is.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/module.h"
#include "runtime/tensor.h"

namespace cudaseg::testing::golden {

using Json = nlohmann::json;

// Tolerances. Defaults: eval and train outputs relative 1e-5 (sample vector
// relative L2, each checksum relative to abs_sum / sq_sum, min and max
// relative to the larger magnitude), loss terms relative 1e-5,
// gradient norms relative 1e-4, gradient samples
// |d| <= grad_sample * (norm / sqrt(numel) + |v|), buffer sums
// |d| <= buffer * (|v| + abs_sum of the buffer).
// grad_zero_floor: a golden gradient norm below grad_zero_floor times the
// largest golden gradient norm of the step is float32 rounding noise of a
// gradient that is zero in exact arithmetic (the bias of a layer feeding a
// train-mode BatchNorm, whose batch mean removes it): such a gradient is not
// compared relatively (noise against noise); ours must be under the floor too.
struct Tolerances {
  double eval = 1e-5;
  double train_output = 1e-5;
  double loss = 1e-5;
  double grad_norm = 1e-4;
  double grad_sample = 1e-3;
  double buffer = 1e-5;
  double grad_zero_floor = 1e-6;
};

// For the float64 twins (*_f64.json): float64 runs agree with upstream's to
// about 1e-12, so these bounds, far below the float32 ones, catch any
// structural difference; no gradient of the nets checked so is zero in exact
// arithmetic.
Tolerances float64_tolerances();

// A module's state_dict as a name -> tensor map, as Module::load_state_dict
// takes it (the wrong-net load tests feed one net's state to another).
std::map<std::string, Tensor> state_map(const nn::Module& module);

class Golden {
 public:
  // Reads CUDASEG_SOURCE_DIR/tests/goldens/<stem>.json and checks its format.
  static Golden load(const std::string& stem);

  const std::string& stem() const { return stem_; }
  const Json& json() const { return json_; }
  const Json& model() const { return json_.at("model"); }
  uint64_t seed() const { return json_.at("seed").get<uint64_t>(); }
  size_t num_cases() const { return json_.at("cases").size(); }
  // The golden's computation dtype: "dtype" of the file, float32 when absent;
  // float64 goldens (tools/goldens/make_golden_f64.py) run the net in double.
  DType dtype() const;
  const Json& case_json(size_t i) const { return json_.at("cases").at(i); }
  // "64x128" for case i.
  std::string case_name(size_t i) const;

  // The net by registry (model + overrides), every state_dict entry det-filled
  // (in float32), then converted to dtype().
  nn::ModulePtr build(const Json& overrides = Json::object()) const;
  Tensor input(size_t i) const;   // [N, 3, H, W], det_uniform in float32, then dtype()
  Tensor labels(size_t i) const;  // int64 [N, H, W]

 private:
  std::string stem_;
  Json json_;
};

// Fills every state_dict entry by det_param (Keep-rule entries untouched).
void fill_det_params(nn::Module& module, uint64_t seed);

// The module's state_dict equals the golden's list: same names in the same
// order, shapes and dtypes, and the same parameters (the rest are buffers).
::testing::AssertionResult state_dict_matches(const nn::Module& module, const Golden& golden);

// Worst relative errors of one output against STATS+SAMPLES.
struct StatsReport {
  double samples_rel_l2 = 0;  // ||ours - golden|| / ||golden|| over the samples
  double sq_sum_rel = 0;      // |d sq_sum| / sq_sum
  double abs_sum_rel = 0;     // |d abs_sum| / abs_sum
  double sum_rel = 0;         // |d sum| / abs_sum
  double extremes_rel = 0;    // max(|d min|, |d max|) / max(|min|, |max|)
  double worst() const;
};
// Shape, checksums and (when recorded) samples within `tol`.
::testing::AssertionResult matches_stats(const Tensor& output, const Json& expected, double tol,
                                         StatsReport* report = nullptr);

::testing::AssertionResult check_eval(const Golden& golden, size_t case_index, const Tolerances& tol = {});

// What a LossFn returns: the total to backpropagate and the terms to compare
// with the golden's "loss" object: "total", and every one of "main", "aux"
// (aux[i] with its entry i), "detail", "detail_dice", "detail_bce",
// "detail_target_ones" the golden records must be filled ("mmseg_mean_all_pixels"
// is informational and not compared).
struct LossTerms {
  Tensor total;
  std::optional<double> main, detail, detail_dice, detail_bce;
  std::vector<double> aux;
  std::optional<int64_t> detail_target_ones;
};
using LossFn =
    std::function<LossTerms(nn::Module& net, const std::vector<Tensor>& outputs, const Tensor& labels)>;

// nn.CrossEntropyLoss(ignore_index=255), mean over the non-ignored pixels.
Tensor ce_loss(const Tensor& logits, const Tensor& labels);
// CE against the labels nearest-resized to the logits' H x W (zh320's aux loss).
Tensor aux_ce_loss(const Tensor& logits, const Tensor& labels);
// zh320's STDC detail loss: target = detail_conv(LaplacianConv(labels)) with
// the net's detail_conv weight [1, 3, 1, 1], thresholded at `thrs` (> -> 1,
// <= -> 0); the detail logits bilinearly resized (align_corners true) to the
// label size; dice (raw logits, smooth 1) + BCE-with-logits. No gradient
// reaches detail_conv (upstream's in-place thresholding gives it zeros).
struct DetailTerms {
  Tensor total, dice, bce;
  int64_t target_ones = 0;
};
DetailTerms detail_loss(const Tensor& detail_logits, const Tensor& labels, const Tensor& detail_conv_weight,
                        double thrs = 0.1);

// The recipes: CE on outputs[0]; + aux_ce_loss of every further output; or
// + detail_loss of outputs[1] with the net's tensor `detail_conv_weight`.
LossFn main_only_loss();
LossFn main_plus_aux_loss();
LossFn main_plus_detail_loss(const std::string& detail_conv_weight = "detail_conv.weight");

::testing::AssertionResult check_train_step(const Golden& golden, size_t case_index, const LossFn& loss_fn,
                                            const Json& train_overrides = Json::object(),
                                            const Tolerances& tol = {});

}  // namespace cudaseg::testing::golden
