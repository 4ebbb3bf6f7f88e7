#include "ops/conv.h"

#include <optional>
#include <vector>
#include <functional>
#include <cmath>

#include "ops/activation.h"
#include "ops/binary.h"
#include "ops/common.h"
#include "ops/kernels/conv.h"
#include "ops/norm.h"
#include "ops/unary.h"

namespace cudaseg::ops {
Kernel<kernels::Conv2dForwardFn> kernels::conv2d_forward("conv2d");
Kernel<kernels::Conv2dForwardActFn> kernels::conv2d_forward_act("conv2d_act");
Kernel<kernels::AddActFn> kernels::add_act("add_act");
Kernel<kernels::Conv2dBackwardInputFn> kernels::conv2d_backward_input("conv2d_backward_input");
Kernel<kernels::Conv2dBackwardWeightFn> kernels::conv2d_backward_weight("conv2d_backward_weight");
Kernel<kernels::Conv2dBackwardBiasFn> kernels::conv2d_backward_bias("conv2d_backward_bias");
Kernel<kernels::AddChannelBiasFn> kernels::add_channel_bias("add_channel_bias");
Kernel<kernels::ConvTranspose2dForwardFn> kernels::conv_transpose2d_forward("conv_transpose2d");

using kernels::ConvGeom;

namespace {

std::string pair_str(const std::array<int64_t, 2>& p) { return shape_str({p[0], p[1]}); }

void check_options(const char* op, const std::array<int64_t, 2>& stride, const std::array<int64_t, 2>& padding,
                   const std::array<int64_t, 2>& dilation, int64_t groups) {
  CUDASEG_CHECK(stride[0] >= 1 && stride[1] >= 1, op, ": stride must be positive, got ", pair_str(stride));
  CUDASEG_CHECK(padding[0] >= 0 && padding[1] >= 0, op, ": padding must be non-negative, got ",
                pair_str(padding));
  CUDASEG_CHECK(dilation[0] >= 1 && dilation[1] >= 1, op, ": dilation must be positive, got ",
                pair_str(dilation));
  CUDASEG_CHECK(groups >= 1, op, ": groups must be positive, got ", groups);
}

void check_shape4(const char* op, const char* arg, const Shape& shape) {
  CUDASEG_CHECK(shape.size() == 4, op, ": expected '", arg, "' to have 4 dims, got shape ", shape_str(shape));
}

void check_operands(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> args) {
  for (const auto& a : args) {
    if (std::string(a.first) == "bias" && !a.second->defined()) continue;
    check_float(op, a.first, *a.second);
  }
  check_same_dtype(op, args);
  check_same_device(op, args);
}

// The conv2d geometry of input [N, C, H, W] and weight [O, C/groups, kh, kw],
// validated.
ConvGeom conv_geom(const char* op, const Shape& x, const Shape& w, const Conv2dParams& p) {
  check_shape4(op, "input", x);
  check_shape4(op, "weight", w);
  check_options(op, p.stride, p.padding, p.dilation, p.groups);
  // Also catches groups not dividing the input channels, as PyTorch's message does.
  CUDASEG_CHECK(w[1] * p.groups == x[1], op, ": weight ", shape_str(w), " expects ", w[1], "*groups=",
                w[1] * p.groups, " input channels (groups=", p.groups, ") but input is ", shape_str(x));
  CUDASEG_CHECK(w[0] % p.groups == 0, op, ": groups=", p.groups, " does not divide the ", w[0],
                " output channels of weight ", shape_str(w));
  CUDASEG_CHECK(w[2] >= 1 && w[3] >= 1, op, ": weight ", shape_str(w), " has an empty kernel");
  ConvGeom g;
  g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
  g.o = w[0], g.kh = w[2], g.kw = w[3];
  g.sh = p.stride[0], g.sw = p.stride[1], g.ph = p.padding[0], g.pw = p.padding[1];
  g.dh = p.dilation[0], g.dw = p.dilation[1], g.groups = p.groups;
  const int64_t ekh = g.dh * (g.kh - 1) + 1, ekw = g.dw * (g.kw - 1) + 1;
  CUDASEG_CHECK(ekh <= g.h + 2 * g.ph && ekw <= g.w + 2 * g.pw, op, ": kernel ", shape_str({g.kh, g.kw}),
                " with dilation ", pair_str(p.dilation), " spans ", shape_str({ekh, ekw}),
                ", more than input ", shape_str(x), " padded by ", pair_str(p.padding));
  g.ho = (g.h + 2 * g.ph - ekh) / g.sh + 1;
  g.wo = (g.w + 2 * g.pw - ekw) / g.sw + 1;
  return g;
}

// The geometry of conv_transpose2d with input [N, Cin, H, W] and weight
// [Cin, Cout/groups, kh, kw], as the conv2d it is the adjoint of: that conv's
// input is this op's output [N, Cout, Ho, Wo], and its output this op's input.
ConvGeom transpose_geom(const char* op, const Shape& x, const Shape& w, const ConvTranspose2dParams& p) {
  check_shape4(op, "input", x);
  check_shape4(op, "weight", w);
  check_options(op, p.stride, p.padding, p.dilation, p.groups);
  CUDASEG_CHECK(w[0] == x[1], op, ": weight ", shape_str(w), " expects ", w[0], " input channels but input is ",
                shape_str(x));
  CUDASEG_CHECK(x[1] % p.groups == 0, op, ": groups=", p.groups, " does not divide the ", x[1],
                " input channels of input ", shape_str(x));
  CUDASEG_CHECK(w[2] >= 1 && w[3] >= 1, op, ": weight ", shape_str(w), " has an empty kernel");
  for (int a = 0; a < 2; ++a) {
    const int64_t op_a = p.output_padding[a];
    CUDASEG_CHECK(op_a >= 0 && (op_a < p.stride[a] || op_a < p.dilation[a]), op, ": output_padding ",
                  pair_str(p.output_padding), " must be non-negative and smaller than either stride ",
                  pair_str(p.stride), " or dilation ", pair_str(p.dilation));
  }
  ConvGeom g;
  g.n = x[0], g.o = x[1], g.ho = x[2], g.wo = x[3];
  g.c = w[1] * p.groups, g.kh = w[2], g.kw = w[3];
  g.sh = p.stride[0], g.sw = p.stride[1], g.ph = p.padding[0], g.pw = p.padding[1];
  g.dh = p.dilation[0], g.dw = p.dilation[1], g.groups = p.groups;
  g.h = (g.ho - 1) * g.sh - 2 * g.ph + g.dh * (g.kh - 1) + p.output_padding[0] + 1;
  g.w = (g.wo - 1) * g.sw - 2 * g.pw + g.dw * (g.kw - 1) + p.output_padding[1] + 1;
  CUDASEG_CHECK(g.h > 0 && g.w > 0, op, ": input ", shape_str(x), " with weight ", shape_str(w), ", stride ",
                pair_str(p.stride), ", padding ", pair_str(p.padding), " and dilation ", pair_str(p.dilation),
                " gives an empty output ", shape_str({g.n, g.c, g.h, g.w}));
  return g;
}

Shape image_shape(const ConvGeom& g) { return {g.n, g.c, g.h, g.w}; }
Shape output_shape(const ConvGeom& g) { return {g.n, g.o, g.ho, g.wo}; }

void check_bias(const char* op, const Tensor& bias, int64_t channels, const Shape& w) {
  if (!bias.defined()) return;
  CUDASEG_CHECK(bias.dim() == 1 && bias.size(0) == channels, op, ": bias ", shape_str(bias.shape()),
                " must have shape [", channels, "] for weight ", shape_str(w));
}

void check_grad_output(const char* op, const Tensor& gy, const Shape& expected) {
  check_dim(op, "grad_output", gy, 4);
  CUDASEG_CHECK(gy.shape() == expected, op, ": grad_output ", shape_str(gy.shape()), " should be ",
                shape_str(expected));
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& params) {
  const char* op = "conv2d";
  check_defined(op, "input", input);
  check_defined(op, "weight", weight);
  check_operands(op, {{"input", &input}, {"weight", &weight}, {"bias", &bias}});
  const ConvGeom g = conv_geom(op, input.shape(), weight.shape(), params);
  check_bias(op, bias, g.o, weight.shape());
  Tensor out = Tensor::empty(output_shape(g), input.dtype(), input.device());
  kernels::conv2d_forward(input.device(), input.contiguous(), weight.contiguous(),
                          bias.defined() ? bias.contiguous() : bias, out, g);
  return out;
}

namespace {

// A ConvAct's clamp range and PReLU slope (1 or `channels` values of the
// input's dtype and device), for conv2d_act and add_act.
void check_act(const char* op, const Tensor& input, const ConvAct& act, int64_t channels, const char* unit) {
  CUDASEG_CHECK(!(act.lo > act.hi), op, ": clamp range [", act.lo, ", ", act.hi, "] is empty");
  if (!act.slope.defined()) return;
  check_operands(op, {{"input", &input}, {"slope", &act.slope}});
  CUDASEG_CHECK(act.slope.numel() == 1 || act.slope.numel() == channels, op, ": PReLU slope of ", act.slope.numel(),
                " values for ", channels, " ", unit, " (expected 1 or ", channels, ")");
}

// act with its slope contiguous, as the fused kernels take it.
ConvAct contiguous_act(const ConvAct& act) {
  ConvAct c = act;
  if (act.slope.defined()) c.slope = act.slope.contiguous();
  return c;
}

// act by the ops in turn, on devices without the fused kernels.
Tensor apply_act(Tensor out, const ConvAct& act) {
  if (act.slope.defined()) out = prelu(out, act.slope);
  const std::optional<double> lo = act.lo > -INFINITY ? std::optional<double>(act.lo) : std::nullopt;
  const std::optional<double> hi = act.hi < INFINITY ? std::optional<double>(act.hi) : std::nullopt;
  if (lo || hi) out = clamp(out, lo, hi);
  return act.gelu ? gelu(out) : out;
}

}  // namespace

Tensor conv2d_act(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& params,
                  const ConvAct& act) {
  const char* op = "conv2d_act";
  check_defined(op, "input", input);
  check_defined(op, "weight", weight);
  check_operands(op, {{"input", &input}, {"weight", &weight}, {"bias", &bias}});
  const ConvGeom g = conv_geom(op, input.shape(), weight.shape(), params);
  check_bias(op, bias, g.o, weight.shape());
  check_act(op, input, act, g.o, "output channels");
  const Tensor x = input.contiguous(), w = weight.contiguous(), b = bias.defined() ? bias.contiguous() : bias;
  Tensor out = Tensor::empty(output_shape(g), input.dtype(), input.device());
  if (kernels::conv2d_forward_act.has(input.device().type)) {
    kernels::conv2d_forward_act(input.device(), x, w, b, out, g, contiguous_act(act));
    return out;
  }
  kernels::conv2d_forward(input.device(), x, w, b, out, g);
  return apply_act(out, act);
}

namespace {

// act(a + b), after a per-channel scale and shift in double where `scale`
// is not empty (add_batch_norm_act); `bn` runs the BatchNorm on a device
// without the fused kernel.
Tensor add_affine_act(const char* op, const Tensor& a, const Tensor& b, const ConvAct& act,
                      const std::vector<double>& scale, const std::vector<double>& shift,
                      const std::function<Tensor(const Tensor&)>& bn) {
  check_defined(op, "input", a);
  check_defined(op, "other", b);
  check_operands(op, {{"input", &a}, {"other", &b}});
  CUDASEG_CHECK(a.shape() == b.shape(), op, ": input ", shape_str(a.shape()), " and other ", shape_str(b.shape()),
                " must have one shape");
  const int64_t channels = a.dim() >= 2 ? a.size(1) : 1;
  check_act(op, a, act, channels, "channels");
  if (!act.gelu && a.dim() >= 2 && kernels::add_act.has(a.device().type)) {
    Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
    const Shape ncs{a.size(0), channels, a.numel() / std::max<int64_t>(a.size(0) * channels, 1)};
    kernels::add_act(a.device(), a.contiguous().view(ncs), b.contiguous().view(ncs), out.view(ncs), contiguous_act(act),
                     scale, shift);
    return out;
  }
  Tensor out = add(a, b);
  if (bn) out = bn(out);
  return apply_act(out, act);
}

}  // namespace

Tensor add_act(const Tensor& a, const Tensor& b, const ConvAct& act) {
  return add_affine_act("add_act", a, b, act, {}, {}, nullptr);
}

Tensor add_batch_norm_act(const Tensor& a, const Tensor& b, const Tensor& running_mean, const Tensor& running_var,
                          const Tensor& weight, const Tensor& bias, double eps, const ConvAct& act) {
  const char* op = "add_batch_norm_act";
  check_defined(op, "input", a);
  check_defined(op, "running_mean", running_mean);
  check_defined(op, "running_var", running_var);
  CUDASEG_CHECK(a.dim() >= 2, op, ": input ", shape_str(a.shape()), " has no channel dim");
  const int64_t channels = a.size(1);
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"running_mean", &running_mean},
                                {"running_var", &running_var}, {"weight", &weight}, {"bias", &bias}})
    CUDASEG_CHECK(!t->defined() || t->numel() == channels, op, ": ", name, " of ", t->numel(), " values for ",
                  channels, " channels");
  // batch_norm's evaluation: scale = w / sqrt(var + eps), shift = b - mean * scale, in double.
  const std::vector<double> mean = running_mean.to_vector(), var = running_var.to_vector();
  const std::vector<double> w = weight.defined() ? weight.to_vector() : std::vector<double>(channels, 1.0);
  const std::vector<double> bb = bias.defined() ? bias.to_vector() : std::vector<double>(channels, 0.0);
  std::vector<double> scale(channels), shift(channels);
  for (int64_t c = 0; c < channels; ++c) {
    scale[c] = 1.0 / std::sqrt(var[c] + eps) * w[c];
    shift[c] = bb[c] - mean[c] * scale[c];
  }
  return add_affine_act(op, a, b, act, scale, shift, [&](const Tensor& x) {
    return batch_norm(x, running_mean, running_var, weight, bias, false, 0.1, eps);
  });
}

Tensor conv2d_backward_input(const Tensor& grad_output, const Tensor& weight, const Shape& input_shape,
                             const Conv2dParams& params) {
  const char* op = "conv2d_backward_input";
  check_defined(op, "grad_output", grad_output);
  check_defined(op, "weight", weight);
  check_operands(op, {{"grad_output", &grad_output}, {"weight", &weight}});
  const ConvGeom g = conv_geom(op, input_shape, weight.shape(), params);
  check_grad_output(op, grad_output, output_shape(g));
  Tensor gx = Tensor::empty(input_shape, grad_output.dtype(), grad_output.device());
  kernels::conv2d_backward_input(grad_output.device(), grad_output.contiguous(), weight.contiguous(), gx, g);
  return gx;
}

Tensor conv2d_backward_weight(const Tensor& grad_output, const Tensor& input, const Shape& weight_shape,
                              const Conv2dParams& params) {
  const char* op = "conv2d_backward_weight";
  check_defined(op, "grad_output", grad_output);
  check_defined(op, "input", input);
  check_operands(op, {{"grad_output", &grad_output}, {"input", &input}});
  const ConvGeom g = conv_geom(op, input.shape(), weight_shape, params);
  check_grad_output(op, grad_output, output_shape(g));
  Tensor gw = Tensor::empty(weight_shape, grad_output.dtype(), grad_output.device());
  kernels::conv2d_backward_weight(grad_output.device(), grad_output.contiguous(), input.contiguous(), gw, g);
  return gw;
}

Tensor conv2d_backward_bias(const Tensor& grad_output) {
  const char* op = "conv2d_backward_bias";
  check_dim(op, "grad_output", grad_output, 4);
  check_float(op, "grad_output", grad_output);
  Tensor gb = Tensor::empty({grad_output.size(1)}, grad_output.dtype(), grad_output.device());
  kernels::conv2d_backward_bias(grad_output.device(), grad_output.contiguous(), gb);
  return gb;
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                        const ConvTranspose2dParams& params) {
  const char* op = "conv_transpose2d";
  check_defined(op, "input", input);
  check_defined(op, "weight", weight);
  check_operands(op, {{"input", &input}, {"weight", &weight}, {"bias", &bias}});
  const ConvGeom g = transpose_geom(op, input.shape(), weight.shape(), params);
  check_bias(op, bias, g.c, weight.shape());
  Tensor out = Tensor::empty(image_shape(g), input.dtype(), input.device());
  if (kernels::conv_transpose2d_forward.has(input.device().type)) {
    kernels::conv_transpose2d_forward(input.device(), input.contiguous(), weight.contiguous(),
                                      bias.defined() ? bias.contiguous() : Tensor(), out, g);
    return out;
  }
  kernels::conv2d_backward_input(input.device(), input.contiguous(), weight.contiguous(), out, g);
  if (bias.defined()) kernels::add_channel_bias(input.device(), out, bias.contiguous());
  return out;
}

Tensor conv_transpose2d_backward_input(const Tensor& grad_output, const Tensor& weight, const Shape& input_shape,
                                       const ConvTranspose2dParams& params) {
  const char* op = "conv_transpose2d_backward_input";
  check_defined(op, "grad_output", grad_output);
  check_defined(op, "weight", weight);
  check_operands(op, {{"grad_output", &grad_output}, {"weight", &weight}});
  const ConvGeom g = transpose_geom(op, input_shape, weight.shape(), params);
  check_grad_output(op, grad_output, image_shape(g));
  Tensor gx = Tensor::empty(input_shape, grad_output.dtype(), grad_output.device());
  kernels::conv2d_forward(grad_output.device(), grad_output.contiguous(), weight.contiguous(), Tensor(), gx, g);
  return gx;
}

Tensor conv_transpose2d_backward_weight(const Tensor& grad_output, const Tensor& input, const Shape& weight_shape,
                                        const ConvTranspose2dParams& params) {
  const char* op = "conv_transpose2d_backward_weight";
  check_defined(op, "grad_output", grad_output);
  check_defined(op, "input", input);
  check_operands(op, {{"grad_output", &grad_output}, {"input", &input}});
  const ConvGeom g = transpose_geom(op, input.shape(), weight_shape, params);
  check_grad_output(op, grad_output, image_shape(g));
  Tensor gw = Tensor::empty(weight_shape, grad_output.dtype(), grad_output.device());
  kernels::conv2d_backward_weight(grad_output.device(), input.contiguous(), grad_output.contiguous(), gw, g);
  return gw;
}

}  // namespace cudaseg::ops
