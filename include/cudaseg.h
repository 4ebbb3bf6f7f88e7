// cudaseg: a C++/CUDA runtime for real-time semantic segmentation.
//
// This umbrella header is the public C++ API. It brings in:
//   Tensor, DType, Device, Storage     runtime/tensor.h   (views, copies, casts)
//   Generator (Philox 4x32-10)         runtime/rng.h
//   read_image / write_png             runtime/image_io.h
//   gpu:: devices, streams, events,    runtime/gpu.h
//         caching allocator statistics
//   set_num_threads / parallel_for     runtime/thread_pool.h
//   Tf32Guard, set_allow_tf32          runtime/math_mode.h
//   cudaseg::Error, logging            runtime/error.h, runtime/log.h
//   version, compiled_backends         runtime/version.h
//   ops::  the op set, no autograd     ops/ops.h
//   fn::   the differentiable ops,     autograd/fn.h
//          backward(), NoGradGuard, gradcheck
//   nn::   Module and the torch.nn layers   nn/module.h, nn/layers.h
//   nn::   the registry of networks    nn/registry.h (create_net, registered_nets)
//   infer::InferenceSession            infer/session.h
//          load a checkpoint, prepare the net once (BatchNorm folding,
//          fusion, device, precision), predict labels, logits;
//          SessionOptions, Precision, SizePolicy
// From C (or FFI) use cudaseg_c.h instead.
// Every failure is reported by throwing cudaseg::Error; the library never
// exits or aborts the process.
#pragma once

#include "cudaseg_config.h"
#include "runtime/device.h"
#include "runtime/dtype.h"
#include "runtime/error.h"
#include "runtime/gpu.h"
#include "runtime/image_io.h"
#include "runtime/log.h"
#include "runtime/math_mode.h"
#include "runtime/rng.h"
#include "runtime/storage.h"
#include "runtime/tensor.h"
#include "runtime/thread_pool.h"
#include "runtime/version.h"
#include "ops/ops.h"
#include "autograd/fn.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/registry.h"
#include "infer/session.h"
