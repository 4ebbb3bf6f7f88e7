// The FastSegFormer-E card's commands: an upstream-named state_dict (.pth, the
// zip torch.save writes) converts with the run config nets/fastsegformer_e.json,
// the checkpoint carries the net's 224x224 input and image/255 preprocessing,
// and rtseg_infer segments a 1920x1080 JPEG: resized to 224x224, labels back
// at 1920x1080, written as label, colour and overlay PNGs.
#include <gtest/gtest.h>

#include <filesystem>

#include "infer/session.h"
#include "nn/registry.h"
#include "runtime/image_io.h"
#include "tests/cli/cli_testing.h"
#include "tests/common/golden.h"
#include "tests/weights/helpers.h"
#include "weights/pth.h"

namespace cudaseg::infer {
namespace {

namespace it = cudaseg::infer_testing;
namespace wt = cudaseg::weights::testing;

const std::string kConfig = std::string(CUDASEG_SOURCE_DIR) + "/nets/fastsegformer_e.json";

TEST(FastSegFormerCard, ConvertThenInferA1080pPhoto) {
  wt::TempDir dir;
  auto net = nn::create_net({{"name", "fastsegformer"},
                             {"num_classes", 4},
                             {"backbone", "efficientformerV2_s0"},
                             {"Pyramid", "multiscale"},
                             {"cnn_branch", true}});
  cudaseg::testing::golden::fill_det_params(*net, 3);
  weights::TensorDict state;
  for (const auto& [name, t] : net->state_dict()) state.insert(name, t);
  const std::string pth = dir.file("FastSegFormer_E.pth"), bin = dir.file("fastsegformer_e.bin");
  weights::save_pth(pth, state);

  const auto conv = it::run_cli(cli::convert_main, "rtseg_convert", {pth, "--config", kConfig, "-o", bin});
  ASSERT_EQ(conv.status, 0) << conv.err;
  InferenceSession session = InferenceSession::load(bin);
  const weights::Preprocess& p = session.info().preprocess;
  EXPECT_EQ(p.input_size, (std::vector<int64_t>{224, 224}));
  EXPECT_EQ(p.mean, (std::vector<double>{0.0, 0.0, 0.0}));
  EXPECT_EQ(p.std, (std::vector<double>{1.0, 1.0, 1.0}));

  Tensor photo = Tensor::empty({1080, 1920, 3}, DType::u8);
  uint8_t* px = photo.data<uint8_t>();
  for (int64_t y = 0; y < 1080; ++y)
    for (int64_t x = 0; x < 1920; ++x)
      for (int64_t c = 0; c < 3; ++c)
        px[(y * 1920 + x) * 3 + c] = static_cast<uint8_t>((x / 7 + y / 5 + 60 * c) % 256);
  const std::string jpg = dir.file("orange.jpg"), out = dir.file("out");
  write_jpeg(jpg, photo);

  const auto r = it::infer({"--weights", bin, jpg, "--out", out});
  ASSERT_EQ(r.status, 0) << r.err;
  const Tensor label = read_image(out + "/orange_label.png", 1);
  EXPECT_EQ(label.shape(), (Shape{1080, 1920, 1}));
  EXPECT_EQ(read_image(out + "/orange_color.png").shape(), (Shape{1080, 1920, 3}));
  EXPECT_EQ(read_image(out + "/orange_overlay.png").shape(), (Shape{1080, 1920, 3}));
  // The labels are the session's: the photo / 255 at 224x224, resized back.
  EXPECT_EQ(label.reshape({1080, 1920}).to_vector(), session.predict(read_image(jpg)).to_vector());
}

}  // namespace
}  // namespace cudaseg::infer
