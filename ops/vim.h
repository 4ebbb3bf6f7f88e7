// Valid interpolation (VIM, from PP-MobileSeg): the labels of a bilinear
// resize of class logits followed by an argmax over the classes, computed by
// resizing only the classes that can win somewhere.
//
// Bilinear resampling (either align_corners) makes every output pixel p a
// convex combination of the four corners of one cell Q of the input grid (two
// neighbouring rows by two neighbouring columns; one row or column where the
// input has one), so each class's value there is bilinear over the cell. The
// winner w at p has
//   max_{corners of Q} z_w  >=  z_w(p)  =  max_k z_k(p)  >=  T_Q,
// where T_Q is any lower bound of max_k z_k over the cell; two are used:
// max_k min_{corners} z_k, and min_{corners} of the mean of the classes that
// win a corner (a mean is at most the max, and being bilinear it takes its
// smallest value on the cell at a corner; at the border of two regions it is
// what keeps the classes of neither out). The union over the cells of the
// classes with max_Q z_c >= T_Q holds every winner of the full resize. Both
// sides get a slack of 16 units of the dtype's rounding times the corners'
// magnitude, which covers the rounding of the resize and of the mean. The
// candidates keep their class order and are resized by the same kernel as a
// full resize (each channel on its own, so with the same values), so the
// argmax over them, ties going to the first as in ops::argmax, is the full
// argmax. PaddleSeg's rule (the classes of the low-resolution argmax) is not
// exact: a class that wins at no input pixel can win between them (two
// corners each won by another class, a third class close behind at both).
#pragma once

#include <array>
#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::ops {

// The candidate classes of each image: bool [N, C] (device of logits).
// logits: floating [N, C, H, W].
Tensor vim_candidates(const Tensor& logits);

// argmax over dim 1 of upsample_bilinear2d(logits, size, align_corners),
// resizing per image only its candidates: int64 [N, size[0], size[1]] on the
// logits' device. `candidates`, when given, receives each image's count.
Tensor upsample_bilinear2d_argmax(const Tensor& logits, std::array<int64_t, 2> size, bool align_corners,
                                  std::vector<int64_t>* candidates = nullptr);

}  // namespace cudaseg::ops
