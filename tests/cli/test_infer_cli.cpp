// rtseg_infer: usage and runtime errors (statuses 2 and 1, one line), the
// three PNGs per image, the debug path's logit and layer dumps against the
// session, the video pipe through stand-in ffmpeg/ffprobe scripts and, where
// ffmpeg is installed, a real clip's round trip.
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/testing.h"
#include "runtime/image_io.h"
#include "runtime/thread_pool.h"
#include "tests/cli/cli_testing.h"
#include "tests/infer/infer_testing.h"
#include "tests/weights/helpers.h"
#include "weights/npy.h"

namespace cudaseg::infer {
namespace {

using namespace cudaseg::weights;

namespace it = cudaseg::infer_testing;
namespace wt = cudaseg::weights::testing;

// A scratch folder holding a checkpoint of the test net as m.json + m.bin.
struct Fixture {
  wt::TempDir dir;
  std::string weights = dir.file("m.json");
  Fixture() { save_checkpoint(weights, it::make_checkpoint(it::test_model(), 7)); }
};

TEST(InferCli, HelpAndUsageErrors) {
  const auto help = it::infer({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("usage: rtseg_infer"), std::string::npos);
  EXPECT_NE(help.out.find("--tf32 on|off"), std::string::npos);
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"a.png"},
      {"--weights", "w.json"},
      {"--weights", "w.json", "a.png", "--bogus"},
      {"--weights", "w.json", "a.png", "--batch", "0"},
      {"--weights", "w.json", "a.png", "--size", "12"},
      {"--weights", "w.json", "a.png", "--size", "4x4", "--keep-size"},
      {"--weights", "w.json", "a.png", "--alpha", "2"},
      {"--weights", "w.json", "a.png", "--precision", "fp16"},
      {"--weights", "w.json", "a.png", "--device", "gpu"},
      {"--weights", "w.json", "a.png", "--graphs", "yes"},
      {"--weights", "w.json", "a.png", "--tf32", "maybe"},
      {"--weights", "w.json", "a.png", "--threads", "0"},
      {"--weights", "w.json", "a.png", "--out"},
      {"--weights", "w.json", "--dump-logits", "y.npy"},
      {"--weights", "w.json", "--input-tensor", "x.npy"},
      {"--weights", "w.json", "--input-tensor", "x.npy", "--dump-layer", "stem"},
      {"--weights", "w.json", "--input-tensor", "x.npy", "--dump-logits", "y.npy", "a.png"},
      {"--weights", "w.json", "--video", "in.mp4"},
      {"--weights", "w.json", "--video", "in.mp4", "--out", "o.mp4", "a.png"},
  };
  for (const auto& args : bad) {
    const auto r = it::infer(args);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_TRUE(it::one_line(r.err)) << r.err;
    EXPECT_EQ(r.err.rfind("rtseg_infer: ", 0), 0u) << r.err;
  }
}

TEST(InferCli, RuntimeErrorsAreOneLineWithStatusOne) {
  Fixture f;
  Checkpoint wrong = it::make_checkpoint(it::test_model(), 7);
  wrong.model_json = it::test_model(6).dump();
  save_checkpoint(f.dir.file("wrong.json"), wrong);
  const std::string image = it::image_fixture("gradient_13x7.png");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--weights", f.dir.file("none.json"), image}, "none"},
      {{"--weights", f.dir.file("wrong.json"), image, "--out", f.dir.file("o")}, "net 'infer_test_net'"},
      {{"--weights", f.weights, f.dir.file("missing.png"), "--out", f.dir.file("o")}, "missing.png"},
      {{"--weights", f.weights, f.dir.file("*.jpeg"), "--out", f.dir.file("o")}, "no file matches"},
      {{"--weights", f.weights, it::image_fixture("not_an_image.png"), "--out", f.dir.file("o")}, "not_an_image"},
      {{"--weights", f.weights, "--input-tensor", f.dir.file("x.npy"), "--dump-logits", f.dir.file("y.npy")},
       "x.npy"},
  };
  for (const auto& [args, fragment] : cases) {
    const auto r = it::infer(args);
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(it::one_line(r.err)) << r.err;
    EXPECT_EQ(r.err.rfind("rtseg_infer: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  }
  EXPECT_FALSE(wt::file_exists(f.dir.file("y.npy")));
}

TEST(InferCli, ProgramExitStatuses) {
  const std::string program = it::program_path("rtseg_infer");
  ASSERT_TRUE(wt::file_exists(program)) << program;
  EXPECT_EQ(it::shell_status(program + " --help >/dev/null"), 0);
  EXPECT_EQ(it::shell_status(program + " --weights w.json 2>/dev/null"), 2);
  EXPECT_EQ(it::shell_status(program + " --weights /nonexistent/w.json x.png 2>/dev/null"), 1);
}

TEST(InferCli, WritesLabelColourAndOverlayPngs) {
  Fixture f;
  const std::string image_path = it::image_fixture("gradient_13x7.png");
  const std::string out = f.dir.file("out");
  const auto r = it::infer({"--weights", f.weights, image_path, it::image_fixture("gradient_13x7.bmp"), "--out", out,
                            "--alpha", "0.3", "--batch", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("latency"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("p99"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("images/s"), std::string::npos) << r.err;

  InferenceSession s = InferenceSession::load(f.weights);
  const Tensor image = read_image(image_path);
  const Tensor labels = s.predict(image);
  const Tensor label_file = read_image(out + "/gradient_13x7_label.png", 1);
  EXPECT_EQ(label_file.reshape({7, 13}).to_vector(), labels.to_vector());
  const Tensor color = read_image(out + "/gradient_13x7_color.png");
  EXPECT_EQ(color.to_vector(), colorize(labels, s.info().palette).to_vector());
  const std::vector<double> img = image.to_vector(), col = color.to_vector(),
                            over = read_image(out + "/gradient_13x7_overlay.png").to_vector();
  for (size_t i = 0; i < img.size(); ++i) ASSERT_EQ(over[i], std::round(img[i] * 0.7 + col[i] * 0.3)) << i;
  // The BMP twin has the same stem: its outputs get a suffix instead of overwriting.
  EXPECT_TRUE(wt::file_exists(out + "/gradient_13x7_2_overlay.png"));

  // --threads sets the CPU pool; the masks do not depend on it.
  const int before = num_threads();
  const auto one = it::infer({"--weights", f.weights, image_path, "--out", f.dir.file("one"), "--threads", "1"});
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(before);
  ASSERT_EQ(one.status, 0) << one.err;
  EXPECT_EQ(read_image(f.dir.file("one") + "/gradient_13x7_label.png", 1).to_vector(), label_file.to_vector());
}

TEST(InferCli, PaletteDefaults) {
  EXPECT_EQ(default_palette(19)[0], (std::array<uint8_t, 3>{128, 64, 128}));
  const Palette p = default_palette(7);
  ASSERT_EQ(p.size(), 7u);
  for (size_t i = 0; i < p.size(); ++i)
    for (size_t j = i + 1; j < p.size(); ++j) EXPECT_NE(p[i], p[j]) << i << " " << j;
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { colorize(Tensor::from_vector({0, 7}, {1, 2}, DType::i64), p); }, {"label 7", "7 colours"}));
}

TEST(InferCli, DumpLogitsEqualsSessionLogits) {
  Fixture f;
  const Tensor x = nn::det_uniform("input", {2, 3, 12, 10}, -1, 1, 4);
  write_npy(f.dir.file("x.npy"), x);
  const auto r = it::infer({"--weights", f.weights, "--input-tensor", f.dir.file("x.npy"), "--dump-logits",
                            f.dir.file("y.npy")});
  ASSERT_EQ(r.status, 0) << r.err;
  const Tensor y = read_npy(f.dir.file("y.npy"));
  InferenceSession s = InferenceSession::load(f.weights);
  EXPECT_EQ(y.dtype(), DType::f32);
  EXPECT_EQ(wt::hex_of(y), wt::hex_of(s.logits(x)));
}

TEST(InferCli, DumpLayerAndLayersMatchThePlainNet) {
  Fixture f;
  const Tensor x = nn::det_uniform("input", {1, 3, 12, 10}, -1, 1, 4);
  write_npy(f.dir.file("x.npy"), x);
  const auto r = it::infer({"--weights", f.weights, "--input-tensor", f.dir.file("x.npy"), "--dump-layer",
                            "block.bn_a", "--dump-layer-out", f.dir.file("z.npy"), "--dump-layers",
                            f.dir.file("layers.json")});
  ASSERT_EQ(r.status, 0) << r.err;

  nn::ModulePtr plain = it::make_net(it::test_model(), 7);
  nn::LayerRecorder rec(*plain, {"block.bn_a"});
  Tensor logits;
  {
    nn::ForwardHookGuard guard(&rec);
    autograd::NoGradGuard no_grad;
    logits = (*plain)(x);
  }
  EXPECT_EQ(wt::hex_of(read_npy(f.dir.file("z.npy"))), wt::hex_of(rec.captured().at("block.bn_a")));

  std::ifstream in(f.dir.file("layers.json"));
  const nlohmann::json doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc["format"], "cudaseg-layers");
  EXPECT_EQ(doc["source"], "cudaseg");
  EXPECT_EQ(doc["net"], "infer_test_net");
  EXPECT_EQ(doc["input_shape"], (std::vector<int64_t>{1, 3, 12, 10}));
  ASSERT_EQ(doc["layers"].size(), rec.records().size());
  for (size_t i = 0; i < rec.records().size(); ++i) {
    const auto& want = rec.records()[i];
    const auto& got = doc["layers"][i];
    EXPECT_EQ(got["name"], want.name);
    EXPECT_EQ(got["call"], want.call);
    EXPECT_EQ(got["type"], want.type);
    EXPECT_EQ(got["outputs"][0]["shape"], want.outputs[0].shape);
    EXPECT_DOUBLE_EQ(got["outputs"][0]["sum"].get<double>(), want.outputs[0].sum) << want.name;
    EXPECT_DOUBLE_EQ(got["outputs"][0]["sq_sum"].get<double>(), want.outputs[0].sq_sum) << want.name;
  }
  EXPECT_DOUBLE_EQ(doc["final"]["out"]["abs_sum"].get<double>(), nn::tensor_stats(logits).abs_sum);

  const auto unknown = it::infer({"--weights", f.weights, "--input-tensor", f.dir.file("x.npy"), "--dump-layer",
                                  "nope", "--dump-layer-out", f.dir.file("n.npy")});
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.err.find("no module 'nope'"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("block.conv_a"), std::string::npos) << unknown.err;
}

// ffprobe reports an 11x9 video at 25 fps; ffmpeg decodes by printing
// $FAKE_FRAMES and encodes by copying its input to the output file.
void write_fake_ffmpeg(const std::string& dir) {
  std::ofstream(dir + "/ffprobe") << "#!/bin/sh\necho 11,9,25/1\n";
  std::ofstream(dir + "/ffmpeg") << "#!/bin/sh\nfor last; do :; done\n"
                                    "case \" $* \" in\n  *\" -i - \"*) cat > \"$last\" ;;\n"
                                    "  *) cat \"$FAKE_FRAMES\" ;;\nesac\n";
  ASSERT_EQ(std::system(("chmod +x '" + dir + "/ffprobe' '" + dir + "/ffmpeg'").c_str()), 0);
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) ::setenv(name_, old_.c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  bool had_;
  std::string old_;
};

TEST(InferCli, VideoThroughFfmpegPipes) {
  Fixture f;
  const std::string bin = f.dir.file("bin");
  ASSERT_EQ(std::system(("mkdir -p '" + bin + "'").c_str()), 0);
  write_fake_ffmpeg(bin);
  const int frames = 5;
  const Tensor raw = nn::det_uniform("frames", {frames, 9, 11, 3}, 0, 255, 1).to(DType::u8);
  wt::write_bytes(f.dir.file("frames.rgb"), contiguous_bytes(raw));
  ScopedEnv frames_env("FAKE_FRAMES", f.dir.file("frames.rgb"));
  {
    ScopedEnv path("PATH", bin + ":/usr/bin:/bin");
    const auto r = it::infer({"--weights", f.weights, "--video", f.dir.file("in.mp4"), "--out",
                              f.dir.file("out.mp4"), "--batch", "2", "--alpha", "0.25"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("5 frames"), std::string::npos) << r.out;
  }
  const std::vector<uint8_t> written = wt::read_bytes(f.dir.file("out.mp4"));
  ASSERT_EQ(written.size(), static_cast<size_t>(frames * 9 * 11 * 3));
  InferenceSession s = InferenceSession::load(f.weights);
  for (int k = 0; k < frames; ++k) {
    const Tensor frame = raw.select(0, k).contiguous();
    const std::vector<uint8_t> want =
        contiguous_bytes(overlay(frame, colorize(s.predict(frame), s.info().palette), 0.25));
    EXPECT_TRUE(std::equal(want.begin(), want.end(), written.begin() + k * want.size())) << "frame " << k;
  }

  ScopedEnv empty_path("PATH", f.dir.file("nothing"));
  const auto missing = it::infer({"--weights", f.weights, "--video", "in.mp4", "--out", f.dir.file("o.mp4")});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("needs ffmpeg, which is not on PATH"), std::string::npos) << missing.err;
}

std::string run_capture(const std::string& command) {
  std::string text;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return text;
  char buf[256];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) text.append(buf, n);
  ::pclose(p);
  return text;
}

// "width,height,rate,frames" of the first video stream, frames counted by decoding.
std::string probe_stream(const std::string& file) {
  return run_capture("ffprobe -v error -select_streams v:0 -count_frames -show_entries "
                     "stream=width,height,r_frame_rate,nb_read_frames -of csv=p=0 '" + file + "'");
}

TEST(InferCli, RealVideoKeepsFrameCountRateAndSize) {
  if (it::shell_status("command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null") != 0)
    GTEST_SKIP() << "skipped: ffmpeg and ffprobe are not on PATH (scripts/setup.sh installs them)";
  Fixture f;
  // An even size at a fractional rate, and an odd size (no 4:2:0 chroma).
  for (const auto& [size, rate, pix_fmt, want] :
       std::vector<std::array<std::string, 4>>{{"70x46", "12.5", "yuv420p", "70,46,25/2,10\n"},
                                               {"71x45", "7", "yuv444p", "71,45,7/1,10\n"}}) {
    SCOPED_TRACE(size);
    const std::string in = f.dir.file("in_" + size + ".mp4"), out = f.dir.file("out_" + size + ".mp4");
    ASSERT_EQ(it::shell_status("ffmpeg -v error -nostdin -y -f lavfi -i testsrc=size=" + size + ":rate=" + rate +
                               " -frames:v 10 -c:v libx264 -pix_fmt " + pix_fmt + " '" + in + "'"),
              0);
    ASSERT_EQ(probe_stream(in), want);
    const auto r = it::infer({"--weights", f.weights, "--video", in, "--out", out, "--batch", "3", "--quiet"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(probe_stream(out), want);
  }
}

// A folder with an unreadable image used to stop at it: the images after it
// and, with --batch 2, the good one batched with it were never written.
TEST(InferCli, FolderContinuesPastABadImageAndListsFailures) {
  Fixture f;
  const std::string in = f.dir.file("in");
  std::filesystem::create_directories(in);
  std::filesystem::copy_file(it::image_fixture("gradient_13x7.png"), in + "/a.png");
  std::filesystem::copy_file(it::image_fixture("not_an_image.png"), in + "/b.png");
  std::filesystem::copy_file(it::image_fixture("gradient_13x7.png"), in + "/c.png");
  std::filesystem::copy_file(it::image_fixture("gradient_13x7_truncated.png"), in + "/d.png");
  std::filesystem::copy_file(it::image_fixture("gradient_13x7.png"), in + "/e.png");
  for (const std::string batch : {"1", "2"}) {
    SCOPED_TRACE("--batch " + batch);
    const std::string out = f.dir.file("out" + batch);
    const auto r = it::infer({"--weights", f.weights, in, "--out", out, "--batch", batch, "--quiet"});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(it::one_line(r.err)) << r.err;
    EXPECT_EQ(r.err.rfind("rtseg_infer: 2 of 5 inputs failed: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("b.png"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("d.png"), std::string::npos) << r.err;
    for (const char* good : {"a", "c", "e"}) EXPECT_TRUE(wt::file_exists(out + "/" + good + "_label.png")) << good;
    for (const char* bad : {"b", "d"}) EXPECT_FALSE(wt::file_exists(out + "/" + bad + "_label.png")) << bad;
    EXPECT_NE(r.out.find("3 images"), std::string::npos) << r.out;
  }
}

TEST(InferCli, UnsafeOrForeignWeightsEndWithOneClearLine) {
  Fixture f;
  const std::string image = it::image_fixture("gradient_13x7.png");
  Checkpoint nan = it::make_checkpoint(it::test_model(), 7);
  const std::string first = nan.tensors.begin()->first;
  TensorDict poisoned;
  for (const auto& [name, t] : nan.tensors) {
    std::vector<double> values = t.to_vector();
    if (name == first) values[0] = std::nan("");
    poisoned.insert(name, Tensor::from_vector(values, t.shape(), t.dtype()));
  }
  nan.tensors = poisoned;
  save_checkpoint(f.dir.file("nan.json"), nan);
  const auto refused = it::infer({"--weights", f.dir.file("nan.json"), image, "--out", f.dir.file("o1")});
  EXPECT_EQ(refused.status, 1);
  EXPECT_TRUE(it::one_line(refused.err)) << refused.err;
  EXPECT_NE(refused.err.find("nan.json: tensor '" + first + "': element 0 is NaN or Inf"), std::string::npos)
      << refused.err;
  EXPECT_EQ(it::infer({"--weights", f.dir.file("nan.json"), image, "--out", f.dir.file("o2"), "--allow-nonfinite"})
                .status,
            0);
  const auto pth = it::infer({"--weights", wt::pth_fixture("dtypes.pth"), image, "--out", f.dir.file("o3")});
  EXPECT_EQ(pth.status, 1);
  EXPECT_NE(pth.err.find("dtypes.pth: a PyTorch checkpoint (torch.save), not a cudaseg checkpoint; convert it first"),
            std::string::npos)
      << pth.err;
  const auto dir = it::infer({"--weights", f.dir.path(), image, "--out", f.dir.file("o4")});
  EXPECT_EQ(dir.status, 1);
  EXPECT_NE(dir.err.find("is a directory"), std::string::npos) << dir.err;
  EXPECT_EQ(it::infer({"--weights", f.weights, image, "--out", f.dir.file("o5"), "--no-verify"}).status, 0);
}

}  // namespace
}  // namespace cudaseg::infer
