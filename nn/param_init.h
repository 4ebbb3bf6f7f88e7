// Deterministic parameters by name: the C++ half of the golden-parity
// generator. tools/goldens/detparams.py is the Python half and holds the one
// source of truth for the rule (its RULES table and module docstring); this
// header restates it. Both sides produce bit-identical float32 values, pinned
// by tests/nn/test_param_init.cpp.
//
// Stream for a tensor called NAME and a seed S (runtime/philox.h):
//   key      = fnv1a64(utf8(NAME)) XOR splitmix64(S)
//   u_i      = philox::uniform(key, i)             ((bits >> 8) * 2^-24, exact)
//   value_i  = philox::scaled_uniform(key, i, lo, span)
//            = float(double(lo) + double(span) * u_i)
// with lo = float(low), span = float(high - low) (difference in double); i is
// the row-major element index.
//
// Rules (first match wins), on the NAME's last dot-separated component and the
// shape:
//   1 num_batches_tracked            -> ZeroInt:      zeros (int64)
//   2 other integer dtype            -> Keep:         not generated; the model keeps its value
//   3 running_mean                   -> RunningMean:  U[-0.2, 0.2]
//   4 running_var                    -> RunningVar:   U[0.5, 1.5]
//   5 weight, ndim >= 2              -> FanIn:        U[-b, b], b = sqrt(3 / fan_in) in double,
//                                       fan_in = shape[1] * prod(shape[2:]) (variance 1/fan_in)
//   6 weight, ndim == 1, numel == 1  -> ScalarWeight: U[0.05, 0.45]  (PReLU slope)
//   7 weight, ndim == 1              -> NormWeight:   U[0.5, 1.5]    (BN / LN scale)
//   8 bias                           -> Bias:         U[-0.2, 0.2]
//   9 anything else floating         -> Other:        U[-0.1, 0.1]
//
// Other streams the goldens use (same key rule):
//   det_uniform("input", shape, -1, 1, seed) for the model input;
//   det_labels("labels", shape, C, seed): r = bits_i >> 8; 255 if r % 10 == 0, else (r / 10) % C.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/tensor.h"

namespace cudaseg::nn {

enum class ParamRule { ZeroInt, Keep, RunningMean, RunningVar, FanIn, ScalarWeight, NormWeight, Bias, Other };

const char* param_rule_name(ParamRule rule);  // "FAN_IN", ... as in detparams.py

uint64_t fnv1a64(const std::string& bytes);
uint64_t splitmix64(uint64_t z);
// Philox key of the stream for `name` and `seed`.
uint64_t det_stream_key(const std::string& name, uint64_t seed);

ParamRule det_rule(const std::string& name, const Shape& shape, DType dtype);
// [low, high] of a uniform rule (throws for ZeroInt and Keep).
void det_rule_range(ParamRule rule, const Shape& shape, double& low, double& high);

// The value of state_dict entry `name`. Floating dtypes other than f32 are
// generated in f32 and converted. Throws for a Keep entry (integer buffers
// other than num_batches_tracked): the caller keeps the model's own value.
Tensor det_param(const std::string& name, const Shape& shape, DType dtype, uint64_t seed);

// Rule-free streams: U[low, high] float32, and int64 labels with ~10% 255.
Tensor det_uniform(const std::string& name, const Shape& shape, double low, double high, uint64_t seed);
Tensor det_labels(const std::string& name, const Shape& shape, int64_t num_classes, uint64_t seed);

}  // namespace cudaseg::nn
