#include "ops/softmax.h"

#include "ops/common.h"
#include "ops/kernels/softmax.h"

namespace cudaseg::ops {

Kernel<kernels::SoftmaxFn> kernels::softmax("softmax");
Kernel<kernels::SoftmaxBackwardFn> kernels::softmax_backward("softmax_backward");

namespace {

// t as a contiguous [outer, size(dim), inner] view.
Tensor around_dim(const Tensor& t, int64_t dim) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= t.size(d);
  for (int64_t d = dim + 1; d < t.dim(); ++d) inner *= t.size(d);
  return t.contiguous().view({outer, t.dim() == 0 ? 1 : t.size(dim), inner});
}

Tensor forward(const char* op, bool log, const Tensor& input, int64_t dim) {
  check_float(op, "input", input);
  const int64_t d = wrap_dim(dim, input.dim(), op);
  const Tensor x = around_dim(input, d);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::softmax(x.device(), x, log, out);
  return out.view(input.shape());
}

Tensor backward(const char* op, bool log, const Tensor& grad, const Tensor& output, int64_t dim) {
  check_defined(op, "grad_output", grad);
  check_float(op, "output", output);
  check_same_device(op, {{"output", &output}, {"grad_output", &grad}});
  check_same_dtype(op, {{"output", &output}, {"grad_output", &grad}});
  CUDASEG_CHECK(grad.shape() == output.shape(), op, ": grad_output ", shape_str(grad.shape()),
                " differs from output ", shape_str(output.shape()));
  const int64_t d = wrap_dim(dim, output.dim(), op);
  const Tensor y = around_dim(output, d);
  Tensor gx = Tensor::empty(y.shape(), y.dtype(), y.device());
  kernels::softmax_backward(y.device(), around_dim(grad, d), y, log, gx);
  return gx.view(output.shape());
}

}  // namespace

Tensor softmax(const Tensor& input, int64_t dim) { return forward("softmax", false, input, dim); }
Tensor log_softmax(const Tensor& input, int64_t dim) { return forward("log_softmax", true, input, dim); }
Tensor softmax_backward(const Tensor& grad_output, const Tensor& output, int64_t dim) {
  return backward("softmax_backward", false, grad_output, output, dim);
}
Tensor log_softmax_backward(const Tensor& grad_output, const Tensor& output, int64_t dim) {
  return backward("log_softmax_backward", true, grad_output, output, dim);
}

}  // namespace cudaseg::ops
