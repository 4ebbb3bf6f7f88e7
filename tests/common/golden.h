// Golden parity harness for the net tests. A golden (tests/goldens/<stem>.json,
// schema in tests/goldens/README.md) holds, for a registry config and a seed,
// the upstream PyTorch net's state_dict list, eval logits statistics and one
// training step (outputs, loss terms, per-parameter gradient statistics,
// running buffers after the step) at one or more input sizes.
//
//   const auto g = golden::Golden::load("fastscnn");
//   EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
//   for (size_t i = 0; i < g.num_cases(); ++i) {
//     EXPECT_TRUE(golden::check_eval(g, i));
//     EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss()));
//   }
//
// Parameters are det_param(name, shape, dtype, seed) for every state_dict
// entry (Keep-rule integer buffers keep the model's value); the input is
// det_uniform("input", ...) and the labels det_labels("labels", ...), both
// checked against the golden's checksums before use. Each check prints one
// "[ golden   ]" line with the worst errors it saw.
//
// A golden with "compute_dtype": "float64" (tools/goldens/make_golden_f64.py,
// tests/goldens/<stem>.f64.json) was computed in float64 from the same
// float32 parameters and input: build() and input() then give a float64 net
// and input. Nets whose float32 gradients are ill-conditioned (train-mode
// BatchNorm on small maps) check the backward against such a golden with
// check_train_step, and their float32 training forward with check_train_forward.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nets/module.h"
#include "runtime/tensor.h"

namespace cudaseg::testing::golden {

using Json = nlohmann::json;

// Eval and train outputs: relative L2 of the 64 samples, and sum / abs_sum /
// sq_sum relative to abs_sum / abs_sum / sq_sum. Loss terms: relative.
// Gradient norms: relative; a gradient that is exactly zero in exact
// arithmetic shows up in the golden as rounding noise (norm below
// zero_grad_fraction * grad_norm_max: a conv bias feeding a train-mode
// BatchNorm) and must be below grad_abs * grad_norm_max here too. Gradient
// samples: |d| <= grad_sample * (norm / sqrt(numel) + |v|). Buffer sums:
// |d| <= buffer * (|v| + numel).
struct Tolerances {
  double eval = 1e-5;
  double train_output = 1e-5;
  double loss = 1e-5;
  double grad_norm = 1e-4;
  double zero_grad_fraction = 1e-6;
  double grad_abs = 1e-5;
  double grad_sample = 1e-3;
  double buffer = 1e-5;
};

class Golden {
 public:
  // Reads CUDASEG_SOURCE_DIR/tests/goldens/<stem>.json and checks its format and version.
  static Golden load(const std::string& stem);

  const std::string& stem() const { return stem_; }
  const Json& json() const { return json_; }
  const Json& model() const { return json_.at("model"); }
  uint64_t seed() const { return json_.at("seed").get<uint64_t>(); }
  size_t num_cases() const { return json_.at("cases").size(); }
  const Json& case_json(size_t i) const { return json_.at("cases").at(i); }
  std::string case_name(size_t i) const;  // "64x128"
  // float32, or float64 for a golden computed in float64.
  DType compute_dtype() const;

  // The net by registry from the model object (+ overrides), det-filled, in compute_dtype().
  nn::ModulePtr build(const Json& overrides = Json::object()) const;
  Tensor input(size_t i) const;   // [N, 3, H, W] in compute_dtype()
  Tensor labels(size_t i) const;  // int64 [N, H, W]

 private:
  std::string stem_;
  Json json_;
};

// Fills every state_dict entry by det_param (Keep-rule entries untouched).
void fill_det_params(nn::Module& module, uint64_t seed);

// Same state_dict names in the same order, shapes and dtypes as the golden,
// and the same set of parameters.
::testing::AssertionResult state_dict_matches(const nn::Module& module, const Golden& golden);

struct StatsReport {
  double samples_rel_l2 = 0, sq_sum_rel = 0, abs_sum_rel = 0, sum_rel = 0;
  double worst() const;
};
// Shape, checksums and samples of `output` against a golden STATS+SAMPLES object.
::testing::AssertionResult matches_stats(const Tensor& output, const Json& expected, double tol,
                                         StatsReport* report = nullptr);

// Eval mode, no grad: net->forward(input) against the case's eval "out".
::testing::AssertionResult check_eval(const Golden& golden, size_t case_index, const Tolerances& tol = {});

// The loss a training recipe computes: the total to backpropagate and the
// terms compared with the golden's "loss" object.
struct LossTerms {
  Tensor total;
  std::optional<double> main;
  std::vector<double> aux;
};
using LossFn =
    std::function<LossTerms(nn::Module& net, const std::vector<Tensor>& outputs, const Tensor& labels)>;

// nn.CrossEntropyLoss(ignore_index=255): mean over the non-ignored pixels.
Tensor ce_loss(const Tensor& logits, const Tensor& labels);
// ce_loss against the labels nearest-resized to the logits' H x W (zh320's aux loss).
Tensor aux_ce_loss(const Tensor& logits, const Tensor& labels);
// CE on outputs[0]; main_plus_aux_loss adds aux_ce_loss of every further output.
LossFn main_only_loss();
LossFn main_plus_aux_loss();

// A fresh det-filled net in train mode: forward_train (the net must be a
// nets::SegNet), outputs against "out" and "<extra_kind>.i", the loss terms,
// backward of the total, every parameter's gradient against "grads" and
// "grad_samples", and the running buffers against "buffer_sums_after".
// grad_norm_max is the largest golden gradient norm (recorded or computed).
::testing::AssertionResult check_train_step(const Golden& golden, size_t case_index, const LossFn& loss_fn,
                                            const Json& train_overrides = Json::object(),
                                            const Tolerances& tol = {});
// check_train_step without the backward: outputs, loss terms and running buffers.
::testing::AssertionResult check_train_forward(const Golden& golden, size_t case_index, const LossFn& loss_fn,
                                               const Json& train_overrides = Json::object(),
                                               const Tolerances& tol = {});

}  // namespace cudaseg::testing::golden
