// nn/segnet.h: the interface of every segmentation net: forward() gives the
// main logits [N, num_classes, H, W] (eval); forward_train() gives upstream's
// training outputs, main logits first, then auxiliary outputs in upstream's
// order; net_losses() gives the loss terms the net defines for those outputs
// beyond the pixel loss (STDC's detail loss), so the trainer needs to know no
// net by name.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::nn {

// The coefficients a net's own loss terms take from the run's loss config
// (train/losses.h maps its keys here; nn/ cannot see train/).
struct NetLossOptions {
  double detail_coef = 1.0;    // STDC: detail_coef * (dice_coef * dice + bce_coef * bce)
  double dice_coef = 1.0;
  double bce_coef = 1.0;
  double detail_thresh = 0.1;  // binarisation of STDC's fused Laplacian target
};

// A loss term a net defines: coef * value(outputs, labels), where outputs is
// forward_train()'s list and labels the [N, H, W] class ids. The outputs from
// index first_output on belong to the term and are not auxiliary logits.
struct NetLoss {
  std::string name;
  double coef = 1.0;
  int64_t first_output = 1;
  std::function<Tensor(const std::vector<Tensor>& outputs, const Tensor& labels)> value;
};

class SegNet : public nn::Module {
 public:
  using nn::Module::Module;
  virtual std::vector<Tensor> forward_train(const Tensor& x) { return {forward(x)}; }
  // Upstream modules registered twice (STDC-Seg's backbone also keeps x2..x32,
  // Sequentials over slices of its `features`), whose checkpoints then hold
  // those tensors under both names: {alias prefix, original prefix} pairs.
  // The net registers each module once; weights::fold_state_aliases (rtseg_convert
  // --config) drops the alias entries after checking that they equal their originals.
  virtual std::vector<std::pair<std::string, std::string>> state_dict_aliases() const { return {}; }
  // The terms may refer to this net, which must outlive them.
  virtual std::vector<NetLoss> net_losses(const NetLossOptions& options) const {
    (void)options;
    return {};
  }
};

using SegNetPtr = std::shared_ptr<SegNet>;

}  // namespace cudaseg::nn
CUDASEG_API_END
