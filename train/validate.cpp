#include "train/validate.h"

#include <algorithm>

#include "autograd/engine.h"
#include "ops/ops.h"
#include "runtime/error.h"

namespace cudaseg::train {

Tensor infer_whole(nn::Module& net, const Tensor& images) {
  autograd::NoGradGuard no_grad;
  CUDASEG_CHECK(images.dim() == 4, "infer: images must be [N, 3, H, W], got ", shape_str(images.shape()));
  return net.forward(images);
}

Tensor infer_slide(nn::Module& net, const Tensor& images, std::array<int64_t, 2> crop,
                   std::array<int64_t, 2> stride) {
  autograd::NoGradGuard no_grad;
  CUDASEG_CHECK(images.dim() == 4, "infer_slide: images must be [N, 3, H, W], got ", shape_str(images.shape()));
  CUDASEG_CHECK(crop[0] > 0 && crop[1] > 0 && stride[0] > 0 && stride[1] > 0,
                "infer_slide: crop and stride must be positive, got crop [", crop[0], ", ", crop[1], "] stride [",
                stride[0], ", ", stride[1], "]");
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  const int64_t ch = std::min(crop[0], h), cw = std::min(crop[1], w);
  const int64_t rows = std::max<int64_t>(h - ch + stride[0] - 1, 0) / stride[0] + 1;
  const int64_t cols = std::max<int64_t>(w - cw + stride[1] - 1, 0) / stride[1] + 1;
  Tensor sum;
  std::vector<double> count(static_cast<size_t>(h * w), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t y2 = std::min(r * stride[0] + ch, h), x2 = std::min(c * stride[1] + cw, w);
      const int64_t y1 = std::max<int64_t>(y2 - ch, 0), x1 = std::max<int64_t>(x2 - cw, 0);
      const Tensor window = images.slice(2, y1, y2).slice(3, x1, x2).contiguous();
      const Tensor logits = net.forward(window);
      CUDASEG_CHECK(logits.dim() == 4 && logits.size(2) == y2 - y1 && logits.size(3) == x2 - x1,
                    "infer_slide: the net returned ", shape_str(logits.shape()), " for a window ",
                    shape_str(window.shape()), "; logits must be at input resolution");
      if (!sum.defined()) sum = Tensor::zeros({n, logits.size(1), h, w}, logits.dtype(), logits.device());
      Tensor region = sum.slice(2, y1, y2).slice(3, x1, x2);
      region.copy_(ops::add(region, logits));
      for (int64_t y = y1; y < y2; ++y) {
        for (int64_t x = x1; x < x2; ++x) count[static_cast<size_t>(y * w + x)] += 1.0;
      }
    }
  }
  const Tensor counts = Tensor::from_vector(count, {1, 1, h, w}, sum.dtype()).to(sum.device());
  return ops::div(sum, counts);
}

Tensor infer(nn::Module& net, const Tensor& images, const ValConfig& config) {
  if (config.mode == "whole") return infer_whole(net, images);
  CUDASEG_CHECK(config.mode == "slide", "val.mode: unknown '", config.mode, "' (accepted: whole, slide)");
  CUDASEG_CHECK(config.crop_size.size() == 2 && config.stride.size() == 2,
                "val.mode slide needs crop_size and stride as [h, w]");
  return infer_slide(net, images, {config.crop_size[0], config.crop_size[1]}, {config.stride[0], config.stride[1]});
}

EvalResult evaluate(nn::Module& net, Loader& loader, const ValConfig& config, Device device) {
  const bool was_training = net.is_training();
  net.eval();
  const Dataset& data = loader.dataset();
  EvalResult result{ConfusionMatrix(data.num_classes(), data.ignore_index()), 0};
  try {
    loader.seek(0, 0);
    while (std::optional<Batch> b = loader.next()) {
      result.confusion.update_logits(infer(net, b->images.to(device), config), b->labels);
      result.images += b->images.size(0);
    }
  } catch (...) {
    net.train(was_training);
    throw;
  }
  net.train(was_training);
  return result;
}

}  // namespace cudaseg::train
