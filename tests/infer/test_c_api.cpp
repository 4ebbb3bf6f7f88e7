// The C API (include/cudaseg_c.h): predict equals InferenceSession::predict,
// options reach the session, every failure is a status plus a thread-local
// message naming the function, and the image helpers round-trip.
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cudaseg_c.h"
#include "runtime/version.h"
#include "tests/infer/infer_testing.h"
#include "tests/weights/helpers.h"
#include "infer/session.h"
#include "infer/visual.h"

namespace cudaseg::infer {
namespace {

using namespace cudaseg::weights;

namespace it = cudaseg::infer_testing;
namespace wt = cudaseg::weights::testing;

bool error_mentions(const std::vector<std::string>& parts) {
  const std::string e = cudaseg_last_error();
  for (const auto& p : parts)
    if (e.find(p) == std::string::npos) return false;
  return true;
}

// cudaseg_predict of packed RGB into packed int32 labels.
cudaseg_status c_predict(cudaseg_session* s, const uint8_t* rgb, int width, int height, int32_t* labels) {
  const size_t pixels = static_cast<size_t>(width) * height;
  const cudaseg_image image{rgb, pixels * 3, width, height, 0, CUDASEG_FORMAT_RGB};
  const cudaseg_output output{labels, pixels * sizeof(int32_t), 0, CUDASEG_OUTPUT_LABELS_I32};
  return cudaseg_predict(s, &image, &output);
}

std::vector<uint8_t> random_rgb(int width, int height, uint64_t seed) {
  const Tensor t = wt::random_tensor({height, width, 3}, DType::u8, seed).contiguous();
  const auto* p = t.data<uint8_t>();
  return {p, p + t.numel()};
}

struct CheckpointFixture : ::testing::Test {
  void SetUp() override {
    path = dir.file("m.json");
    save_checkpoint(path, it::make_checkpoint(it::test_model(), 7));
  }
  wt::TempDir dir;
  std::string path;
};

using CApi = CheckpointFixture;

TEST_F(CApi, PredictEqualsSessionAtSourceSize) {
  const int width = 19, height = 11;
  const std::vector<uint8_t> rgb = random_rgb(width, height, 3);
  for (const auto& [h, w] : std::vector<std::pair<int, int>>{{0, 0}, {8, 12}}) {
    cudaseg_options o;
    cudaseg_options_init(&o, sizeof o);
    o.input_height = h;
    o.input_width = w;
    cudaseg_session* s = nullptr;
    ASSERT_EQ(cudaseg_session_create(path.c_str(), &o, &s), CUDASEG_OK) << cudaseg_last_error();
    EXPECT_EQ(cudaseg_num_classes(s), 5);
    std::vector<int32_t> labels(width * height, -1);
    ASSERT_EQ(c_predict(s, rgb.data(), width, height, labels.data()), CUDASEG_OK) << cudaseg_last_error();
    cudaseg_session_destroy(s);

    SessionOptions so;
    if (h) so.size_policy = SizePolicy::fixed, so.input_size = {h, w};
    InferenceSession ref = InferenceSession::load(path, so);
    Tensor image = Tensor::empty({height, width, 3}, DType::u8);
    std::memcpy(image.raw_data(), rgb.data(), rgb.size());
    const std::vector<double> expected = ref.predict(image).to_vector();
    ASSERT_EQ(expected.size(), labels.size());
    for (size_t i = 0; i < labels.size(); ++i) ASSERT_EQ(labels[i], expected[i]) << "pixel " << i << " size " << h;
    EXPECT_GE(std::set<int32_t>(labels.begin(), labels.end()).size(), 2u);
  }
}

TEST_F(CApi, NullOptionsMeanDefaults) {
  cudaseg_session* s = nullptr;
  ASSERT_EQ(cudaseg_session_create(path.c_str(), nullptr, &s), CUDASEG_OK) << cudaseg_last_error();
  EXPECT_EQ(cudaseg_num_classes(s), 5);
  cudaseg_session_destroy(s);
}

TEST_F(CApi, FailuresAreStatusesWithMessages) {
  cudaseg_session* s = reinterpret_cast<cudaseg_session*>(&s);
  EXPECT_EQ(cudaseg_session_create((path + ".missing").c_str(), nullptr, &s), CUDASEG_ERROR_FAILED);
  EXPECT_EQ(s, nullptr);
  EXPECT_TRUE(error_mentions({"cudaseg_session_create: ", "m.json.missing"})) << cudaseg_last_error();

  EXPECT_EQ(cudaseg_session_create(nullptr, nullptr, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions({"cudaseg_session_create: weights_path is NULL"})) << cudaseg_last_error();
  EXPECT_EQ(cudaseg_session_create(path.c_str(), nullptr, nullptr), CUDASEG_ERROR_INVALID_ARGUMENT);

  cudaseg_options o;
  cudaseg_options_init(&o, sizeof o);
  o.precision = "int8";
  EXPECT_EQ(cudaseg_session_create(path.c_str(), &o, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions({"int8"})) << cudaseg_last_error();
  cudaseg_options_init(&o, sizeof o);
  o.device = "tpu";
  EXPECT_EQ(cudaseg_session_create(path.c_str(), &o, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions({"tpu"})) << cudaseg_last_error();
  cudaseg_options_init(&o, sizeof o);
  o.input_height = 8;
  EXPECT_EQ(cudaseg_session_create(path.c_str(), &o, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions({"must both be positive"})) << cudaseg_last_error();
  o.input_width = 8;
  o.keep_size = 1;
  EXPECT_EQ(cudaseg_session_create(path.c_str(), &o, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  cudaseg_options_init(&o, sizeof o);
  o.precision = "fp16";
  EXPECT_EQ(cudaseg_session_create(path.c_str(), &o, &s), CUDASEG_ERROR_FAILED);
  EXPECT_TRUE(error_mentions({"fp16 needs a CUDA device"})) << cudaseg_last_error();
  EXPECT_EQ(s, nullptr);

  ASSERT_EQ(cudaseg_session_create(path.c_str(), nullptr, &s), CUDASEG_OK);
  const std::vector<uint8_t> rgb = random_rgb(4, 4, 1);
  std::vector<int32_t> labels(16);
  EXPECT_EQ(c_predict(s, rgb.data(), 0, 4, labels.data()), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions({"cudaseg_predict: image: width and height must be positive"})) << cudaseg_last_error();
  EXPECT_EQ(c_predict(s, nullptr, 4, 4, labels.data()), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(c_predict(s, rgb.data(), 4, 4, nullptr), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(c_predict(nullptr, rgb.data(), 4, 4, labels.data()), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(c_predict(s, rgb.data(), 4, 4, labels.data()), CUDASEG_OK);
  cudaseg_session_destroy(s);
  cudaseg_session_destroy(nullptr);
  EXPECT_EQ(cudaseg_num_classes(nullptr), -1);
  EXPECT_TRUE(error_mentions({"cudaseg_num_classes: session is NULL"})) << cudaseg_last_error();
}

TEST_F(CApi, DoubleDestroyAndUseAfterDestroyAreStatuses) {
  cudaseg_session* s = nullptr;
  ASSERT_EQ(cudaseg_session_create(path.c_str(), nullptr, &s), CUDASEG_OK) << cudaseg_last_error();
  const std::vector<uint8_t> rgb = random_rgb(4, 4, 1);
  std::vector<int32_t> labels(16);
  EXPECT_EQ(cudaseg_session_destroy(s), CUDASEG_OK);
  EXPECT_EQ(cudaseg_session_destroy(s), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions({"cudaseg_session_destroy: session is not live"})) << cudaseg_last_error();
  EXPECT_EQ(c_predict(s, rgb.data(), 4, 4, labels.data()), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions({"cudaseg_predict: session is not live"})) << cudaseg_last_error();
  EXPECT_EQ(cudaseg_num_classes(s), -1);
  EXPECT_TRUE(error_mentions({"cudaseg_num_classes: session is not live"})) << cudaseg_last_error();

  // A new session never revives an old handle, whatever the allocator reuses.
  cudaseg_session* next = nullptr;
  ASSERT_EQ(cudaseg_session_create(path.c_str(), nullptr, &next), CUDASEG_OK) << cudaseg_last_error();
  EXPECT_NE(next, s);
  EXPECT_EQ(c_predict(s, rgb.data(), 4, 4, labels.data()), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(c_predict(next, rgb.data(), 4, 4, labels.data()), CUDASEG_OK) << cudaseg_last_error();
  EXPECT_EQ(cudaseg_num_classes(next), 5);

  // A pointer the library never returned is refused without being read.
  int not_a_session = 0;
  auto* forged = reinterpret_cast<cudaseg_session*>(&not_a_session);
  EXPECT_EQ(c_predict(forged, rgb.data(), 4, 4, labels.data()), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(cudaseg_session_destroy(forged), CUDASEG_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(cudaseg_session_destroy(nullptr), CUDASEG_OK);
  EXPECT_EQ(cudaseg_session_destroy(next), CUDASEG_OK);
}

TEST_F(CApi, DestroyWhilePredictingOnAnotherThreadWaitsForIt) {
  cudaseg_session* s = nullptr;
  ASSERT_EQ(cudaseg_session_create(path.c_str(), nullptr, &s), CUDASEG_OK) << cudaseg_last_error();
  const std::vector<uint8_t> rgb = random_rgb(64, 48, 2);
  std::vector<cudaseg_status> statuses(20, CUDASEG_OK);
  std::thread predictor([&] {
    std::vector<int32_t> labels(64 * 48);
    for (auto& status : statuses) status = c_predict(s, rgb.data(), 64, 48, labels.data());
  });
  EXPECT_EQ(cudaseg_session_destroy(s), CUDASEG_OK);
  predictor.join();
  // Each call either ran on the live session or found it destroyed; none read freed memory (ASan/valgrind).
  bool destroyed = false;
  for (cudaseg_status status : statuses) {
    if (destroyed) EXPECT_EQ(status, CUDASEG_ERROR_INVALID_ARGUMENT);
    if (status == CUDASEG_ERROR_INVALID_ARGUMENT) destroyed = true;
    else EXPECT_EQ(status, CUDASEG_OK);
  }
}

TEST(CApiErrors, LastErrorIsPerThread) {
  cudaseg_session* s = nullptr;
  EXPECT_EQ(cudaseg_session_create(nullptr, nullptr, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  const std::string mine = cudaseg_last_error();
  std::string other_before, other_after;
  std::thread([&] {
    other_before = cudaseg_last_error();
    cudaseg_read_image(nullptr, nullptr, nullptr, nullptr);
    other_after = cudaseg_last_error();
  }).join();
  EXPECT_EQ(other_before, "");
  EXPECT_NE(other_after.find("cudaseg_read_image: path is NULL"), std::string::npos) << other_after;
  EXPECT_EQ(cudaseg_last_error(), mine);
}

TEST(CApiImages, WriteReadRoundTripAndBadFiles) {
  wt::TempDir dir;
  const int width = 7, height = 5;
  const std::vector<uint8_t> rgb = random_rgb(width, height, 11);
  const std::string file = dir.file("x.png");
  ASSERT_EQ(cudaseg_write_png(file.c_str(), rgb.data(), rgb.size(), width, height, 0, 3), CUDASEG_OK) << cudaseg_last_error();
  uint8_t* back = nullptr;
  int w = 0, h = 0;
  ASSERT_EQ(cudaseg_read_image(file.c_str(), &back, &w, &h), CUDASEG_OK) << cudaseg_last_error();
  EXPECT_EQ(w, width);
  EXPECT_EQ(h, height);
  EXPECT_EQ(std::vector<uint8_t>(back, back + rgb.size()), rgb);
  cudaseg_free(back);
  cudaseg_free(nullptr);

  // Grey: one byte per pixel comes back as R = G = B.
  ASSERT_EQ(cudaseg_write_png(file.c_str(), rgb.data(), rgb.size(), width, height, 0, 1), CUDASEG_OK);
  ASSERT_EQ(cudaseg_read_image(file.c_str(), &back, &w, &h), CUDASEG_OK);
  for (int i = 0; i < width * height; ++i) ASSERT_EQ(back[3 * i + 1], rgb[i]) << i;
  cudaseg_free(back);

  EXPECT_EQ(cudaseg_write_png(file.c_str(), rgb.data(), rgb.size(), width, height, 0, 5), CUDASEG_ERROR_INVALID_ARGUMENT);
  back = reinterpret_cast<uint8_t*>(&w);
  EXPECT_EQ(cudaseg_read_image(it::image_fixture("not_an_image.png").c_str(), &back, &w, &h), CUDASEG_ERROR_FAILED);
  EXPECT_EQ(back, nullptr);
  EXPECT_TRUE(error_mentions({"cudaseg_read_image: ", "not_an_image.png"})) << cudaseg_last_error();
}

// cudaseg_options.tf32 reaches the session: the net's forward sees the
// calling thread's TF32 setting on, and the thread's setting is back after.
TEST(CApiInfo, Tf32OptionReachesTheForward) {
  wt::TempDir dir;
  const std::string path = dir.file("probe.json");
  save_checkpoint(path, it::make_checkpoint({{"name", "tf32_probe_net"}, {"num_classes", 2}}, 3));
  const std::vector<uint8_t> rgb = random_rgb(5, 4, 1);
  std::vector<int32_t> labels(5 * 4);
  for (const int tf32 : {1, 0}) {
    cudaseg_options o;
    cudaseg_options_init(&o, sizeof o);
    o.tf32 = tf32;
    cudaseg_session* s = nullptr;
    ASSERT_EQ(cudaseg_session_create(path.c_str(), &o, &s), CUDASEG_OK) << cudaseg_last_error();
    it::Tf32Probe::seen().clear();
    ASSERT_EQ(c_predict(s, rgb.data(), 5, 4, labels.data()), CUDASEG_OK) << cudaseg_last_error();
    cudaseg_session_destroy(s);
    ASSERT_EQ(it::Tf32Probe::seen().size(), 1u);
    EXPECT_EQ(it::Tf32Probe::seen()[0], tf32 == 1);
    EXPECT_FALSE(allow_tf32());
  }
}

TEST(CApiInfo, VersionOptionsAndStatusNames) {
  EXPECT_EQ(std::string(cudaseg_version()), cudaseg::version());
  cudaseg_options o;
  std::memset(&o, 0x5a, sizeof o);
  cudaseg_options_init(&o, sizeof o);
  EXPECT_STREQ(o.device, "cpu");
  EXPECT_STREQ(o.precision, "fp32");
  EXPECT_EQ(o.input_height, 0);
  EXPECT_EQ(o.input_width, 0);
  EXPECT_EQ(o.keep_size, 0);
  EXPECT_EQ(o.fuse, 1);
  EXPECT_EQ(o.cuda_graphs, 1);
  EXPECT_EQ(o.tf32, 0);
  EXPECT_EQ(o.num_threads, 0);
  EXPECT_EQ(o.pad, 0);
  EXPECT_EQ(o.struct_size, sizeof o);
  cudaseg_options_init(nullptr, sizeof o);
  EXPECT_EQ(cudaseg_api_version(), static_cast<uint32_t>(CUDASEG_API_VERSION));
  EXPECT_STREQ(cudaseg_status_string(CUDASEG_OK), "ok");
  EXPECT_STREQ(cudaseg_status_string(CUDASEG_ERROR_INVALID_ARGUMENT), "invalid argument");
  EXPECT_STREQ(cudaseg_status_string(CUDASEG_ERROR_OUT_OF_MEMORY), "out of memory");
  EXPECT_STREQ(cudaseg_status_string(CUDASEG_ERROR_BUFFER_TOO_SMALL), "buffer too small");
  EXPECT_STREQ(cudaseg_status_string(static_cast<cudaseg_status>(99)), "unknown status");
}

// The queries of a net with a size divisor (STDC1: 32), padded by default
// and resized to the checkpoint's size when it records one.
TEST(CApiInfo, QueriesReportTheDivisorAndTheResizeSize) {
  wt::TempDir dir;
  const std::string path = dir.file("stdc.json");
  weights::Checkpoint ck = it::make_checkpoint(it::stdc1_model(), 5);
  save_checkpoint(path, ck);
  cudaseg_session* s = nullptr;
  ASSERT_EQ(cudaseg_session_create(path.c_str(), nullptr, &s), CUDASEG_OK) << cudaseg_last_error();
  int32_t divisor = 0, h = -1, w = -1;
  ASSERT_EQ(cudaseg_size_divisor(s, &divisor), CUDASEG_OK);
  EXPECT_EQ(divisor, 32);
  ASSERT_EQ(cudaseg_input_size(s, &h, &w), CUDASEG_OK);
  EXPECT_EQ(h, 0);
  EXPECT_EQ(w, 0);
  EXPECT_EQ(cudaseg_session_destroy(s), CUDASEG_OK);

  ck.preprocess.input_size = {64, 96};
  save_checkpoint(path, ck);
  ASSERT_EQ(cudaseg_session_create(path.c_str(), nullptr, &s), CUDASEG_OK) << cudaseg_last_error();
  ASSERT_EQ(cudaseg_input_size(s, &h, &w), CUDASEG_OK);
  EXPECT_EQ(h, 64);
  EXPECT_EQ(w, 96);
  EXPECT_EQ(cudaseg_session_destroy(s), CUDASEG_OK);
  // pad overrides the checkpoint's resize.
  cudaseg_options o;
  cudaseg_options_init(&o, sizeof o);
  o.pad = 1;
  ASSERT_EQ(cudaseg_session_create(path.c_str(), &o, &s), CUDASEG_OK) << cudaseg_last_error();
  ASSERT_EQ(cudaseg_input_size(s, &h, &w), CUDASEG_OK);
  EXPECT_EQ(h, 0);
  EXPECT_EQ(w, 0);
  EXPECT_EQ(cudaseg_session_destroy(s), CUDASEG_OK);
}

// Without a palette in the checkpoint, cudaseg_palette gives the default one.
TEST(CApiInfo, PaletteFallsBackToTheDefault) {
  wt::TempDir dir;
  const std::string path = dir.file("m.json");
  weights::Checkpoint ck = it::make_checkpoint(it::test_model(8, 19), 7);
  ck.palette.clear();
  ck.class_names.clear();
  save_checkpoint(path, ck);
  cudaseg_session* s = nullptr;
  ASSERT_EQ(cudaseg_session_create(path.c_str(), nullptr, &s), CUDASEG_OK) << cudaseg_last_error();
  std::vector<uint8_t> rgb(19 * 3);
  ASSERT_EQ(cudaseg_palette(s, rgb.data(), rgb.size()), CUDASEG_OK) << cudaseg_last_error();
  const Palette expected = default_palette(19);
  for (size_t c = 0; c < expected.size(); ++c)
    for (size_t k = 0; k < 3; ++k) EXPECT_EQ(rgb[3 * c + k], expected[c][k]) << c;
  char name[4] = "xyz";
  size_t length = 9;
  ASSERT_EQ(cudaseg_class_name(s, 2, name, sizeof name, &length), CUDASEG_OK);
  EXPECT_STREQ(name, "");
  EXPECT_EQ(length, 0u);
  EXPECT_EQ(cudaseg_session_destroy(s), CUDASEG_OK);
}

}  // namespace
}  // namespace cudaseg::infer
