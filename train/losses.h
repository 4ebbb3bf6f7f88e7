// The segmentation objective of the zh320 recipe: a pixel loss (cross
// entropy with class weights and ignore_index, or OHEM cross entropy) on the
// main logits, the same loss on each auxiliary output against labels
// downsampled by nearest to the output's size, weighted by aux_coef, plus any
// net-specific extra terms (STDC's detail loss) plugged in by name. The total
// reports every term so the trainer can print them.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "nn/segnet.h"
#include "runtime/tensor.h"

namespace cudaseg::train {

struct LossConfig {
  std::string type = "ohem";  // ce | ohem
  int64_t ignore_index = 255;
  std::vector<double> class_weights;  // ce only (as zh320, OHEM ignores them); empty: all 1
  double ohem_thresh = 0.7;
  int64_t ohem_min_kept = -1;      // < 0: n_valid / 16
  std::vector<double> aux_coef;    // per aux output; empty: all 1
  double detail_coef = 1.0;        // STDC detail loss: detail_coef * (dice_coef * dice + bce_coef * bce)
  double dice_coef = 1.0;
  double bce_coef = 1.0;
  double detail_thresh = 0.1;      // binarisation of the fused Laplacian target
};

struct LossTerm {
  std::string name;
  Tensor value;  // the weighted term, a scalar on the graph
};

struct LossResult {
  Tensor total;
  std::vector<LossTerm> terms;  // "seg", "aux0", "aux1", ..., then extra terms
  // "seg 1.2345 aux0 0.5432 ..." with the terms' values.
  std::string summary() const;
};

// labels i64 [N, H, W] resized to [N, h, w] as
// F.interpolate(labels.float()[:, None], (h, w), mode='nearest').long().
Tensor downsample_labels(const Tensor& labels, int64_t h, int64_t w);

// A net-specific term: computes its (unweighted) value from the net's
// training outputs and the labels; it may read the outputs it knows about.
using ExtraLossFn = std::function<Tensor(const std::vector<Tensor>& outputs, const Tensor& labels)>;

class SegLoss {
 public:
  // Throws on an unknown type or a class_weights length different from num_classes.
  SegLoss(const LossConfig& config, int64_t num_classes);

  // The pixel loss (CE or OHEM) of logits [N, C, h, w] against labels [N, h, w].
  Tensor pixel_loss(const Tensor& logits, const Tensor& labels) const;

  // Adds `coef * fn(outputs, labels)` to every total under `name`; the
  // outputs `fn` consumes (from index `first_output`) are not treated as aux
  // logits.
  void add_extra(const std::string& name, double coef, int64_t first_output, ExtraLossFn fn);

  // outputs = forward_train()'s list: main logits at the label size, then
  // aux logits at any size (then the extras' outputs).
  LossResult operator()(const std::vector<Tensor>& outputs, const Tensor& labels) const;

  const LossConfig& config() const { return config_; }

 private:
  struct Extra {
    std::string name;
    double coef;
    int64_t first_output;
    ExtraLossFn fn;
  };
  LossConfig config_;
  int64_t num_classes_;
  Tensor class_weights_;
  std::vector<Extra> extras_;
};

// Adds the terms `net` defines for its training outputs (nn::SegNet::
// net_losses, e.g. STDC's "detail"), with the coefficients of this loss's
// config. The loss keeps a reference to `net`, which must outlive it.
void add_net_losses(SegLoss& loss, const nn::SegNet& net);

}  // namespace cudaseg::train
