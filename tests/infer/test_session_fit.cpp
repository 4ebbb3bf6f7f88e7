// Fitting photos of any size to the net (weights/checkpoint.h Preprocess::fit):
// STDC1 needs multiples of 32, yet a 97x131 photo gives labels at 97x131 by
// default, through the C++ session and the C API alike, and they equal the
// net on the manually zero-padded input, cropped; the fit is recorded in the
// checkpoint and overridable.
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "cudaseg_c.h"
#include "ops/reduce.h"
#include "tests/infer/infer_testing.h"
#include "tests/weights/helpers.h"
#include "infer/session.h"

namespace cudaseg::infer {
namespace {

namespace it = cudaseg::infer_testing;
namespace wt = cudaseg::weights::testing;

// cudaseg_predict of packed RGB into packed int32 labels.
cudaseg_status c_predict(cudaseg_session* s, const uint8_t* rgb, int width, int height, int32_t* labels) {
  const size_t pixels = static_cast<size_t>(width) * height;
  const cudaseg_image image{rgb, pixels * 3, width, height, 0, CUDASEG_FORMAT_RGB};
  const cudaseg_output output{labels, pixels * sizeof(int32_t), 0, CUDASEG_OUTPUT_LABELS_I32};
  return cudaseg_predict(s, &image, &output);
}

constexpr int64_t kH = 97, kW = 131;

struct Fit : ::testing::Test {
  void SetUp() override {
    path = dir.file("stdc1.json");
    weights::save_checkpoint(path, it::make_checkpoint(it::stdc1_model(), 5));
  }
  wt::TempDir dir;
  std::string path;
};

TEST(FitRegistry, NetsDeclareTheirSizeDivisor) {
  EXPECT_EQ(nn::size_divisor(it::stdc1_model()), 32);
  EXPECT_EQ(nn::size_divisor({{"name", "dfanet"}, {"num_classes", 2}}), 64);
  EXPECT_EQ(nn::size_divisor({{"name", "dfanet"}, {"num_classes", 2}, {"use_extra_backbone", false}}), 16);
  EXPECT_EQ(nn::size_divisor({{"name", "smp"}, {"num_classes", 2}, {"decoder", "pspnet"}}), 8);
  EXPECT_EQ(nn::size_divisor({{"name", "smp"}, {"num_classes", 2}, {"decoder", "unet"}}), 32);
  EXPECT_EQ(nn::size_divisor({{"name", "espnet"}, {"num_classes", 2}, {"arch_type", "espnet-a"}}), 1);
  it::register_test_net();
  EXPECT_EQ(nn::size_divisor(it::test_model()), 1);
}

TEST(FitCheckpoint, DefaultsRecordingAndValidation) {
  weights::Preprocess p;
  EXPECT_EQ(weights::resolved_fit(p), "pad");
  p.input_size = {224, 224};
  EXPECT_EQ(weights::resolved_fit(p), "resize");
  p.fit = "none";
  EXPECT_EQ(weights::resolved_fit(p), "none");
  p.fit = "crop";
  EXPECT_THROW(weights::resolved_fit(p), Error);
  p.fit = "resize";
  p.input_size.clear();
  EXPECT_THROW(weights::resolved_fit(p), Error);

  wt::TempDir dir;
  weights::Checkpoint ck = it::make_checkpoint(it::test_model(), 1);
  ck.preprocess.fit = "none";
  weights::save_checkpoint(dir.file("a.json"), ck);
  EXPECT_EQ(weights::load_checkpoint(dir.file("a.json")).preprocess.fit, "none");
  // A checkpoint from before `fit` keeps its manifest without the key.
  ck.preprocess.fit.clear();
  weights::save_checkpoint(dir.file("b.json"), ck);
  std::ostringstream manifest;
  manifest << std::ifstream(dir.file("b.json")).rdbuf();
  EXPECT_EQ(manifest.str().find("\"fit\""), std::string::npos);
  EXPECT_EQ(weights::load_checkpoint(dir.file("b.json")).preprocess.fit, "");
  ck.preprocess.fit = "stretch";
  EXPECT_THROW(weights::save_checkpoint(dir.file("c.json"), ck), Error);
}

TEST_F(Fit, DefaultPadsToTheDivisorAndCropsTheLogits) {
  InferenceSession s = InferenceSession::load(path);
  EXPECT_EQ(s.fit(), "pad");
  EXPECT_EQ(s.size_divisor(), 32);
  EXPECT_EQ(s.input_size_for(kH, kW), (std::array<int64_t, 2>{128, 160}));
  const Tensor image = it::photo(kH, kW);
  const Tensor labels = s.predict(image);
  ASSERT_EQ(labels.shape(), (Shape{kH, kW}));

  // The net on the photo's normalised pixels padded by hand with zeros.
  SessionOptions keep;
  keep.size_policy = SizePolicy::keep;
  InferenceSession plain = InferenceSession::load(path, keep);
  EXPECT_EQ(plain.fit(), "none");
  const Tensor x = plain.preprocess(image);
  ASSERT_EQ(x.shape(), (Shape{1, 3, kH, kW}));
  Tensor padded = Tensor::zeros({1, 3, 128, 160});
  Tensor(padded.narrow(2, 0, kH).narrow(3, 0, kW)).copy_(x);
  const Tensor logits = plain.logits(padded).narrow(2, 0, kH).narrow(3, 0, kW).contiguous();
  const Tensor expected = ops::argmax(logits, 1).reshape({kH, kW});
  const std::vector<double> ids = expected.to_vector();
  EXPECT_EQ(labels.to_vector(), ids);
  EXPECT_GE(std::set<double>(ids.begin(), ids.end()).size(), 2u);

  // Without the padding STDC1 refuses the photo.
  EXPECT_THROW(plain.predict(image), Error);
  // Photos of different sizes padded to the same input run as one batch.
  const std::vector<Tensor> batch = s.predict_batch({image, it::photo(100, 150)});
  EXPECT_EQ(batch[0].to_vector(), labels.to_vector());
  EXPECT_EQ(batch[1].shape(), (Shape{100, 150}));
}

// Logits and probabilities at the photo's size from the padded input; a
// normalised float input is padded as the photo is and gives the same.
TEST_F(Fit, LogitsProbabilitiesAndNormalisedInputAtThePhotoSize) {
  InferenceSession s = InferenceSession::load(path);
  const Tensor image = it::photo(kH, kW);
  const Tensor labels = s.predict(image);
  const Tensor logits = s.predict(image, PredictOutput::logits);
  ASSERT_EQ(logits.shape(), (Shape{4, kH, kW}));
  ASSERT_EQ(logits.dtype(), DType::f32);
  EXPECT_EQ(ops::argmax(logits, 0).to_vector(), labels.to_vector());
  const Tensor probs = s.predict(image, PredictOutput::probabilities);
  ASSERT_EQ(probs.shape(), (Shape{4, kH, kW}));
  for (double total : ops::sum(probs, {0}).to_vector()) ASSERT_NEAR(total, 1.0, 1e-5);

  SessionOptions keep;
  keep.size_policy = SizePolicy::keep;
  const Tensor x = InferenceSession::load(path, keep).preprocess(image);
  ASSERT_EQ(x.shape(), (Shape{1, 3, kH, kW}));
  EXPECT_EQ(s.preprocess(x).shape(), (Shape{1, 3, 128, 160}));
  EXPECT_EQ(s.predict(x, PredictOutput::logits).to_vector(), logits.to_vector());
  EXPECT_EQ(s.predict(x).to_vector(), labels.to_vector());
  EXPECT_THROW(s.predict(Tensor::zeros({1, 4, kH, kW})), Error);
}

TEST_F(Fit, CheckpointFitAndOptionsOverride) {
  weights::Checkpoint ck = it::make_checkpoint(it::stdc1_model(), 5);
  ck.preprocess.fit = "none";
  weights::save_checkpoint(dir.file("none.json"), ck);
  InferenceSession none = InferenceSession::load(dir.file("none.json"));
  EXPECT_EQ(none.fit(), "none");
  EXPECT_THROW(none.predict(it::photo(kH, kW)), Error);
  SessionOptions pad;
  pad.size_policy = SizePolicy::pad;
  InferenceSession padded = InferenceSession::load(dir.file("none.json"), pad);
  EXPECT_EQ(padded.predict(it::photo(kH, kW)).to_vector(),
            InferenceSession::load(path).predict(it::photo(kH, kW)).to_vector());

  // A recorded input size resizes by default; pad overrides it.
  ck.preprocess.fit.clear();
  ck.preprocess.input_size = {64, 96};
  weights::save_checkpoint(dir.file("sized.json"), ck);
  EXPECT_EQ(InferenceSession::load(dir.file("sized.json")).input_size_for(kH, kW), (std::array<int64_t, 2>{64, 96}));
  EXPECT_EQ(InferenceSession::load(dir.file("sized.json"), pad).input_size_for(kH, kW),
            (std::array<int64_t, 2>{128, 160}));
}

TEST_F(Fit, CApiDefaultOptionsGiveLabelsAtThePhotoSize) {
  const Tensor image = it::photo(kH, kW);
  const std::vector<int64_t> expected = [&] {
    const std::vector<double> v = InferenceSession::load(path).predict(image).to_vector();
    return std::vector<int64_t>(v.begin(), v.end());
  }();
  {
    cudaseg_options o;
    cudaseg_options_init(&o, sizeof o);
    cudaseg_session* s = nullptr;
    ASSERT_EQ(cudaseg_session_create(path.c_str(), &o, &s), CUDASEG_OK) << cudaseg_last_error();
    std::vector<int32_t> labels(kH * kW, -1);
    ASSERT_EQ(c_predict(s, image.data<uint8_t>(), kW, kH, labels.data()), CUDASEG_OK) << cudaseg_last_error();
    cudaseg_session_destroy(s);
    for (size_t i = 0; i < labels.size(); ++i) ASSERT_EQ(labels[i], expected[i]) << "pixel " << i;
  }
  cudaseg_options o;
  cudaseg_options_init(&o, sizeof o);
  o.keep_size = 1;
  cudaseg_session* s = nullptr;
  ASSERT_EQ(cudaseg_session_create(path.c_str(), &o, &s), CUDASEG_OK) << cudaseg_last_error();
  std::vector<int32_t> labels(kH * kW);
  EXPECT_EQ(c_predict(s, image.data<uint8_t>(), kW, kH, labels.data()), CUDASEG_ERROR_FAILED);
  EXPECT_NE(std::string(cudaseg_last_error()).find("multiples of 32"), std::string::npos) << cudaseg_last_error();
  cudaseg_session_destroy(s);
  o.input_height = 64;
  o.input_width = 96;
  EXPECT_EQ(cudaseg_session_create(path.c_str(), &o, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(cudaseg_last_error()).find("exclude each other"), std::string::npos) << cudaseg_last_error();
}

}  // namespace
}  // namespace cudaseg::infer
