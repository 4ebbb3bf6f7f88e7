// TF32 tensor-core maths for float32 matrix products and convolutions on CUDA
// (cuBLAS, cuBLASLt and cuDNN read it when they pick a compute type). Off by
// default, so float32 results match the CPU kernels within float32 rounding;
// on, products round their inputs to 10 mantissa bits (about 1e-3 relative
// error) for several times the speed on Ampere and later GPUs. Ignored on the
// CPU.
//
// The setting belongs to the calling thread, because the thread that launches
// the work is the one whose choice counts: an InferenceSession with
// SessionOptions::tf32, or a Trainer with train.tf32, sets it with a
// Tf32Guard around its own forward and backward, and two sessions with
// different settings on two threads do not disturb each other.
#pragma once

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg {

void set_allow_tf32(bool allow);
bool allow_tf32();

// Sets the calling thread's TF32 choice for the guard's lifetime and restores
// the previous one.
class Tf32Guard {
 public:
  explicit Tf32Guard(bool allow) : previous_(allow_tf32()) { set_allow_tf32(allow); }
  ~Tf32Guard() { set_allow_tf32(previous_); }
  Tf32Guard(const Tf32Guard&) = delete;
  Tf32Guard& operator=(const Tf32Guard&) = delete;

 private:
  bool previous_;
};

}  // namespace cudaseg
CUDASEG_API_END
