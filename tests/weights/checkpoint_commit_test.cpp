// A checkpoint save is one commit: a crash at any of its steps leaves wholly
// the old or wholly the new checkpoint, stale files go at the next save, and
// a load verifies each tensor's checksum and refuses non-finite weights.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "runtime/atomic_file.h"
#include "tests/weights/helpers.h"
#include "weights/checkpoint.h"

namespace cudaseg::weights {
namespace {

using nlohmann::json;
using testing::TempDir;
namespace fs = std::filesystem;

Checkpoint sample(uint64_t seed) {
  Checkpoint ck;
  ck.model_json = R"({"name": "stdc", "num_classes": 3})";
  ck.tensors = testing::all_dtypes_dict(seed);
  return ck;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

json read_manifest(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

struct ThrowAt {
  std::string point;
};

// The save's steps, in order, as the fault hook sees them.
std::vector<std::string> save_points(const std::string& path, const Checkpoint& ck) {
  std::vector<std::string> points;
  test_hooks::set_save_fault_hook([&](const char* p) { points.push_back(p); });
  save_checkpoint(path, ck);
  test_hooks::set_save_fault_hook(nullptr);
  return points;
}

// A process killed (no unwinding, no destructors) at every step of a save
// leaves a checkpoint that loads as exactly the old or exactly the new one.
TEST(CheckpointCommit, CrashAtEveryStepLeavesTheOldOrTheNew) {
  TempDir dir;
  const std::string path = dir.file("c");
  const Checkpoint old_ck = sample(1), new_ck = sample(100);
  save_checkpoint(path, old_ck);
  const size_t steps = save_points(dir.file("probe"), new_ck).size();
  ASSERT_EQ(steps, new_ck.tensors.size() + 3);
  size_t saw_old = 0, saw_new = 0;
  for (size_t k = 0; k < steps; ++k) {
    SCOPED_TRACE("killed after step " + std::to_string(k));
    const pid_t child = ::fork();
    if (child == 0) {
      size_t seen = 0;
      test_hooks::set_save_fault_hook([&](const char*) {
        if (seen++ == k) ::_exit(0);
      });
      save_checkpoint(path, new_ck);
      ::_exit(1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const Checkpoint back = load_checkpoint(path);
    const bool is_new = testing::hex_of(back.tensors.at("t_float32")) == testing::hex_of(new_ck.tensors.at("t_float32"));
    testing::expect_same_tensors(is_new ? new_ck.tensors : old_ck.tensors, back.tensors);
    // Every step up to the manifest's rename keeps the old checkpoint; from it on, the new.
    EXPECT_EQ(is_new, k + 2 >= steps) << "step " << k;
    (is_new ? saw_new : saw_old) += 1;
    // The next save completes or discards what the crash left, and only that.
    save_checkpoint(path, old_ck);
    EXPECT_EQ(files_in(dir.path()), (std::vector<std::string>{"c.bin", "c.json", "probe.bin", "probe.json"}));
  }
  EXPECT_EQ(saw_new, 2u);
  EXPECT_EQ(saw_old, steps - 2);
}

// kill -9 between the two renames used to leave a pair from different saves.
TEST(CheckpointCommit, CrashAfterTheManifestLoadsFromThePendingBlob) {
  TempDir dir;
  const std::string path = dir.file("c");
  save_checkpoint(path, sample(1));
  test_hooks::set_save_fault_hook([](const char* p) {
    if (std::string(p) == "manifest.committed") throw ThrowAt{p};
  });
  EXPECT_THROW(save_checkpoint(path, sample(2)), ThrowAt);
  test_hooks::set_save_fault_hook(nullptr);
  testing::expect_same_tensors(sample(2).tensors, load_checkpoint(path).tensors);
  clean_checkpoint_files(path);
  EXPECT_EQ(files_in(dir.path()), (std::vector<std::string>{"c.bin", "c.json"}));
  testing::expect_same_tensors(sample(2).tensors, load_checkpoint(path).tensors);
}

TEST(CheckpointCommit, StaleTemporaryFilesGoAtTheNextSave) {
  TempDir dir;
  save_checkpoint(dir.file("c"), sample(1));
  for (const char* stale : {"c.bin.tmp-Ab12Cd", "c.json.tmp-x1y2z3", "c.bin.pending-0123456789abcdef",
                            "c.bin.pending-0123456789abcdef.tmp-QQQQQQ"})
    testing::write_bytes(dir.file(stale), std::vector<uint8_t>(1000, 7));
  testing::write_bytes(dir.file("cc.bin.tmp-keepme"), {1});  // another checkpoint's: not ours to remove
  save_checkpoint(dir.file("c"), sample(2));
  EXPECT_EQ(files_in(dir.path()), (std::vector<std::string>{"c.bin", "c.json", "cc.bin.tmp-keepme"}));
}

std::string corrupt(const std::function<void(json&)>& edit, const CheckpointLoadOptions& options = {}) {
  TempDir dir;
  save_checkpoint(dir.file("c"), sample(3));
  json m = read_manifest(dir.file("c.json"));
  edit(m);
  write_file_atomic(dir.file("c.json"), m.dump());
  return error_of([&] { load_checkpoint(dir.file("c"), options); });
}

// A blob offset shifted by 64 bytes, or float32 data relabelled float16 (nbytes
// edited to match), used to load without complaint.
TEST(CheckpointCommit, ChecksumsCatchShiftedOffsetsAndRelabelledDtypes) {
  const std::string shifted = corrupt([](json& m) { m["tensors"][0]["offset"] = m["tensors"][1]["offset"]; });
  EXPECT_NE(shifted.find("c.json: tensor 't_float32': checksum mismatch (crc32c stored 0x"), std::string::npos)
      << shifted;
  const std::string relabelled = corrupt([](json& m) {
    m["tensors"][0]["dtype"] = "float16";
    m["tensors"][0]["nbytes"] = m["tensors"][0]["nbytes"].get<uint64_t>() / 2;
  });
  EXPECT_NE(relabelled.find("tensor 't_float32': checksum mismatch"), std::string::npos) << relabelled;
  EXPECT_NE(corrupt([](json& m) { m["tensors"][3].erase("crc32c"); }).find("tensor 't_float64': has no crc32c"),
            std::string::npos);
  CheckpointLoadOptions trusted;
  trusted.verify_checksums = false;
  EXPECT_EQ(corrupt([](json& m) { m["tensors"][3].erase("crc32c"); }, trusted), "no error");
  EXPECT_NE(corrupt([](json& m) { m["train_state"] = 1; }).find("train_state"), std::string::npos);
}

TEST(CheckpointCommit, NonFiniteWeightsAreRefusedNamingTheTensor) {
  TempDir dir;
  Checkpoint ck = sample(4);
  ck.tensors.insert("head.weight", Tensor::from_vector({1.0, 2.0, std::nan(""), 3.0}, {4}, DType::f32));
  save_checkpoint(dir.file("nan"), ck);
  const std::string nan = error_of([&] { load_checkpoint(dir.file("nan")); });
  EXPECT_NE(nan.find("nan.json: tensor 'head.weight': element 2 is NaN or Inf"), std::string::npos) << nan;
  EXPECT_NE(nan.find("--allow-nonfinite"), std::string::npos) << nan;
  for (DType dt : {DType::f16, DType::bf16, DType::f64}) {
    Checkpoint inf = sample(5);
    inf.tensors.insert("x", Tensor::from_vector({0.5, -HUGE_VAL}, {2}, dt));
    save_checkpoint(dir.file("inf"), inf);
    EXPECT_NE(error_of([&] { load_checkpoint(dir.file("inf")); }).find("tensor 'x': element 1 is NaN or Inf"),
              std::string::npos)
        << dtype_name(dt);
  }
  CheckpointLoadOptions debug;
  debug.allow_nonfinite = true;
  const Tensor w = load_checkpoint(dir.file("nan"), debug).tensors.at("head.weight");
  EXPECT_TRUE(std::isnan(w.select(0, 2).item()));
}

TEST(CheckpointCommit, OtherFormatsAndFoldersAreNamed) {
  const std::string pth = testing::pth_fixture("dtypes.pth");
  const std::string e = error_of([&] { load_checkpoint(pth); });
  EXPECT_NE(e.find("dtypes.pth: a PyTorch checkpoint (torch.save), not a cudaseg checkpoint; convert it first: "
                   "rtseg_convert"),
            std::string::npos)
      << e;
  TempDir dir;
  EXPECT_NE(error_of([&] { load_checkpoint(dir.path()); }).find(": is a directory; expected a checkpoint"),
            std::string::npos);
  fs::create_directory(dir.file("m.json"));
  EXPECT_NE(error_of([&] { load_checkpoint(dir.file("m.json")); }).find("m.json: is a directory"), std::string::npos);
}

// A metadata value nested 100,000 deep parsed, then overflowed the stack when dumped.
TEST(CheckpointCommit, DeeplyNestedManifestIsRefusedNamingTheFile) {
  TempDir dir;
  save_checkpoint(dir.file("c"), sample(6));
  std::string text = read_text_file(dir.file("c.json"));
  const size_t at = text.find("\"metadata\": {}");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 14, "\"metadata\": {\"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}");
  write_file_atomic(dir.file("c.json"), text);
  const std::string e = error_of([&] { load_checkpoint(dir.file("c")); });
  EXPECT_NE(e.find("c.json: JSON nested deeper than 512 levels"), std::string::npos) << e;
}

}  // namespace
}  // namespace cudaseg::weights
