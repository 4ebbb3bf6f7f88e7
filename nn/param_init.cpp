// Deterministic parameters by name; the rule is documented in param_init.h and
// tools/goldens/detparams.py.
#include "nn/param_init.h"

#include <cmath>

#include "runtime/error.h"
#include "runtime/philox.h"

namespace cudaseg::nn {

const char* param_rule_name(ParamRule rule) {
  switch (rule) {
    case ParamRule::ZeroInt: return "ZERO_INT";
    case ParamRule::Keep: return "KEEP";
    case ParamRule::RunningMean: return "RUNNING_MEAN";
    case ParamRule::RunningVar: return "RUNNING_VAR";
    case ParamRule::FanIn: return "FAN_IN";
    case ParamRule::ScalarWeight: return "SCALAR_WEIGHT";
    case ParamRule::NormWeight: return "NORM_WEIGHT";
    case ParamRule::Bias: return "BIAS";
    case ParamRule::Other: return "OTHER";
  }
  return "?";
}

uint64_t fnv1a64(const std::string& bytes) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  return h;
}

uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t det_stream_key(const std::string& name, uint64_t seed) { return fnv1a64(name) ^ splitmix64(seed); }

ParamRule det_rule(const std::string& name, const Shape& shape, DType dtype) {
  const size_t dot = name.rfind('.');
  const std::string suffix = dot == std::string::npos ? name : name.substr(dot + 1);
  const size_t ndim = shape.size();
  if (suffix == "num_batches_tracked") return ParamRule::ZeroInt;
  if (!is_floating(dtype)) return ParamRule::Keep;
  if (suffix == "running_mean") return ParamRule::RunningMean;
  if (suffix == "running_var") return ParamRule::RunningVar;
  if (suffix == "weight") {
    if (ndim >= 2) return ParamRule::FanIn;
    if (ndim == 1 && shape[0] == 1) return ParamRule::ScalarWeight;
    if (ndim == 1) return ParamRule::NormWeight;
  }
  if (suffix == "bias") return ParamRule::Bias;
  return ParamRule::Other;
}

void det_rule_range(ParamRule rule, const Shape& shape, double& low, double& high) {
  switch (rule) {
    case ParamRule::RunningMean: low = -0.2; high = 0.2; return;
    case ParamRule::RunningVar: low = 0.5; high = 1.5; return;
    case ParamRule::ScalarWeight: low = 0.05; high = 0.45; return;
    case ParamRule::NormWeight: low = 0.5; high = 1.5; return;
    case ParamRule::Bias: low = -0.2; high = 0.2; return;
    case ParamRule::Other: low = -0.1; high = 0.1; return;
    case ParamRule::FanIn: {
      CUDASEG_CHECK(shape.size() >= 2, "det_rule_range: FAN_IN needs ndim >= 2, got ", shape_str(shape));
      int64_t fan_in = shape[1];
      for (size_t d = 2; d < shape.size(); ++d) fan_in *= shape[d];
      CUDASEG_CHECK(fan_in > 0, "det_rule_range: fan_in 0 for shape ", shape_str(shape));
      const double b = std::sqrt(3.0 / static_cast<double>(fan_in));
      low = -b;
      high = b;
      return;
    }
    case ParamRule::ZeroInt:
    case ParamRule::Keep: break;
  }
  CUDASEG_FAIL("det_rule_range: rule ", param_rule_name(rule), " has no range");
}

Tensor det_uniform(const std::string& name, const Shape& shape, double low, double high, uint64_t seed) {
  const uint64_t key = det_stream_key(name, seed);
  const float lo = static_cast<float>(low), span = static_cast<float>(high - low);
  Tensor out = Tensor::empty(shape, DType::f32);
  float* p = out.data<float>();
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = philox::scaled_uniform(key, static_cast<uint64_t>(i), lo, span);
  return out;
}

Tensor det_labels(const std::string& name, const Shape& shape, int64_t num_classes, uint64_t seed) {
  CUDASEG_CHECK(num_classes > 0, "det_labels: num_classes must be positive, got ", num_classes);
  const uint64_t key = det_stream_key(name, seed);
  Tensor out = Tensor::empty(shape, DType::i64);
  int64_t* p = out.data<int64_t>();
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = static_cast<int64_t>(philox::bits(key, static_cast<uint64_t>(i)) >> 8);
    p[i] = r % 10 == 0 ? 255 : (r / 10) % num_classes;
  }
  return out;
}

Tensor det_param(const std::string& name, const Shape& shape, DType dtype, uint64_t seed) {
  const ParamRule rule = det_rule(name, shape, dtype);
  if (rule == ParamRule::ZeroInt) return Tensor::zeros(shape, dtype);
  CUDASEG_CHECK(rule != ParamRule::Keep, "det_param: '", name, "' (", dtype_name(dtype),
                ") is an integer buffer that the model computes; keep its own value");
  double low = 0, high = 0;
  det_rule_range(rule, shape, low, high);
  Tensor t = det_uniform(name, shape, low, high, seed);
  return dtype == DType::f32 ? t : t.to(dtype);
}

}  // namespace cudaseg::nn
