// The label path with valid interpolation (ops/vim.h): PP-MobileSeg with
// upsample "vim" returns its eval logits at 1/16, and predict() resizes only
// the candidate classes, giving the labels of the same net resizing in full.
#include <gtest/gtest.h>

#include <vector>

#include "common/testing.h"
#include "infer/session.h"
#include "ops/reduce.h"
#include "ops/resize.h"
#include "tests/infer/infer_testing.h"

using namespace cudaseg;
using namespace cudaseg::infer;
namespace it = cudaseg::infer_testing;
namespace ct = cudaseg::testing;

TEST(SessionVim, PredictEqualsTheFullResizeOfTheSameNet) {
  nn::Json vim = {{"name", "pp_mobileseg"}, {"variant", "tiny"}, {"num_classes", 150}, {"upsample", "vim"}};
  nn::Json full = vim;
  full["upsample"] = "intepolate";
  SessionOptions o;
  o.size_policy = SizePolicy::keep;
  InferenceSession sv = InferenceSession::from_net(it::make_net(vim, 3), it::info_of(vim), o);
  InferenceSession sf = InferenceSession::from_net(it::make_net(full, 3), it::info_of(full), o);

  const Tensor pixels = ct::uniform({97, 131, 3}, 0, 255, 4, DType::f64).contiguous();
  std::vector<double> v(pixels.data<double>(), pixels.data<double>() + pixels.numel());
  for (double& x : v) x = static_cast<double>(static_cast<int>(x));
  const Tensor image = Tensor::from_vector(v, {97, 131, 3}, DType::u8);

  const Tensor x = sv.preprocess(image);
  const Tensor low = sv.logits(x);
  // AAM: the 1/8 map (13x17) halved by scale factor 0.5, floor as upstream
  EXPECT_EQ(low.shape(), (Shape{1, 150, 6, 8})) << "vim leaves the resize to the label path";
  const Tensor want = ops::argmax(ops::upsample_bilinear2d(low, {97, 131}, false), 1).reshape({97, 131});
  const Tensor got = sv.predict(image).contiguous(), ref = sf.predict(image).contiguous();
  ASSERT_EQ(got.shape(), (Shape{97, 131}));
  int64_t differ_full = 0, differ_ref = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    differ_full += got.data<int64_t>()[i] != want.contiguous().data<int64_t>()[i];
    differ_ref += got.data<int64_t>()[i] != ref.data<int64_t>()[i];
  }
  EXPECT_EQ(differ_full, 0);
  EXPECT_EQ(differ_ref, 0) << "the intepolate net's labels";
}
