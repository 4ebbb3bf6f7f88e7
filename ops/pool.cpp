#include "ops/pool.h"

#include "ops/common.h"
#include "ops/kernels/pool.h"

namespace cudaseg::ops {

Kernel<kernels::MaxPool2dFn> kernels::max_pool2d("max_pool2d");
Kernel<kernels::MaxPool2dBackwardFn> kernels::max_pool2d_backward("max_pool2d_backward");
Kernel<kernels::MaxUnpool2dFn> kernels::max_unpool2d("max_unpool2d");
Kernel<kernels::MaxUnpool2dBackwardFn> kernels::max_unpool2d_backward("max_unpool2d_backward");
Kernel<kernels::AvgPool2dFn> kernels::avg_pool2d("avg_pool2d");
Kernel<kernels::AvgPool2dBackwardFn> kernels::avg_pool2d_backward("avg_pool2d_backward");
Kernel<kernels::AdaptiveAvgPool2dFn> kernels::adaptive_avg_pool2d("adaptive_avg_pool2d");
Kernel<kernels::AdaptiveAvgPool2dBackwardFn> kernels::adaptive_avg_pool2d_backward("adaptive_avg_pool2d_backward");
Kernel<kernels::AdaptiveMaxPool2dFn> kernels::adaptive_max_pool2d("adaptive_max_pool2d");

using kernels::PoolGeometry;

namespace {

std::string pair_str(const std::array<int64_t, 2>& a) { return shape_str(Shape(a.begin(), a.end())); }

void check_input(const char* op, const Tensor& input) {
  check_dim(op, "input", input, 4);
  check_float(op, "input", input);
  CUDASEG_CHECK(input.size(1) > 0 && input.size(2) > 0 && input.size(3) > 0, op,
                ": 'input' needs non-zero channels, height and width, got ", shape_str(input.shape()));
}

void check_indices(const char* op, const Tensor& indices, const char* other_name, const Tensor& other) {
  check_defined(op, "indices", indices);
  CUDASEG_CHECK(indices.dtype() == DType::i64, op, ": 'indices' must be int64, got ", indices.str());
  CUDASEG_CHECK(indices.shape() == other.shape(), op, ": 'indices' ", shape_str(indices.shape()),
                " must have the shape of '", other_name, "' ", shape_str(other.shape()));
  check_same_device(op, {{other_name, &other}, {"indices", &indices}});
}

void check_output_size(const char* op, const std::array<int64_t, 2>& size, const Tensor& input) {
  CUDASEG_CHECK(size[0] >= 1 && size[1] >= 1, op, ": output_size ", pair_str(size),
                " must be positive (input ", shape_str(input.shape()), ")");
}

// Validates the window options shared by max and average pooling and returns
// the geometry of `input` under them.
PoolGeometry pool_geometry(const char* op, const Shape& input, std::array<int64_t, 2> kernel,
                                std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                                std::array<int64_t, 2> dilation, bool ceil_mode) {
  const std::string in = shape_str(input);
  CUDASEG_CHECK(kernel[0] >= 1 && kernel[1] >= 1, op, ": kernel_size ", pair_str(kernel),
                " must be positive (input ", in, ")");
  CUDASEG_CHECK((stride[0] >= 1 && stride[1] >= 1) || (stride[0] == 0 && stride[1] == 0), op, ": stride ",
                pair_str(stride), " must be positive, or {0, 0} for the kernel size (input ", in, ")");
  if (stride[0] == 0) stride = kernel;
  CUDASEG_CHECK(dilation[0] >= 1 && dilation[1] >= 1, op, ": dilation ", pair_str(dilation),
                " must be positive (input ", in, ")");
  CUDASEG_CHECK(padding[0] >= 0 && padding[1] >= 0 && padding[0] <= kernel[0] / 2 && padding[1] <= kernel[1] / 2,
                op, ": padding ", pair_str(padding), " must be non-negative and at most half of kernel_size ",
                pair_str(kernel), " (input ", in, ")");
  PoolGeometry g;
  g.ih = input[2];
  g.iw = input[3];
  g.kh = kernel[0];
  g.kw = kernel[1];
  g.sh = stride[0];
  g.sw = stride[1];
  g.ph = padding[0];
  g.pw = padding[1];
  g.dh = dilation[0];
  g.dw = dilation[1];
  g.oh = pool_output_size(g.ih, g.kh, g.sh, g.ph, g.dh, ceil_mode);
  g.ow = pool_output_size(g.iw, g.kw, g.sw, g.pw, g.dw, ceil_mode);
  CUDASEG_CHECK(g.oh >= 1 && g.ow >= 1, op, ": input ", in, " is too small for kernel_size ", pair_str(kernel),
                " with dilation ", pair_str(dilation), " and padding ", pair_str(padding), ": the output would be ",
                g.oh, "x", g.ow);
  return g;
}

PoolGeometry max_geometry(const char* op, const Shape& input, const MaxPool2dParams& p) {
  return pool_geometry(op, input, p.kernel_size, p.stride, p.padding, p.dilation, p.ceil_mode);
}

PoolGeometry avg_geometry(const char* op, const Shape& input, const AvgPool2dParams& p) {
  CUDASEG_CHECK(!p.divisor_override || *p.divisor_override != 0, op, ": divisor_override must not be zero (input ",
                shape_str(input), ")");
  return pool_geometry(op, input, p.kernel_size, p.stride, p.padding, {1, 1}, p.ceil_mode);
}

// A gradient's shape must be the forward output's: [N, C] of the input and the pooled size.
void check_grad_output(const char* op, const Tensor& grad_output, const Shape& expected) {
  check_defined(op, "grad_output", grad_output);
  check_float(op, "grad_output", grad_output);
  CUDASEG_CHECK(grad_output.shape() == expected, op, ": 'grad_output' ", shape_str(grad_output.shape()),
                " should be ", shape_str(expected));
}

void check_input_shape(const char* op, const Shape& input_shape) {
  CUDASEG_CHECK(input_shape.size() == 4 && input_shape[2] > 0 && input_shape[3] > 0, op, ": input_shape ",
                shape_str(input_shape), " must be [N, C, H, W] with H, W > 0");
}

}  // namespace

int64_t pool_output_size(int64_t input, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                         bool ceil_mode) {
  const int64_t numerator = input + 2 * padding - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  // Floor division (rounds toward -inf, as PyTorch's div_rtn).
  int64_t out = numerator / stride - ((numerator % stride != 0) && (numerator < 0)) + 1;
  if (ceil_mode && (out - 1) * stride >= input + padding) --out;
  return out;
}

namespace {

// The output, and its indices where asked for or where the device's kernel
// always writes them (CUDA). Without indices the CPU kernel keeps values
// only: a third of the bytes it writes.
std::pair<Tensor, Tensor> max_pool2d_impl(const Tensor& input, const MaxPool2dParams& params, bool indices) {
  const char* op = "max_pool2d";
  check_input(op, input);
  const PoolGeometry g = max_geometry(op, input.shape(), params);
  const Shape shape{input.size(0), input.size(1), g.oh, g.ow};
  Tensor out = Tensor::empty(shape, input.dtype(), input.device());
  Tensor idx = indices || !input.device().is_cpu() ? Tensor::empty(shape, DType::i64, input.device()) : Tensor();
  kernels::max_pool2d(input.device(), input.contiguous(), g, out, idx);
  return {out, idx};
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const MaxPool2dParams& params) {
  return max_pool2d_impl(input, params, true);
}

Tensor max_pool2d(const Tensor& input, const MaxPool2dParams& params) {
  return max_pool2d_impl(input, params, false).first;
}

Tensor max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Shape& input_shape) {
  const char* op = "max_pool2d_backward";
  check_dim(op, "grad_output", grad_output, 4);
  check_float(op, "grad_output", grad_output);
  check_input_shape(op, input_shape);
  CUDASEG_CHECK(grad_output.size(0) == input_shape[0] && grad_output.size(1) == input_shape[1], op,
                ": 'grad_output' ", shape_str(grad_output.shape()), " does not match input_shape ",
                shape_str(input_shape), " in N and C");
  check_indices(op, indices, "grad_output", grad_output);
  Tensor grad_input = Tensor::empty(input_shape, grad_output.dtype(), grad_output.device());
  kernels::max_pool2d_backward(grad_output.device(), grad_output.contiguous(), indices.contiguous(), grad_input);
  return grad_input;
}

Tensor max_unpool2d(const Tensor& input, const Tensor& indices, std::array<int64_t, 2> output_size) {
  const char* op = "max_unpool2d";
  check_input(op, input);
  check_indices(op, indices, "input", input);
  check_output_size(op, output_size, input);
  Tensor out = Tensor::empty({input.size(0), input.size(1), output_size[0], output_size[1]}, input.dtype(),
                             input.device());
  kernels::max_unpool2d(input.device(), input.contiguous(), indices.contiguous(), out);
  return out;
}

std::array<int64_t, 2> max_unpool2d_output_size(const Shape& pooled_shape, const MaxPool2dParams& params) {
  CUDASEG_CHECK(pooled_shape.size() == 4, "max_unpool2d: the pooled shape ", shape_str(pooled_shape),
                " must be [N, C, H, W]");
  const std::array<int64_t, 2> k = params.kernel_size, p = params.padding;
  const std::array<int64_t, 2> s = params.stride[0] == 0 && params.stride[1] == 0 ? k : params.stride;
  return {(pooled_shape[2] - 1) * s[0] - 2 * p[0] + k[0], (pooled_shape[3] - 1) * s[1] - 2 * p[1] + k[1]};
}

Tensor max_unpool2d_backward(const Tensor& grad_output, const Tensor& indices) {
  const char* op = "max_unpool2d_backward";
  check_dim(op, "grad_output", grad_output, 4);
  check_float(op, "grad_output", grad_output);
  check_dim(op, "indices", indices, 4);
  CUDASEG_CHECK(indices.dtype() == DType::i64, op, ": 'indices' must be int64, got ", indices.str());
  CUDASEG_CHECK(indices.size(0) == grad_output.size(0) && indices.size(1) == grad_output.size(1), op,
                ": 'indices' ", shape_str(indices.shape()), " does not match 'grad_output' ",
                shape_str(grad_output.shape()), " in N and C");
  check_same_device(op, {{"grad_output", &grad_output}, {"indices", &indices}});
  Tensor grad_input = Tensor::empty(indices.shape(), grad_output.dtype(), grad_output.device());
  kernels::max_unpool2d_backward(grad_output.device(), grad_output.contiguous(), indices.contiguous(), grad_input);
  return grad_input;
}

Tensor avg_pool2d(const Tensor& input, const AvgPool2dParams& params) {
  const char* op = "avg_pool2d";
  check_input(op, input);
  const PoolGeometry g = avg_geometry(op, input.shape(), params);
  Tensor out = Tensor::empty({input.size(0), input.size(1), g.oh, g.ow}, input.dtype(), input.device());
  const int64_t divisor = params.divisor_override.value_or(0);
  kernels::avg_pool2d(input.device(), input.contiguous(), g, params.count_include_pad, divisor, out);
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape, const AvgPool2dParams& params) {
  const char* op = "avg_pool2d_backward";
  check_input_shape(op, input_shape);
  const PoolGeometry g = avg_geometry(op, input_shape, params);
  check_grad_output(op, grad_output, {input_shape[0], input_shape[1], g.oh, g.ow});
  Tensor grad_input = Tensor::empty(input_shape, grad_output.dtype(), grad_output.device());
  const int64_t divisor = params.divisor_override.value_or(0);
  kernels::avg_pool2d_backward(grad_output.device(), grad_output.contiguous(), g, params.count_include_pad, divisor,
                               grad_input);
  return grad_input;
}

Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> output_size) {
  const char* op = "adaptive_avg_pool2d";
  check_input(op, input);
  check_output_size(op, output_size, input);
  Tensor out = Tensor::empty({input.size(0), input.size(1), output_size[0], output_size[1]}, input.dtype(),
                             input.device());
  kernels::adaptive_avg_pool2d(input.device(), input.contiguous(), out);
  return out;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape) {
  const char* op = "adaptive_avg_pool2d_backward";
  check_input_shape(op, input_shape);
  check_dim(op, "grad_output", grad_output, 4);
  check_grad_output(op, grad_output, {input_shape[0], input_shape[1], grad_output.size(2), grad_output.size(3)});
  CUDASEG_CHECK(grad_output.size(2) > 0 && grad_output.size(3) > 0, op, ": 'grad_output' ",
                shape_str(grad_output.shape()), " must have a non-empty plane");
  Tensor grad_input = Tensor::empty(input_shape, grad_output.dtype(), grad_output.device());
  kernels::adaptive_avg_pool2d_backward(grad_output.device(), grad_output.contiguous(), grad_input);
  return grad_input;
}

std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input, std::array<int64_t, 2> output_size) {
  const char* op = "adaptive_max_pool2d";
  check_input(op, input);
  check_output_size(op, output_size, input);
  const Shape shape{input.size(0), input.size(1), output_size[0], output_size[1]};
  Tensor out = Tensor::empty(shape, input.dtype(), input.device());
  Tensor indices = Tensor::empty(shape, DType::i64, input.device());
  kernels::adaptive_max_pool2d(input.device(), input.contiguous(), out, indices);
  return {out, indices};
}

Tensor adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> output_size) {
  return adaptive_max_pool2d_with_indices(input, output_size).first;
}

}  // namespace cudaseg::ops
