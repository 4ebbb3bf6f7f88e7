// A malformed dataset stops rtseg_train cleanly: exit status 1, one line
// naming the file, and the last checkpoint left as it was. Trees are
// generated in a temp folder (layout of the "folder" dataset).
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/image_io.h"
#include "runtime/rng.h"
#include "cli/train_main.h"
#include "trainer_toy.h"
#include "weights/checkpoint.h"

using namespace cudaseg;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kSize = 16;

struct Result {
  int status;
  std::string err;
};

Result run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "rtseg_train");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int status = cli::train_main(static_cast<int>(argv.size()), argv.data(), out, err);
  return {status, err.str()};
}

bool one_line(const std::string& s) { return s.rfind("rtseg_train: ", 0) == 0 && s.find('\n') == s.size() - 1; }

// An image with a bright square of class 1 or 2 on a dark background, and its mask.
void write_sample(const fs::path& split, const std::string& stem, uint64_t seed) {
  fs::create_directories(split / "images");
  fs::create_directories(split / "masks");
  Tensor image = Tensor::empty({kSize, kSize, 3}, DType::u8), mask = Tensor::zeros({kSize, kSize}, DType::u8);
  Generator gen(seed);
  const Tensor noise = gen.uniform({kSize * kSize * 3}, 0, 40);
  const int64_t cls = 1 + static_cast<int64_t>(seed % 2), y0 = static_cast<int64_t>(seed % 5), x0 = 3;
  for (int64_t y = 0; y < kSize; ++y)
    for (int64_t x = 0; x < kSize; ++x) {
      const bool inside = y >= y0 && y < y0 + 8 && x >= x0 && x < x0 + 9;
      mask.data<uint8_t>()[y * kSize + x] = static_cast<uint8_t>(inside ? cls : 0);
      for (int64_t c = 0; c < 3; ++c) {
        const float base = inside && c == (cls == 1 ? 0 : 2) ? 200.f : 20.f;
        image.data<uint8_t>()[(y * kSize + x) * 3 + c] =
            static_cast<uint8_t>(base + noise.data<float>()[(y * kSize + x) * 3 + c]);
      }
    }
  write_png((split / "images" / (stem + ".png")).string(), image);
  write_png((split / "masks" / (stem + ".png")).string(), mask);
}

// A tree of 4 train and 2 val samples and a toy-net config reading it.
fs::path make_run(const fs::path& dir, int workers) {
  fs::remove_all(dir);
  for (int i = 0; i < 4; ++i) write_sample(dir / "data" / "train", "img" + std::to_string(i), 11 + i);
  for (int i = 0; i < 2; ++i) write_sample(dir / "data" / "val", "val" + std::to_string(i), 31 + i);
  nlohmann::json c = train_testing::toy_config();
  c["data"] = {{"dataset", "folder"}, {"root", (dir / "data").string()}, {"num_classes", 3}, {"workers", workers}};
  c["augment"] = {{"scale", {1.0, 1.0}}, {"flip", true}};
  c["train"]["iters"] = 2;
  c["train"]["batch_size"] = 2;
  c["train"]["val_interval"] = 0;
  c["schedule"]["warmup_iters"] = 0;
  const fs::path path = dir / "run.json";
  std::ofstream(path) << c.dump(2);
  return path;
}

std::string bytes(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

TEST(MalformedData, MissingMaskIsNamedBeforeTheRunStarts) {
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_malformed_missing_" + std::to_string(::getpid()));
  const fs::path config = make_run(dir, 0);
  fs::remove(dir / "data/train/masks/img2.png");
  const Result r = run_cli({config.string(), "--out", (dir / "out").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("masks/img2.png"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out" / "last.json"));
  fs::remove_all(dir);
}

// A bad mask met mid-run (after a checkpoint), read by a loader worker or in
// the training thread: the run stops, keeping the steps it trained.
TEST(MalformedData, BadMaskMidRunStopsAndKeepsTheCheckpoint) {
  for (int workers : {0, 2}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_malformed_midrun_" + std::to_string(::getpid()));
    const fs::path config = make_run(dir, workers);
    const fs::path out = dir / "out";
    ASSERT_EQ(run_cli({config.string(), "--out", out.string()}).status, 0);
    const std::string json = bytes(out / "last.json"), bin = bytes(out / "last.bin");

    // A label value out of range (7 with 3 classes, not the ignore index 255).
    Tensor bad = Tensor::zeros({kSize, kSize}, DType::u8);
    bad.data<uint8_t>()[kSize * 3 + 5] = 7;
    write_png((dir / "data/train/masks/img1.png").string(), bad);
    Result r = run_cli({config.string(), "--resume", out.string(), "--set", "train.iters=12"});
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(one_line(r.err.substr(r.err.rfind("rtseg_train: ")))) << r.err;
    const std::string last_line = r.err.substr(r.err.rfind("rtseg_train: "));
    EXPECT_NE(last_line.find("img1.png"), std::string::npos) << last_line;
    EXPECT_NE(last_line.find("value 7"), std::string::npos) << last_line;
    // Met at the first step after the checkpoint, it leaves the checkpoint as it
    // was; met later, the steps trained before it are saved first.
    const std::string last = (out / "last").string();
    const int64_t step = weights::load_checkpoint(last).train_state->step;
    if (step == 2) {
      EXPECT_NE(last_line.find("checkpoint " + last + " is intact"), std::string::npos) << last_line;
      EXPECT_EQ(bytes(out / "last.json"), json);
      EXPECT_EQ(bytes(out / "last.bin"), bin);
    } else {
      EXPECT_NE(last_line.find("the " + std::to_string(step) + " steps trained are saved in " + last +
                               ": continue with --resume " + out.string()),
                std::string::npos)
          << last_line;
    }
    const std::string kept_bin = bytes(out / "last.bin");

    // An image and mask of different sizes.
    write_png((dir / "data/train/masks/img1.png").string(), Tensor::zeros({kSize, kSize - 3}, DType::u8));
    r = run_cli({config.string(), "--resume", out.string(), "--set", "train.iters=12"});
    EXPECT_EQ(r.status, 1);
    const std::string size_line = r.err.substr(r.err.rfind("rtseg_train: "));
    EXPECT_TRUE(one_line(size_line)) << r.err;
    for (const char* part : {"img1.png", "16x16", "16x13"}) EXPECT_NE(size_line.find(part), std::string::npos) << size_line;
    const int64_t after = weights::load_checkpoint(last).train_state->step;
    EXPECT_GE(after, step);
    if (after == step) EXPECT_EQ(bytes(out / "last.bin"), kept_bin);
    fs::remove_all(dir);
  }
}
