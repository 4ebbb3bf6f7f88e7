#include "weights/checkpoint.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <unordered_set>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "runtime/atomic_file.h"
#include "runtime/crc32c.h"
#include "runtime/json_read.h"
#include "weights/pth.h"
#include "weights/safetensors.h"

namespace cudaseg::weights {

namespace {

using json = nlohmann::json;

constexpr uint64_t kAlignment = 64;
constexpr char kTrailerMagic[16] = {'C', 'U', 'D', 'A', 'S', 'E', 'G', '-', 'B', 'L', 'O', 'B', '-', 'v', '1', '\n'};
constexpr size_t kTrailerSize = 32;  // magic + 16 hex digits of the blob id
constexpr const char* kPending = ".pending-";

std::function<void(const char*)>& save_fault_hook() {
  static std::function<void(const char*)> hook;
  return hook;
}

void fault_point(const char* point) {
  if (save_fault_hook()) save_fault_hook()(point);
}

std::string hex32(uint64_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08llx", static_cast<unsigned long long>(v));
  return buf;
}

template <typename Bits>
int64_t first_nonfinite_of(const uint8_t* data, size_t count, Bits exponent) {
  for (size_t i = 0; i < count; ++i) {
    Bits v;
    std::memcpy(&v, data + i * sizeof(Bits), sizeof(Bits));
    if ((v & exponent) == exponent) return static_cast<int64_t>(i);
  }
  return -1;
}

// The index of the first NaN or Inf (all exponent bits set), or -1.
int64_t first_nonfinite(const Bytes& bytes, DType dtype) {
  switch (dtype) {
    case DType::f32: return first_nonfinite_of<uint32_t>(bytes.data, bytes.size / 4, 0x7f800000u);
    case DType::f64: return first_nonfinite_of<uint64_t>(bytes.data, bytes.size / 8, 0x7ff0000000000000ull);
    case DType::f16: return first_nonfinite_of<uint16_t>(bytes.data, bytes.size / 2, uint16_t{0x7c00});
    case DType::bf16: return first_nonfinite_of<uint16_t>(bytes.data, bytes.size / 2, uint16_t{0x7f80});
    default: return -1;
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string new_blob_id() {
  std::random_device device;
  std::mt19937_64 mix((static_cast<uint64_t>(device()) << 32) ^ device() ^
                      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  static const char* const kHex = "0123456789abcdef";
  std::string id(16, '0');
  uint64_t v = mix();
  for (char& c : id) {
    c = kHex[v & 15];
    v >>= 4;
  }
  return id;
}

// ---- manifest validation: every field is checked before use ----

class Reader {
 public:
  Reader(std::string source, const CheckpointLoadOptions& options) : source_(std::move(source)), options_(options) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    CUDASEG_FAIL(source_, ": ", where, ": ", what);
  }
  const json& field(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object()) fail(where, "is not an object");
    auto it = obj.find(key);
    if (it == obj.end()) fail(where, std::string("missing field '") + key + "'");
    return *it;
  }
  uint64_t unsigned_int(const json& v, const std::string& where) const {
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
      fail(where, "must be a non-negative integer, found " + v.dump());
    }
    return v.get<uint64_t>();
  }
  std::string string(const json& v, const std::string& where) const {
    if (!v.is_string()) fail(where, "must be a string, found " + v.dump());
    return v.get<std::string>();
  }
  double number(const json& v, const std::string& where) const {
    if (!v.is_number()) fail(where, "must be a number, found " + v.dump());
    return v.get<double>();
  }
  const json& array(const json& v, const std::string& where) const {
    if (!v.is_array()) fail(where, "must be an array");
    return v;
  }
  std::string object_text(const json& obj, const char* key, const std::string& where) const {
    auto it = obj.find(key);
    if (it == obj.end()) return "{}";
    if (!it->is_object()) fail(where + "." + key, "must be an object");
    return it->dump();
  }

  TensorDict tensors(const json& list, const Bytes& data, const std::string& where) const {
    TensorDict out;
    std::unordered_set<std::string> names;
    size_t i = 0;
    for (const json& entry : array(list, where)) {
      const std::string at = where + "[" + std::to_string(i++) + "]";
      const std::string name = string(field(entry, "name", at), at + ".name");
      const std::string label = "tensor '" + name + "'";
      if (name.empty() || !names.insert(name).second) fail(at, "empty or duplicate name '" + name + "'");
      DType dtype{};
      try {
        dtype = dtype_from_name(string(field(entry, "dtype", at), label + " dtype"));
      } catch (const Error& e) {
        fail(label, e.message());
      }
      Shape shape;
      for (const json& d : array(field(entry, "shape", at), label + " shape")) {
        const uint64_t size = unsigned_int(d, label + " shape");
        if (size > (uint64_t{1} << 48)) fail(label, "dimension " + std::to_string(size) + " is too large");
        shape.push_back(static_cast<int64_t>(size));
      }
      const uint64_t offset = unsigned_int(field(entry, "offset", at), label + " offset");
      const uint64_t nbytes = unsigned_int(field(entry, "nbytes", at), label + " nbytes");
      if (offset % kAlignment != 0) fail(label, "offset " + std::to_string(offset) + " is not 64-byte aligned");
      const uint64_t expected = checked_nbytes(shape, dtype, source_ + ": " + label);
      if (expected != nbytes) {
        fail(label, "nbytes " + std::to_string(nbytes) + " does not match " + dtype_name(dtype) + shape_str(shape) +
                        " (" + std::to_string(expected) + " bytes)");
      }
      const Bytes bytes = data.sub(offset, nbytes, source_ + ": " + label);
      if (options_.verify_checksums) {
        auto crc = entry.find("crc32c");
        if (crc == entry.end())
          fail(label, "has no crc32c checksum (written before checksums; load it with verification off to accept it)");
        const uint64_t stored = unsigned_int(*crc, label + " crc32c");
        const uint32_t actual = crc32c(bytes.data, bytes.size);
        if (stored != actual) {
          fail(label, "checksum mismatch (crc32c stored " + hex32(stored) + ", computed " + hex32(actual) +
                          "): the blob is corrupt or the manifest was edited");
        }
      }
      if (!options_.allow_nonfinite) {
        const int64_t bad = first_nonfinite(bytes, dtype);
        if (bad >= 0) {
          fail(label, "element " + std::to_string(bad) +
                          " is NaN or Inf; non-finite weights are refused (--allow-nonfinite loads them, for "
                          "debugging only)");
        }
      }
      out.insert(name, tensor_over_bytes(bytes, dtype, shape, contiguous_strides(shape), 0, source_ + ": " + label));
    }
    return out;
  }

 private:
  std::string source_;
  CheckpointLoadOptions options_;
};

// ---- writing ----

struct Placed {
  const Tensor* tensor;
  uint64_t offset;
  json* list;  // the manifest entry's list, which gets its checksum once written
  size_t index;
};

json place(const TensorDict& tensors, uint64_t& cursor) {
  json list = json::array();
  for (const auto& [name, t] : tensors) {
    cursor = (cursor + kAlignment - 1) / kAlignment * kAlignment;
    list.push_back({{"name", name}, {"dtype", dtype_name(t.dtype())}, {"shape", t.shape()},
                    {"offset", cursor}, {"nbytes", t.nbytes()}});
    cursor += t.nbytes();
  }
  return list;
}

void collect(const TensorDict& tensors, json& list, std::vector<Placed>& placed) {
  size_t i = 0;
  for (const auto& [name, t] : tensors) {
    placed.push_back({&t, list[i]["offset"].get<uint64_t>(), &list, i});
    ++i;
  }
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

void sync_folder(const std::string& path) {
  const std::string folder = folder_of(path);
  const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// The 16 hex digits ending the blob at `path`, or "" when it has none.
std::string blob_trailer_id(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  char trailer[kTrailerSize];
  const bool ok = std::fseek(f, -static_cast<long>(kTrailerSize), SEEK_END) == 0 &&
                  std::fread(trailer, 1, kTrailerSize, f) == kTrailerSize &&
                  std::memcmp(trailer, kTrailerMagic, sizeof(kTrailerMagic)) == 0;
  std::fclose(f);
  return ok ? std::string(trailer + 16, 16) : "";
}

// The blob file and id a manifest names (empty when it is unreadable).
std::pair<std::string, std::string> manifest_blob(const std::string& manifest_path) {
  try {
    const std::string text = read_text_file(manifest_path);
    check_json_depth(text, manifest_path);
    const json m = json::parse(text);
    const json& b = m.at("blob");
    return {b.at("file").get<std::string>(), b.at("id").get<std::string>()};
  } catch (const std::exception&) {
    return {};
  }
}

// Only an id of the form saves write names a pending file: the id comes from the manifest.
bool is_blob_id(const std::string& id) {
  return id.size() == 16 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool is_plain_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

json parse_object(const std::string& text, const char* what) {
  json v;
  check_json_depth(text, std::string("checkpoint ") + what);
  try {
    v = json::parse(text);
  } catch (const json::exception& e) {
    CUDASEG_FAIL("checkpoint ", what, " is not valid JSON: ", e.what());
  }
  CUDASEG_CHECK(v.is_object(), "checkpoint ", what, " must be a JSON object, found ", text);
  return v;
}

// For a blob of the wrong size: the net the manifest describes and the tensors
// whose bytes lie past the blob's end, so a cut-off download names what it
// lost. Best effort over a manifest not yet validated: malformed entries are
// skipped (the full validation reports them when the sizes agree).
std::string beyond_blob(const json& manifest, uint64_t blob_size) {
  std::string net;
  if (manifest.contains("model") && manifest["model"].is_object() && manifest["model"].contains("name") &&
      manifest["model"]["name"].is_string())
    net = manifest["model"]["name"].get<std::string>();
  std::vector<std::string> lost;
  if (manifest.contains("tensors") && manifest["tensors"].is_array()) {
    for (const json& t : manifest["tensors"]) {
      if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("offset") ||
          !t["offset"].is_number_unsigned() || !t.contains("nbytes") || !t["nbytes"].is_number_unsigned())
        continue;
      if (t["offset"].get<uint64_t>() + t["nbytes"].get<uint64_t>() > blob_size) lost.push_back(t["name"].get<std::string>());
    }
  }
  std::string out = net.empty() ? "" : "; net '" + net + "'";
  if (lost.empty()) return out;
  out += "; " + std::to_string(lost.size()) + " tensors past the blob's end: ";
  for (size_t i = 0; i < lost.size() && i < 8; ++i) out += (i ? ", " : "") + lost[i];
  if (lost.size() > 8) out += ", ...";
  return out;
}

}  // namespace

std::string resolved_fit(const Preprocess& p) {
  if (p.fit.empty()) return p.input_size.empty() ? "pad" : "resize";
  CUDASEG_CHECK(p.fit == "pad" || p.fit == "resize" || p.fit == "none", "preprocess.fit must be pad, resize or none, got '",
                p.fit, "'");
  CUDASEG_CHECK(p.fit != "resize" || p.input_size.size() == 2, "preprocess.fit 'resize' needs an input_size [H, W]");
  return p.fit;
}

CheckpointPaths checkpoint_paths(const std::string& path) {
  std::string stem = path;
  if (ends_with(path, ".json") || ends_with(path, ".bin")) stem = path.substr(0, path.rfind('.'));
  CUDASEG_CHECK(!stem.empty() && stem.back() != '/', "checkpoint path '", path, "' names no file");
  return {stem + ".json", stem + ".bin"};
}

void save_checkpoint(const std::string& path, const Checkpoint& ck) {
  const CheckpointPaths paths = checkpoint_paths(path);
  const Preprocess& pre = ck.preprocess;
  CUDASEG_CHECK(pre.mean.size() == pre.std.size(), paths.json, ": preprocess mean and std differ in length");
  CUDASEG_CHECK(ck.palette.empty() || ck.class_names.empty() || ck.palette.size() == ck.class_names.size(),
                paths.json, ": ", ck.palette.size(), " palette colours for ", ck.class_names.size(), " classes");
  uint64_t cursor = 0;
  const std::string id = new_blob_id();
  json manifest = {{"format", kCheckpointFormat}, {"version", kCheckpointVersion}};
  manifest["model"] = parse_object(ck.model_json, "model");
  manifest["preprocess"] = {{"mean", pre.mean}, {"std", pre.std}, {"scale", pre.scale},
                            {"channel_order", pre.channel_order}, {"input_size", pre.input_size}};
  if (!pre.fit.empty()) manifest["preprocess"]["fit"] = resolved_fit(pre);
  manifest["classes"] = ck.class_names;
  manifest["palette"] = json::array();
  for (const auto& c : ck.palette) manifest["palette"].push_back({c[0], c[1], c[2]});
  manifest["metadata"] = parse_object(ck.metadata_json, "metadata");
  manifest["tensors"] = place(ck.tensors, cursor);
  if (ck.train_state) {
    const TrainState& ts = *ck.train_state;
    manifest["train_state"] = {{"step", ts.step}, {"epoch", ts.epoch},
                               {"rng", {{"seed", ts.rng_seed}, {"offset", ts.rng_offset}}},
                               {"loader", parse_object(ts.loader_json, "train_state.loader")},
                               {"optimizer", parse_object(ts.optimizer_json, "train_state.optimizer")}};
    manifest["train_state"]["tensors"] = place(ts.optimizer, cursor);
  }
  std::vector<Placed> placed;
  collect(ck.tensors, manifest["tensors"], placed);
  if (ck.train_state) collect(ck.train_state->optimizer, manifest["train_state"]["tensors"], placed);
  const uint64_t data_size = (cursor + kAlignment - 1) / kAlignment * kAlignment;
  manifest["blob"] = {{"file", base_name(paths.bin)}, {"id", id}, {"size", data_size + kTrailerSize}};

  clean_checkpoint_files(path);
  const std::string pending = paths.bin + kPending + id;
  AtomicFile bin(pending);
  for (const Placed& p : placed) {
    bin.write_zeros(p.offset - bin.position());
    const Tensor& t = *p.tensor;
    uint32_t crc = 0;
    if (t.device().is_cpu() && t.is_contiguous()) {
      bin.write(t.raw_data(), t.nbytes());
      crc = crc32c(t.raw_data(), t.nbytes());
    } else {
      const std::vector<uint8_t> bytes = contiguous_bytes(t);
      bin.write(bytes.data(), bytes.size());
      crc = crc32c(bytes.data(), bytes.size());
    }
    (*p.list)[p.index]["crc32c"] = crc;
    fault_point("blob.tensor");
  }
  bin.write_zeros(data_size - bin.position());
  bin.write(kTrailerMagic, sizeof(kTrailerMagic));
  bin.write(id.data(), id.size());
  bin.commit();
  fault_point("blob.committed");
  try {
    write_file_atomic(paths.json, manifest.dump(1) + "\n");
  } catch (...) {
    std::remove(pending.c_str());
    throw;
  }
  fault_point("manifest.committed");
  CUDASEG_CHECK(std::rename(pending.c_str(), paths.bin.c_str()) == 0, paths.bin, ": cannot move ", pending,
                " into place (the checkpoint is committed and loads from the pending file)");
  sync_folder(paths.bin);
  fault_point("blob.renamed");
}

void clean_checkpoint_files(const std::string& path) {
  namespace fs = std::filesystem;
  const CheckpointPaths paths = checkpoint_paths(path);
  const std::string folder = folder_of(paths.json);
  const auto [blob_file, id] = manifest_blob(paths.json);
  if (is_plain_name(blob_file) && is_blob_id(id)) {
    const std::string blob = folder + blob_file, pending = blob + kPending + id;
    if (blob_trailer_id(blob) != id && blob_trailer_id(pending) == id && std::rename(pending.c_str(), blob.c_str()) == 0)
      sync_folder(blob);
  }
  const std::string json_tmp = base_name(paths.json) + ".tmp-", bin_prefix = base_name(paths.bin) + ".";
  std::error_code ec;
  for (fs::directory_iterator it(folder.empty() ? "." : folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (starts_with(name, json_tmp) || starts_with(name, bin_prefix + "tmp-") ||
        starts_with(name, base_name(paths.bin) + kPending)) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

Checkpoint parse_checkpoint(const std::string& manifest_text, const Bytes& blob, const std::string& source,
                            const CheckpointLoadOptions& options) {
  Reader r(source, options);
  json m;
  check_json_depth(manifest_text, source);
  try {
    m = json::parse(manifest_text);
  } catch (const json::exception& e) {
    CUDASEG_FAIL(source, ": manifest is not valid JSON: ", e.what());
  }
  const std::string format = r.string(r.field(m, "format", "manifest"), "format");
  if (format != kCheckpointFormat) r.fail("format", "'" + format + "' is not " + kCheckpointFormat);
  const uint64_t version = r.unsigned_int(r.field(m, "version", "manifest"), "version");
  if (version != static_cast<uint64_t>(kCheckpointVersion)) {
    r.fail("version", std::to_string(version) + " is not supported (this build reads version " +
                          std::to_string(kCheckpointVersion) + ")");
  }
  const json& b = r.field(m, "blob", "manifest");
  const uint64_t size = r.unsigned_int(r.field(b, "size", "blob"), "blob.size");
  const std::string id = r.string(r.field(b, "id", "blob"), "blob.id");
  if (size != blob.size || size < kTrailerSize) {
    r.fail("blob", "the manifest expects " + std::to_string(size) + " bytes, the blob has " +
                       std::to_string(blob.size) + " (truncated or replaced)" + beyond_blob(m, blob.size));
  }
  const Bytes trailer = blob.sub(size - kTrailerSize, kTrailerSize, source + ": blob trailer");
  if (std::memcmp(trailer.data, kTrailerMagic, sizeof(kTrailerMagic)) != 0 ||
      std::string(reinterpret_cast<const char*>(trailer.data) + 16, 16) != id) {
    r.fail("blob", "the blob does not belong to this manifest (blob id " + id +
                       " not found; the pair comes from different saves)");
  }
  const Bytes data = blob.sub(0, size - kTrailerSize, source + ": blob");

  Checkpoint ck;
  ck.model_json = r.object_text(m, "model", "manifest");
  ck.metadata_json = r.object_text(m, "metadata", "manifest");
  if (m.contains("preprocess")) {
    const json& p = m["preprocess"];
    Preprocess& pre = ck.preprocess;
    pre.mean.clear();
    pre.std.clear();
    for (const json& v : r.array(r.field(p, "mean", "preprocess"), "preprocess.mean"))
      pre.mean.push_back(r.number(v, "preprocess.mean"));
    for (const json& v : r.array(r.field(p, "std", "preprocess"), "preprocess.std"))
      pre.std.push_back(r.number(v, "preprocess.std"));
    if (pre.mean.size() != pre.std.size()) r.fail("preprocess", "mean and std differ in length");
    pre.scale = r.number(r.field(p, "scale", "preprocess"), "preprocess.scale");
    pre.channel_order = r.string(r.field(p, "channel_order", "preprocess"), "preprocess.channel_order");
    if (pre.channel_order != "RGB" && pre.channel_order != "BGR") r.fail("preprocess.channel_order", "must be RGB or BGR");
    for (const json& v : r.array(r.field(p, "input_size", "preprocess"), "preprocess.input_size"))
      pre.input_size.push_back(static_cast<int64_t>(r.unsigned_int(v, "preprocess.input_size")));
    if (p.contains("fit")) {
      pre.fit = r.string(p["fit"], "preprocess.fit");
      try {
        resolved_fit(pre);
      } catch (const Error& e) {
        r.fail("preprocess.fit", e.what());
      }
    }
  }
  if (m.contains("classes")) {
    for (const json& v : r.array(m["classes"], "classes")) ck.class_names.push_back(r.string(v, "classes"));
  }
  if (m.contains("palette")) {
    for (const json& c : r.array(m["palette"], "palette")) {
      if (!c.is_array() || c.size() != 3) r.fail("palette", "each colour must be [R, G, B]");
      std::array<uint8_t, 3> rgb{};
      for (size_t i = 0; i < 3; ++i) {
        const uint64_t v = r.unsigned_int(c[i], "palette");
        if (v > 255) r.fail("palette", "component " + std::to_string(v) + " exceeds 255");
        rgb[i] = static_cast<uint8_t>(v);
      }
      ck.palette.push_back(rgb);
    }
  }
  ck.tensors = r.tensors(r.field(m, "tensors", "manifest"), data, "tensors");
  if (m.contains("train_state")) {
    const json& t = m["train_state"];
    TrainState ts;
    ts.step = static_cast<int64_t>(r.unsigned_int(r.field(t, "step", "train_state"), "train_state.step"));
    ts.epoch = static_cast<int64_t>(r.unsigned_int(r.field(t, "epoch", "train_state"), "train_state.epoch"));
    const json& rng = r.field(t, "rng", "train_state");
    ts.rng_seed = r.unsigned_int(r.field(rng, "seed", "train_state.rng"), "train_state.rng.seed");
    ts.rng_offset = r.unsigned_int(r.field(rng, "offset", "train_state.rng"), "train_state.rng.offset");
    ts.loader_json = r.object_text(t, "loader", "train_state");
    ts.optimizer_json = r.object_text(t, "optimizer", "train_state");
    ts.optimizer = r.tensors(r.field(t, "tensors", "train_state"), data, "train_state.tensors");
    ck.train_state = std::move(ts);
  }
  if (options.expected) check_tensors(ck.tensors, *options.expected, source);
  return ck;
}

Checkpoint load_checkpoint(const std::string& path, const CheckpointLoadOptions& options) {
  namespace fs = std::filesystem;
  CUDASEG_CHECK(!fs::is_directory(path), path, ": is a directory; expected a checkpoint NAME.json (a run folder ",
                "holds last.json and best.json)");
  const CheckpointPaths paths = checkpoint_paths(path);
  // Another format under its own name would otherwise be reported as a missing NAME.json.
  if (path != paths.json && path != paths.bin && !fs::exists(paths.json) && fs::is_regular_file(path)) {
    const Bytes bytes = map_file(path);
    const char* kind = looks_like_pth(bytes)           ? "a PyTorch checkpoint (torch.save)"
                       : looks_like_safetensors(bytes) ? "a safetensors file"
                                                       : nullptr;
    CUDASEG_CHECK(kind == nullptr, path, ": ", kind, ", not a cudaseg checkpoint; convert it first: rtseg_convert ",
                  path, " -o NAME.bin (then pass NAME.json)");
    CUDASEG_FAIL(path, ": not a cudaseg checkpoint (expected NAME.json beside NAME.bin)");
  }
  const std::string manifest = read_text_file(paths.json);
  std::string blob_file = base_name(paths.bin), id;
  check_json_depth(manifest, paths.json);
  try {
    const json m = json::parse(manifest);
    if (m.is_object() && m.contains("blob") && m["blob"].is_object()) {
      const json& b = m["blob"];
      if (b.contains("file") && b["file"].is_string()) blob_file = b["file"].get<std::string>();
      if (b.contains("id") && b["id"].is_string()) id = b["id"].get<std::string>();
    }
  } catch (const json::exception&) {
    // parse_checkpoint reports the syntax error with its position.
  }
  CUDASEG_CHECK(!blob_file.empty() && blob_file.find('/') == std::string::npos && blob_file != "." &&
                    blob_file != "..",
                paths.json, ": blob.file '", blob_file, "' must be a file name beside the manifest");
  const std::string blob = folder_of(paths.json) + blob_file;
  // A save interrupted after its commit leaves the new blob under its pending name.
  const std::string pending = blob + kPending + id;
  if (is_blob_id(id) && blob_trailer_id(blob) != id && blob_trailer_id(pending) == id)
    return parse_checkpoint(manifest, map_file(pending), paths.json, options);
  return parse_checkpoint(manifest, map_file(blob), paths.json, options);
}

namespace test_hooks {
void set_save_fault_hook(std::function<void(const char*)> hook) { save_fault_hook() = std::move(hook); }
}  // namespace test_hooks

bool looks_like_manifest(const Bytes& bytes) {
  size_t i = 0;
  while (i < bytes.size && std::isspace(bytes.data[i])) ++i;
  if (i >= bytes.size || bytes.data[i] != '{') return false;
  const std::string head(reinterpret_cast<const char*>(bytes.data), std::min<size_t>(bytes.size, 4096));
  return head.find(kCheckpointFormat) != std::string::npos;
}

}  // namespace cudaseg::weights
