// Validation inference and scoring: whole-image inference, or sliding-window
// inference (mmseg's slide mode: windows of crop_size every stride, the last
// row and column shifted to end at the border, overlapping logits averaged),
// and the confusion matrix of a net over a dataset.
#pragma once

#include <array>
#include <cstdint>

#include "nn/module.h"
#include "train/config.h"
#include "train/loader.h"
#include "train/metrics.h"

namespace cudaseg::train {

// Logits [N, C, H, W] for inputs [N, 3, H, W], with no autograd recording.
// The net's mode is left as it is (callers put it in eval mode).
Tensor infer_whole(nn::Module& net, const Tensor& images);
// Windows larger than the image are clipped to it.
Tensor infer_slide(nn::Module& net, const Tensor& images, std::array<int64_t, 2> crop,
                   std::array<int64_t, 2> stride);
Tensor infer(nn::Module& net, const Tensor& images, const ValConfig& config);

struct EvalResult {
  ConfusionMatrix confusion;
  int64_t images = 0;
};

// One pass over the loader (from its first batch) on `device`, scored
// against the loader's dataset classes and ignore index; the net is switched
// to eval mode and back to the mode it was in.
EvalResult evaluate(nn::Module& net, Loader& loader, const ValConfig& config, Device device);

}  // namespace cudaseg::train
