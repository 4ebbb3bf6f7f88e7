// cudaseg's NAME.json + NAME.bin: round trip, mapping, strict loading,
// training state, validation of every manifest field, atomic writes.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "runtime/atomic_file.h"
#include "tests/weights/helpers.h"
#include "weights/checkpoint.h"

namespace cudaseg::weights {
namespace {

using nlohmann::json;
using testing::TempDir;

Checkpoint sample_checkpoint() {
  Checkpoint ck;
  ck.model_json = R"({"name": "stdc", "encoder_type": "stdc1", "num_classes": 3})";
  ck.preprocess.mean = {0.3, 0.4, 0.5};
  ck.preprocess.std = {0.2, 0.25, 0.3};
  ck.preprocess.channel_order = "BGR";
  ck.preprocess.input_size = {512, 1024};
  ck.class_names = {"road", "car", "sky"};
  ck.palette = {{{128, 64, 128}}, {{0, 0, 142}}, {{70, 130, 180}}};
  ck.tensors = testing::all_dtypes_dict(11);
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

TEST(Checkpoint, RoundTripKeepsEverything) {
  TempDir dir;
  const Checkpoint ck = sample_checkpoint();
  save_checkpoint(dir.file("net.bin"), ck);
  EXPECT_TRUE(testing::file_exists(dir.file("net.json")));
  const Checkpoint back = load_checkpoint(dir.file("net.json"));
  testing::expect_same_tensors(ck.tensors, back.tensors);
  EXPECT_EQ(json::parse(back.model_json), json::parse(ck.model_json));
  EXPECT_EQ(back.preprocess.mean, ck.preprocess.mean);
  EXPECT_EQ(back.preprocess.std, ck.preprocess.std);
  EXPECT_EQ(back.preprocess.scale, ck.preprocess.scale);
  EXPECT_EQ(back.preprocess.channel_order, "BGR");
  EXPECT_EQ(back.preprocess.input_size, ck.preprocess.input_size);
  EXPECT_EQ(back.class_names, ck.class_names);
  EXPECT_EQ(back.palette, ck.palette);
  EXPECT_FALSE(back.train_state.has_value());
  EXPECT_EQ(back.tensors.entries()[0].first, ck.tensors.entries()[0].first);
}

TEST(Checkpoint, ManifestFieldsAndAlignment) {
  TempDir dir;
  save_checkpoint(dir.file("net"), sample_checkpoint());
  std::ifstream in(dir.file("net.json"));
  const json m = json::parse(in);
  EXPECT_EQ(m["format"], "cudaseg-checkpoint");
  EXPECT_EQ(m["version"], 1);
  EXPECT_EQ(m["model"]["name"], "stdc");
  EXPECT_EQ(m["blob"]["file"], "net.bin");
  for (const json& t : m["tensors"]) EXPECT_EQ(t["offset"].get<uint64_t>() % 64, 0u) << t.dump();
  EXPECT_EQ(m["blob"]["size"].get<uint64_t>(), testing::read_bytes(dir.file("net.bin")).size());
}

TEST(Checkpoint, TensorsViewTheMappedBlob) {
  TempDir dir;
  save_checkpoint(dir.file("net"), sample_checkpoint());
  const Checkpoint back = load_checkpoint(dir.file("net"));
  std::ifstream in(dir.file("net.json"));
  const json m = json::parse(in);
  // Addresses differ exactly by the manifest offsets: one mapping, no copies.
  const auto* first = static_cast<const uint8_t*>(back.tensors.at(m["tensors"][0]["name"]).raw_data());
  for (const json& t : m["tensors"]) {
    const auto* p = static_cast<const uint8_t*>(back.tensors.at(t["name"]).raw_data());
    EXPECT_EQ(p - first, t["offset"].get<int64_t>() - m["tensors"][0]["offset"].get<int64_t>());
  }
  // Copy-on-write: writing into a loaded tensor never reaches the file.
  const std::vector<uint8_t> before = testing::read_bytes(dir.file("net.bin"));
  Tensor loaded = back.tensors.at("t_float32");
  loaded.fill_(7.0);
  EXPECT_EQ(testing::read_bytes(dir.file("net.bin")), before);
}

TEST(Checkpoint, TensorsOutliveTheCheckpointObject) {
  TempDir dir;
  const Checkpoint ck = sample_checkpoint();
  save_checkpoint(dir.file("net"), ck);
  Tensor kept;
  {
    const Checkpoint back = load_checkpoint(dir.file("net"));
    kept = back.tensors.at("t_float64");
  }
  EXPECT_EQ(testing::hex_of(kept), testing::hex_of(ck.tensors.at("t_float64")));
}

TEST(Checkpoint, StrictLoadListsEveryProblemAtOnce) {
  TempDir dir;
  save_checkpoint(dir.file("net"), sample_checkpoint());
  CheckpointLoadOptions options;
  options.expected = specs_of(sample_checkpoint().tensors);
  EXPECT_NO_THROW(load_checkpoint(dir.file("net"), options));
  auto& specs = *options.expected;
  specs.erase(specs.begin());                                        // t_float32 now unexpected
  specs.push_back({"head.weight", {19, 64, 1, 1}, DType::f32});      // missing
  specs.push_back({"head.bias", {19}, DType::f32});                  // missing
  specs[0].shape = {3, 99};                                          // t_float16 mis-shaped
  specs[1].dtype = DType::f32;                                       // t_bfloat16 mis-typed
  const std::string what = error_of([&] { load_checkpoint(dir.file("net"), options); });
  EXPECT_NE(what.find("2 missing, 1 unexpected, 2 mis-shaped"), std::string::npos) << what;
  EXPECT_NE(what.find("head.weight float32[19, 64, 1, 1]"), std::string::npos) << what;
  EXPECT_NE(what.find("head.bias float32[19]"), std::string::npos) << what;
  EXPECT_NE(what.find("t_float32 float32[3, 5]"), std::string::npos) << what;
  EXPECT_NE(what.find("t_float16: expected float16[3, 99], found float16[3, 6]"), std::string::npos) << what;
  EXPECT_NE(what.find("t_bfloat16: expected float32[3, 7], found bfloat16[3, 7]"), std::string::npos) << what;
  EXPECT_NE(what.find("net.json"), std::string::npos) << what;
}

TEST(Checkpoint, TrainingStateRoundTrip) {
  TempDir dir;
  Checkpoint ck = sample_checkpoint();
  TrainState ts;
  ts.step = 12345;
  ts.epoch = 7;
  ts.rng_seed = 0xfedcba9876543210ull;
  ts.rng_offset = 987654321;
  ts.loader_json = R"({"epoch": 7, "index": 311, "shuffle_seed": 99})";
  ts.optimizer_json = R"({"name": "sgd", "lr": 0.01, "momentum": 0.9})";
  ts.optimizer.insert("momentum_buffer/t_float32", testing::random_tensor({3, 5}, DType::f32, 77));
  ts.optimizer.insert("t_float32", testing::random_tensor({2}, DType::f64, 78));  // own namespace
  ck.train_state = ts;
  save_checkpoint(dir.file("run"), ck);
  const Checkpoint back = load_checkpoint(dir.file("run"));
  ASSERT_TRUE(back.train_state.has_value());
  EXPECT_EQ(back.train_state->step, 12345);
  EXPECT_EQ(back.train_state->epoch, 7);
  EXPECT_EQ(back.train_state->rng_seed, 0xfedcba9876543210ull);
  EXPECT_EQ(back.train_state->rng_offset, 987654321u);
  EXPECT_EQ(json::parse(back.train_state->loader_json)["index"], 311);
  EXPECT_EQ(json::parse(back.train_state->optimizer_json)["name"], "sgd");
  testing::expect_same_tensors(ts.optimizer, back.train_state->optimizer);
  testing::expect_same_tensors(ck.tensors, back.tensors);
}

TEST(Checkpoint, NonContiguousTensorsAreStoredContiguously) {
  TempDir dir;
  Checkpoint ck;
  const Tensor base = testing::random_tensor({4, 6}, DType::f32, 5);
  ck.tensors.insert("t", base.transpose(0, 1));
  ck.tensors.insert("s", base.slice(1, 1, 6, 2));
  save_checkpoint(dir.file("nc"), ck);
  testing::expect_same_tensors(ck.tensors, load_checkpoint(dir.file("nc")).tensors);
}

// Rewrites the manifest with `edit` applied and returns the load error.
std::string corrupt_manifest(const std::function<void(json&)>& edit) {
  TempDir dir;
  save_checkpoint(dir.file("c"), sample_checkpoint());
  std::ifstream in(dir.file("c.json"));
  json m = json::parse(in);
  edit(m);
  write_file_atomic(dir.file("c.json"), m.dump());
  return error_of([&] { load_checkpoint(dir.file("c")); });
}

TEST(Checkpoint, EveryManifestFieldIsValidated) {
  EXPECT_NE(corrupt_manifest([](json& m) { m["format"] = "other"; }).find("is not cudaseg-checkpoint"), std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["version"] = 2; }).find("version"), std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["tensors"][2]["offset"] = 1u << 30; }).find("t_bfloat16"),
            std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["tensors"][1]["offset"] = 65; }).find("not 64-byte aligned"),
            std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["tensors"][0]["nbytes"] = 8; }).find("does not match float32[3, 5]"),
            std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["tensors"][0]["shape"] = {3, -5}; }).find("non-negative"),
            std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["tensors"][0]["shape"] = {1ull << 40, 1ull << 40}; }).find("t_float32"),
            std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["tensors"][0]["dtype"] = "complex64"; }).find("unknown dtype"),
            std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["tensors"][1]["name"] = m["tensors"][0]["name"]; }).find("duplicate"),
            std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["tensors"][0].erase("offset"); }).find("missing field 'offset'"),
            std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["blob"]["size"] = 12; }).find("truncated or replaced"), std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["blob"]["id"] = "0000000000000000"; }).find("different saves"),
            std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["blob"]["file"] = "../etc/passwd"; }).find("file name beside"),
            std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["palette"][0][1] = 300; }).find("exceeds 255"), std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["preprocess"]["channel_order"] = "RBG"; }).find("RGB or BGR"),
            std::string::npos);
  EXPECT_NE(corrupt_manifest([](json& m) { m["model"] = 3; }).find("must be an object"), std::string::npos);
}

TEST(Checkpoint, TruncatedBlobAndBrokenJson) {
  TempDir dir;
  save_checkpoint(dir.file("c"), sample_checkpoint());
  std::vector<uint8_t> blob = testing::read_bytes(dir.file("c.bin"));
  blob.resize(blob.size() / 2);
  testing::write_bytes(dir.file("c.bin"), blob);
  const std::string cut = error_of([&] { load_checkpoint(dir.file("c")); });
  EXPECT_NE(cut.find("truncated or replaced"), std::string::npos) << cut;
  // A cut-off download names its net and the tensors it lost: some of the
  // checkpoint's tensors, not all (half the blob is still there).
  EXPECT_NE(cut.find("net 'stdc'"), std::string::npos) << cut;
  const std::string marker = "tensors past the blob's end: ";
  const size_t at = cut.find(marker);
  ASSERT_NE(at, std::string::npos) << cut;
  const Checkpoint ck = sample_checkpoint();
  size_t named = 0;
  for (const auto& [name, t] : ck.tensors) named += cut.find(name, at) != std::string::npos;
  EXPECT_GT(named, 0u) << cut;
  EXPECT_LT(named, ck.tensors.size()) << cut;
  write_file_atomic(dir.file("c.json"), "{\"format\": ");
  EXPECT_NE(error_of([&] { load_checkpoint(dir.file("c")); }).find("not valid JSON"), std::string::npos);
}

TEST(Checkpoint, BlobFromAnotherSaveIsDetected) {
  TempDir dir;
  Checkpoint a = sample_checkpoint();
  save_checkpoint(dir.file("a"), a);
  save_checkpoint(dir.file("b"), a);  // same sizes, different blob id
  ::rename(dir.file("b.bin").c_str(), dir.file("a.bin").c_str());
  EXPECT_NE(error_of([&] { load_checkpoint(dir.file("a")); }).find("different saves"), std::string::npos);
}

TEST(Checkpoint, TextFilesAreReadUpToABound) {
  // /dev/zero is endless: unbounded, this read grew until memory ran out.
  const std::string err = error_of([] { read_text_file("/dev/zero"); });
  EXPECT_NE(err.find("/dev/zero: more than 64 MiB"), std::string::npos) << err;
  TempDir dir;
  write_file_atomic(dir.file("big.json"), std::string(kMaxTextFileBytes, ' '));
  EXPECT_EQ(read_text_file(dir.file("big.json")).size(), kMaxTextFileBytes);
  write_file_atomic(dir.file("bigger.json"), std::string(kMaxTextFileBytes + 1, ' '));
  EXPECT_NE(error_of([&] { read_text_file(dir.file("bigger.json")); }).find("more than 64 MiB"), std::string::npos);
}

TEST(Checkpoint, InterruptedWriteLeavesTheOldFile) {
  TempDir dir;
  write_file_atomic(dir.file("x.json"), "old content");
  const pid_t child = ::fork();
  if (child == 0) {
    AtomicFile f(dir.file("x.json"));
    f.write("new, partial", 12);
    ::_exit(0);  // a crash: no commit, no destructor
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(read_text_file(dir.file("x.json")), "old content");
  {
    AtomicFile f(dir.file("x.json"));
    f.write("abandoned", 9);
  }  // destroyed without commit: the temporary file goes away
  EXPECT_EQ(read_text_file(dir.file("x.json")), "old content");
  AtomicFile done(dir.file("x.json"));
  done.write("new content", 11);
  done.commit();
  EXPECT_EQ(read_text_file(dir.file("x.json")), "new content");
}

TEST(Checkpoint, FailedSaveKeepsThePreviousCheckpoint) {
  TempDir dir;
  save_checkpoint(dir.file("c"), sample_checkpoint());
  Checkpoint bad = sample_checkpoint();
  bad.metadata_json = "not json";
  EXPECT_THROW(save_checkpoint(dir.file("c"), bad), Error);
  testing::expect_same_tensors(sample_checkpoint().tensors, load_checkpoint(dir.file("c")).tensors);
}

TEST(Checkpoint, InMemoryParseMatchesFileLoad) {
  TempDir dir;
  save_checkpoint(dir.file("c"), sample_checkpoint());
  const Checkpoint ck = parse_checkpoint(read_text_file(dir.file("c.json")),
                                         bytes_from_vector(testing::read_bytes(dir.file("c.bin"))), "mem");
  testing::expect_same_tensors(sample_checkpoint().tensors, ck.tensors);
}

}  // namespace
}  // namespace cudaseg::weights
