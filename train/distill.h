// Distillation in training: the run config's `distill` section, the frozen
// teacher, the student's feature capture and adapters, and the objectives of
// autograd/distill.h (plus Hinton KD, fn::kd_loss) as weighted loss terms.
//
//   "distill": {
//     "teacher": {"config": "nets/x.json" | "model": {...}, "checkpoint": "runs/t/best"},
//     "pairs": [{"student": "decoder.conv", "teacher": "layers.3", "adapter": "auto"}, ...],
//     "objectives": [{"type": "pkl", "weight": 0.5, "params": {"k1": 0.5, "temperature": 2}},
//                    {"type": "nfd", "weight": 5, "pairs": [0]}, ...]
//   }
//
// The teacher is built by the registry, loaded strictly from its checkpoint
// (a checkpoint saved for another model, or with missing or mis-shaped
// tensors, is an error naming it), frozen, and run in eval mode without
// history through an infer::InferenceSession (BatchNorm folded; the memory
// plan serves calls that capture no teacher feature: the runner runs plain
// forwards while a hook is installed). It sees the batch's teacher images
// when augment.multi_resolution gives them, else the student's.
//
// A pair names a feature of each net: a module path as rtseg_infer
// --dump-layer names it (the module's first output, of its last call in the
// forward), "logits" (the student's main training output, the teacher's
// forward output), or for the student an integer index into forward_train()'s
// outputs (FastSegFormer's fork_feat list follows its logits). Every path is
// checked before the first step (an unknown one is an error naming it and
// the closest paths). With "adapter": "auto" a student feature whose channel
// count differs from the teacher's gets a trained 1x1 convolution (with
// bias) to the teacher's channels; "none" requires equal counts. Adapters
// are training state (optimizer, OUT/last, resume) but not part of the
// exported student weights. Token features [N, L, C] (SEKD's embeddings)
// become maps [N, C, h, w], h = w = sqrt(L).
//
// Objectives: kd and pkl compare the logits; nfd, cwd, sekd_context,
// sekd_texture, sekd_reconstruction and sekd_alignment compare the features
// of their `pairs` (indices into distill.pairs; default all). Each becomes a
// loss term named after its type (with its index when a type repeats).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/module.h"
#include "nn/segnet.h"
#include "train/losses.h"
#include "train/optim.h"
#include "weights/tensor_dict.h"

namespace cudaseg::train {

struct DistillPair {
  nlohmann::json student;  // module path, "logits" or forward_train index
  nlohmann::json teacher;  // module path or "logits"
  std::string adapter = "auto";  // auto | none
};

struct DistillObjective {
  std::string type;  // kd | pkl | nfd | cwd | sekd_context | sekd_texture | sekd_reconstruction | sekd_alignment
  double weight = 1.0;
  nlohmann::json params = nlohmann::json::object();
  std::vector<int64_t> pairs;  // feature objectives: indices into DistillConfig::pairs (empty: all)
};

struct DistillConfig {
  nlohmann::json teacher_model;  // resolved registry `model`
  std::string teacher_checkpoint;
  std::vector<DistillPair> pairs;
  std::vector<DistillObjective> objectives;
};

// Whether the config has a (non-empty) distill section.
bool distill_enabled(const nlohmann::json& config);
// Parses and checks config["distill"] (keys, types, objective types and
// params, pair indices); resolves teacher.config / teacher.model. Errors name
// the key ("distill.objectives[1].type").
DistillConfig distill_config(const nlohmann::json& config);
// The section's keys for rtseg_train --help.
std::string distill_help();

class Distiller {
 public:
  // Builds and loads the teacher, resolves every pair on both nets, and
  // probes one forward of each (student in eval, no history) on the given
  // inputs for the feature shapes, which size the adapters (drawn from the
  // layers' generator, nn::init_generator).
  Distiller(const DistillConfig& config, nn::SegNet& student, Device device, const Tensor& student_probe,
            const Tensor& teacher_probe);
  ~Distiller();

  // The adapters' parameters as optimizer entries, named "distill_adapters.<pair>.weight"/".bias".
  std::vector<OptimParam> adapter_params(const OptimizerConfig& config) const;
  // The adapters' tensors (for OUT/last) and their restore.
  weights::TensorDict adapter_state() const;
  void load_adapter_state(const weights::TensorDict& state);

  // Installs the student's feature capture for the guard's lifetime; run the
  // student's forward_train inside it.
  class Capture {
   public:
    explicit Capture(Distiller& d);
    ~Capture();
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;

   private:
    std::unique_ptr<nn::ForwardHookGuard> guard_;
  };

  // Runs the teacher on `teacher_images`, evaluates every objective against
  // the captured student features and `student_outputs`, and appends the
  // weighted terms to `loss` (total included). `step` keys the random masks
  // of sekd_reconstruction (with the run's seed), so a resumed run draws the same.
  void add_terms(LossResult& loss, const std::vector<Tensor>& student_outputs, const Tensor& teacher_images,
                 uint64_t seed, int64_t step);

  const nn::Module& teacher() const;
  // The input shape of the teacher's latest forward (the multi-resolution crop when there is one).
  Shape last_teacher_input() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cudaseg::train
