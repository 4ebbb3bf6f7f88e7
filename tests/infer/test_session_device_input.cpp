// InferenceSession::prepare_input, what predict() runs the net on: on the
// CPU it is preprocess(); on CUDA the u8 image is fitted and normalised on
// the device (ops/image.h) and must give preprocess()'s values cast to the
// session's dtype, bit for bit, for every fit and channel order. Also: a CUDA
// graph is captured on a thread that never ran a convolution before (the
// cuDNN handles are per thread, cuda/dnn.h, and made before a capture opens). The CUDA tests skip without a
// CUDA device.
#include <cstring>
#include <exception>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "common/cuda_skip.h"
#include "common/testing.h"
#include "infer/session.h"
#include "ops/unary.h"
#include "tests/infer/infer_testing.h"

namespace cudaseg::infer {
namespace {

namespace it = cudaseg::infer_testing;
namespace ct = cudaseg::testing;

struct Fit {
  const char* name;
  SizePolicy policy;
  std::array<int64_t, 2> size;
};
// The test net's size divisor is 2: 37x53 pads to 38x54.
const Fit kFits[] = {{"pad", SizePolicy::pad, {0, 0}},
                     {"resize down", SizePolicy::fixed, {24, 32}},
                     {"resize up", SizePolicy::fixed, {64, 96}},
                     {"keep", SizePolicy::keep, {0, 0}}};

InferenceSession session(const Fit& fit, Device device, Precision precision, bool bgr, bool graphs = true) {
  const it::json model = it::test_model();
  ModelInfo info = it::info_of(model);
  info.preprocess.mean = {0.5, 0.4, 0.3};
  info.preprocess.std = {0.2, 0.25, 0.3};
  info.preprocess.channel_order = bgr ? "BGR" : "RGB";
  SessionOptions o;
  o.device = device;
  o.precision = precision;
  o.size_policy = fit.policy;
  o.input_size = fit.size;
  o.cuda_graphs = graphs;
  return InferenceSession::from_net(it::make_net(model, 3), info, o);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && a.is_contiguous() && b.is_contiguous() &&
         std::memcmp(a.raw_data(), b.raw_data(), static_cast<size_t>(a.numel()) * dtype_size(a.dtype())) == 0;
}

TEST(SessionDeviceInput, OnTheCpuPrepareInputIsPreprocess) {
  const Tensor image = it::photo(37, 53);
  for (const Fit& fit : kFits) {
    SCOPED_TRACE(fit.name);
    InferenceSession s = session(fit, Device::cpu(), Precision::fp32, true);
    const Tensor x = s.prepare_input(image);
    EXPECT_TRUE(x.device().is_cpu());
    EXPECT_TRUE(same_bits(x, s.preprocess(image)));
  }
}

TEST(SessionDeviceInput, OnCudaTheDeviceKernelGivesTheHostPathsBits) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor image = it::photo(37, 53);
  for (const Fit& fit : kFits)
    for (Precision precision : {Precision::fp32, Precision::fp16, Precision::bf16})
      for (bool bgr : {false, true}) {
        SCOPED_TRACE(std::string(fit.name) + " " + precision_name(precision) + (bgr ? " BGR" : " RGB"));
        InferenceSession s = session(fit, Device::cuda(0), precision, bgr);
        const Tensor x = s.prepare_input(image);
        ASSERT_TRUE(x.device().is_cuda());
        ASSERT_EQ(x.dtype(), precision_dtype(precision));
        const Tensor want = ops::to_dtype(s.preprocess(image), precision_dtype(precision));
        EXPECT_TRUE(same_bits(x.to(Device::cpu()), want));
      }
}

// predict() on a photo runs the net on the device-made input: its logits are
// those of the same net on preprocess()'s float32 input.
TEST(SessionDeviceInput, OnCudaPredictRunsOnTheDeviceMadeInput) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor image = it::photo(37, 53);
  InferenceSession s = session(kFits[3], Device::cuda(0), Precision::fp32, false, false);
  const Tensor from_photo = s.predict(image, PredictOutput::logits);
  const Tensor from_host_input = s.predict(s.preprocess(image), PredictOutput::logits);
  EXPECT_EQ(from_photo.to_vector(), from_host_input.to_vector());
}

// Call 1 of a shape runs eagerly on this thread; call 2 captures the graph on
// a thread that has no cuDNN handle yet, which begin_capture's preparer
// (cuda/dnn.cpp) gives it before the capture opens.
TEST(SessionDeviceInput, OnCudaAGraphIsCapturedOnAFreshThread) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor image = it::photo(37, 53);
  InferenceSession s = session(kFits[3], Device::cuda(0), Precision::fp32, false);
  const Tensor first = s.predict(image, PredictOutput::logits);
  ASSERT_TRUE(s.last_forward().recorded);
  Tensor second;
  bool captured = false;
  std::string error;
  std::thread worker([&] {
    try {
      second = s.predict(image, PredictOutput::logits);
      captured = s.last_forward().graph_captured;
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  worker.join();
  ASSERT_EQ(error, "");
  EXPECT_TRUE(captured) << "graph_failed: " << s.last_forward().graph_failed;
  EXPECT_LE(ct::rel_l2(second, first), 1e-6);
  const Tensor third = s.predict(image, PredictOutput::logits);
  EXPECT_TRUE(s.last_forward().graph_replayed);
  EXPECT_LE(ct::rel_l2(third, first), 1e-6);
}

}  // namespace
}  // namespace cudaseg::infer
