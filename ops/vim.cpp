#include "ops/vim.h"

#include <algorithm>

#include "ops/binary.h"
#include "ops/compare.h"
#include "ops/reduce.h"
#include "ops/resize.h"
#include "ops/shape.h"
#include "ops/unary.h"
#include "runtime/error.h"

namespace cudaseg::ops {
namespace {

// Unit roundoff of the resize's arithmetic in each floating dtype.
double rounding(DType dtype) {
  switch (dtype) {
    case DType::f64:
      return 0x1p-53;
    case DType::f16:
      return 0x1p-11;
    case DType::bf16:
      return 0x1p-8;
    default:
      return 0x1p-24;
  }
}

void check_logits(const Tensor& logits, const char* op) {
  CUDASEG_CHECK(logits.dim() == 4 && is_floating(logits.dtype()) && logits.numel() > 0, op,
                ": logits must be a non-empty floating [N, C, H, W] tensor, got ", logits.str());
}

}  // namespace

Tensor vim_candidates(const Tensor& logits) {
  check_logits(logits, "vim_candidates");
  const int64_t h = logits.size(2), w = logits.size(3);
  // the four corner maps of every cell (a single row or column stands for itself)
  const Tensor top = logits.slice(2, 0, std::max<int64_t>(h - 1, 1));
  const Tensor bottom = logits.slice(2, std::min<int64_t>(1, h - 1), h);
  const int64_t w0 = std::max<int64_t>(w - 1, 1), w1 = std::min<int64_t>(1, w - 1);
  const std::vector<Tensor> corner = {top.slice(3, 0, w0), top.slice(3, w1, w), bottom.slice(3, 0, w0),
                                      bottom.slice(3, w1, w)};
  const Tensor corners = stack(corner, 0);  // [4, N, C, h', w']
  const Tensor hi = amax(corners, {0}), lo = amin(corners, {0});
  const double unit = 16.0 * rounding(logits.dtype());
  const Tensor slack = mul(amax(stack({abs(hi), abs(lo)}, 0), {0}), unit);  // per class and cell
  // Lower bounds of max_k z_k over the cell: each class's smallest corner, and
  // the smallest corner of the mean of the classes that win a corner.
  const Tensor by_class = amax(sub(lo, slack), {1}, true);
  std::vector<Tensor> won;
  for (const Tensor& z : corner) won.push_back(to_dtype(eq(z, amax(z, {1}, true)), logits.dtype()));
  const Tensor winners = amax(stack(won, 0), {0});  // [N, C, h', w'], 1 for a corner's winner
  const Tensor count = sum(winners, {1}, true);
  std::vector<Tensor> means;
  for (const Tensor& z : corner) means.push_back(div(sum(mul(winners, z), {1}, true), count));
  const Tensor by_winners = sub(amin(stack(means, 0), {0}), mul(amax(slack, {1}, true), 4.0));
  const Tensor threshold = amax(stack({by_class, by_winners}, 0), {0});  // [N, 1, h', w']
  const Tensor wins = ge(add(hi, slack), threshold);                     // [N, C, h', w']
  return gt(amax(to_dtype(wins, DType::f32), {2, 3}), 0.0);
}

Tensor upsample_bilinear2d_argmax(const Tensor& logits, std::array<int64_t, 2> size, bool align_corners,
                                  std::vector<int64_t>* candidates) {
  check_logits(logits, "upsample_bilinear2d_argmax");
  const int64_t n = logits.size(0), c = logits.size(1);
  const Tensor mask = to_dtype(vim_candidates(logits), DType::u8).to(Device::cpu()).contiguous();
  if (candidates) candidates->clear();
  std::vector<Tensor> labels;
  for (int64_t i = 0; i < n; ++i) {
    const Tensor one = logits.narrow(0, i, 1);
    std::vector<double> ids;
    for (int64_t k = 0; k < c; ++k)
      if (mask.data<uint8_t>()[i * c + k]) ids.push_back(static_cast<double>(k));
    if (candidates) candidates->push_back(static_cast<int64_t>(ids.size()));
    if (static_cast<int64_t>(ids.size()) == c) {
      labels.push_back(argmax(upsample_bilinear2d(one, size, align_corners), 1));
      continue;
    }
    const Tensor index = Tensor::from_vector(ids, {static_cast<int64_t>(ids.size())}, DType::i64).to(logits.device());
    const Tensor local = argmax(upsample_bilinear2d(index_select(one, 1, index), size, align_corners), 1);
    labels.push_back(index_select(index, 0, local.reshape({-1})).reshape({1, size[0], size[1]}));
  }
  return n == 1 ? labels[0] : cat(labels, 0);
}

}  // namespace cudaseg::ops
