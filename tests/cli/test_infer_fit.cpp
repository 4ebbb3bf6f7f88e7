// rtseg_infer on a photo whose size the net does not accept: STDC1 needs
// multiples of 32, a 97x131 PNG gives 97x131 labels by default (the photo
// padded to the divisor, the logits cropped back), --pad and --resize
// override the checkpoint's fit, --keep-size runs the photo as it is.
#include <gtest/gtest.h>

#include "infer/session.h"
#include "runtime/image_io.h"
#include "tests/cli/cli_testing.h"
#include "tests/infer/infer_testing.h"
#include "tests/weights/helpers.h"

namespace cudaseg::infer {
namespace {

namespace it = cudaseg::infer_testing;
namespace wt = cudaseg::weights::testing;

TEST(InferFit, AnyPhotoSizeRunsByDefault) {
  wt::TempDir dir;
  const std::string weights = dir.file("stdc1.json"), photo = dir.file("photo.png");
  weights::save_checkpoint(weights, it::make_checkpoint(it::stdc1_model(), 5));
  write_png(photo, it::photo(97, 131));

  const auto r = it::infer({"--weights", weights, photo, "--out", dir.file("out"), "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  const Tensor label = read_image(dir.file("out") + "/photo_label.png", 1);
  ASSERT_EQ(label.shape(), (Shape{97, 131, 1}));
  EXPECT_EQ(read_image(dir.file("out") + "/photo_overlay.png").shape(), (Shape{97, 131, 3}));
  // The session's labels, which test_infer's Fit tests hold against the net on the hand-padded photo.
  EXPECT_EQ(label.reshape({97, 131}).to_vector(), InferenceSession::load(weights).predict(read_image(photo)).to_vector());

  const auto pad = it::infer({"--weights", weights, photo, "--out", dir.file("pad"), "--pad", "--quiet"});
  ASSERT_EQ(pad.status, 0) << pad.err;
  EXPECT_EQ(read_image(dir.file("pad") + "/photo_label.png", 1).to_vector(), label.to_vector());

  const auto resized = it::infer({"--weights", weights, photo, "--out", dir.file("rs"), "--resize", "64x96", "--quiet"});
  ASSERT_EQ(resized.status, 0) << resized.err;
  SessionOptions o;
  o.size_policy = SizePolicy::fixed;
  o.input_size = {64, 96};
  EXPECT_EQ(read_image(dir.file("rs") + "/photo_label.png", 1).reshape({97, 131}).to_vector(),
            InferenceSession::load(weights, o).predict(read_image(photo)).to_vector());

  const auto keep = it::infer({"--weights", weights, photo, "--out", dir.file("keep"), "--keep-size", "--quiet"});
  EXPECT_EQ(keep.status, 1);
  EXPECT_NE(keep.err.find("multiples of 32"), std::string::npos) << keep.err;

  const auto both = it::infer({"--weights", weights, photo, "--pad", "--resize", "64x96"});
  EXPECT_EQ(both.status, 2);
  EXPECT_NE(both.err.find("exclude each other"), std::string::npos) << both.err;
  const auto help = it::infer({"--help"});
  EXPECT_NE(help.out.find("--pad"), std::string::npos);
  EXPECT_NE(help.out.find("--resize HxW"), std::string::npos);
}

}  // namespace
}  // namespace cudaseg::infer
