#include "weights/pth.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <unordered_map>

#include "runtime/atomic_file.h"
#include "weights/pickle.h"
#include "weights/zip.h"

namespace cudaseg::weights {

namespace {

const char* const kWrapperKeys[] = {"state_dict", "model_state_dict", "model", "ema"};
const char* const kModulePrefix = "module.";

// A dict of tensors, where a placeholder counts as a tensor: a state dict
// holding one is found, and then refused by name (refuse_placeholders).
bool holds_tensors(const PyObject* obj) {
  if (obj == nullptr || obj->kind != PyObject::Kind::dict || obj->entries.empty()) return false;
  return std::all_of(obj->entries.begin(), obj->entries.end(), [](const auto& kv) {
    return kv.second->kind == PyObject::Kind::tensor || kv.second->kind == PyObject::Kind::placeholder;
  });
}

std::string quoted_names(const std::vector<const PyObject*>& placeholders) {
  std::string out;
  for (const PyObject* p : placeholders) out += (out.empty() ? "'" : ", '") + p->text + "'";
  return out;
}

void refuse_placeholders(const PyObject* sd, const std::string& source) {
  for (const auto& [k, v] : sd->entries) {
    const std::vector<const PyObject*> found = placeholders_in(v);
    if (found.empty()) continue;
    CUDASEG_FAIL(source, ": refusing to load global '", found[0]->text, "' at pickle offset ", found[0]->integer,
                 ": the state dict entry '", k->kind == PyObject::Kind::string ? k->text : k->kind_name(),
                 "' is built from it; a checkpoint may only reference torch's tensor-rebuilding globals "
                 "(nothing from the file was executed)");
  }
}

std::string key_list(const PyObject* dict) {
  std::string out;
  for (const auto& [k, v] : dict->entries) {
    if (!out.empty()) out += ", ";
    out += k->kind == PyObject::Kind::string ? "'" + k->text + "'" : "<" + k->kind_name() + ">";
    out += " (" + v->kind_name() + ")";
    const std::vector<const PyObject*> refused = placeholders_in(v);
    if (!refused.empty()) out += " [refused globals " + quoted_names(refused) + ", not loaded]";
    if (out.size() > 400) return out + ", ...";
  }
  return out;
}

const PyObject* find_state_dict(const PyObject* root, const PthOptions& options, const std::string& source,
                                std::string* wrapper) {
  if (root->kind == PyObject::Kind::placeholder) {
    CUDASEG_FAIL(source, ": refusing to load global '", root->text, "' at pickle offset ", root->integer,
                 ": the whole checkpoint is built from it (nothing from the file was executed)");
  }
  CUDASEG_CHECK(root->kind == PyObject::Kind::dict, source, ": the checkpoint holds a ", root->kind_name(),
                ", not a dict of tensors");
  if (!options.key.empty()) {
    const PyObject* sd = root->get(options.key);
    CUDASEG_CHECK(sd != nullptr, source, ": no key '", options.key, "' at the top level (keys: ", key_list(root), ")");
    CUDASEG_CHECK(holds_tensors(sd), source, ": '", options.key, "' is not a dict of tensors");
    *wrapper = options.key;
    return sd;
  }
  if (holds_tensors(root)) return root;
  for (const char* key : kWrapperKeys) {
    const PyObject* sd = root->get(key);
    if (holds_tensors(sd)) {
      *wrapper = key;
      return sd;
    }
  }
  CUDASEG_FAIL(source, ": no state dict found: the top-level dict is neither a dict of tensors nor holds one "
               "under state_dict, model_state_dict, model or ema (keys: ", key_list(root), ")");
}

void check_header(const Bytes& bytes, const std::string& source) {
  CUDASEG_CHECK(bytes.size >= 4, source, ": file too short (", bytes.size, " bytes) to be a checkpoint");
  if (bytes.data[0] == 0x80 || (bytes.size > 262 && std::memcmp(bytes.data + 257, "ustar", 5) == 0)) {
    CUDASEG_FAIL(source, ": legacy (pre-zip) PyTorch serialization is not supported; re-save it with "
                 "PyTorch: torch.save(torch.load(f), f, _use_new_zipfile_serialization=True)");
  }
  CUDASEG_CHECK(bytes.data[0] == 'P' && bytes.data[1] == 'K', source,
                ": not a PyTorch checkpoint (expected a zip archive starting with \"PK\")");
}

}  // namespace

bool looks_like_pth(const Bytes& bytes) {
  return bytes.size >= 4 && (bytes.data[0] == 0x80 || (bytes.data[0] == 'P' && bytes.data[1] == 'K'));
}

PthContents read_pth(const Bytes& bytes, const std::string& source, const PthOptions& options) {
  check_header(bytes, source);
  ZipReader zip(bytes, source);
  std::string prefix;
  const ZipEntry* pkl = nullptr;
  for (const ZipEntry& e : zip.entries()) {
    const std::string& n = e.name;
    if (n == "data.pkl" || (n.size() > 9 && n.compare(n.size() - 9, 9, "/data.pkl") == 0 &&
                            n.find('/') == n.size() - 9)) {
      pkl = &e;
      prefix = n.substr(0, n.size() - 8);
      break;
    }
  }
  CUDASEG_CHECK(pkl != nullptr, source, ": zip archive has no data.pkl: not a torch.save checkpoint");
  if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
    const std::string value = zip.read(*order).str();
    CUDASEG_CHECK(value == "little", source, ": byte order '", value, "' is not supported (only little)");
  }
  const Bytes pickle_bytes = zip.read(*pkl);
  UnpickleMode mode;
  mode.placeholders = true;
  const PickleResult pickle = unpickle(pickle_bytes.data, pickle_bytes.size, source + ": " + pkl->name, {}, mode);

  PthContents out;
  const PyObject* sd = find_state_dict(pickle.root, options, source, &out.wrapper_key);
  refuse_placeholders(sd, source);
  for (const auto& [k, v] : pickle.root->entries) {
    if (k->kind == PyObject::Kind::string) out.top_level_keys.push_back(k->text);
    if (v == sd) continue;
    const std::vector<const PyObject*> refused = placeholders_in(v);
    if (refused.empty()) continue;
    out.skipped.push_back("skipped '" + (k->kind == PyObject::Kind::string ? k->text : k->kind_name()) +
                          "': it refers to " + quoted_names(refused) +
                          ", kept as inert placeholders (never imported or called)");
  }
  bool strip = options.strip_module_prefix;
  for (const auto& [k, v] : sd->entries) {
    CUDASEG_CHECK(k->kind == PyObject::Kind::string, source, ": a state dict key is a ", k->kind_name());
    strip = strip && k->text.rfind(kModulePrefix, 0) == 0;
  }

  std::unordered_map<const PyObject*, std::shared_ptr<Storage>> storages;
  for (const auto& [k, v] : sd->entries) {
    const std::string name = strip ? k->text.substr(std::strlen(kModulePrefix)) : k->text;
    const std::string what = source + ": tensor '" + k->text + "'";
    const PyObject* s = v->storage;
    const uint64_t storage_bytes = static_cast<uint64_t>(s->numel) * dtype_size(s->dtype);
    CUDASEG_CHECK(s->numel >= 0 && storage_bytes / dtype_size(s->dtype) == static_cast<uint64_t>(s->numel), what,
                  ": storage size ", s->numel, " overflows");
    check_view(what, v->dtype, v->shape, v->strides, v->offset, storage_bytes);
    auto it = storages.find(s);
    if (it == storages.end()) {
      const std::string record = prefix + "data/" + s->text;
      const ZipEntry* entry = zip.find(record);
      CUDASEG_CHECK(entry != nullptr, what, ": storage record '", record, "' is missing from the archive");
      CUDASEG_CHECK(entry->size == storage_bytes, what, ": storage record '", record, "' holds ", entry->size,
                    " bytes, the pickle declares ", s->numel, " ", dtype_name(s->dtype), " elements (",
                    storage_bytes, " bytes)");
      it = storages.emplace(s, storage_over_bytes(zip.read(*entry), s->dtype)).first;
    }
    out.tensors.insert(name, Tensor::from_storage(it->second, v->dtype, v->shape, v->strides, v->offset));
  }
  return out;
}

PthContents load_pth(const std::string& path, const PthOptions& options) {
  return read_pth(map_file(path), path, options);
}

namespace {

void write_pth(const TensorDict& tensors, ZipWriter::Sink sink) {
  struct Group {
    std::string key;
    Tensor any;
    int64_t begin = INT64_MAX, end = 0;
  };
  // Tensors viewing one storage with one dtype become views of one record that
  // covers just the elements they reach.
  std::map<std::pair<const Storage*, DType>, Group> groups;
  std::vector<std::pair<std::string, Tensor>> cpu;
  for (const auto& [name, t] : tensors) {
    Tensor c = t.device().is_cpu() ? t : t.to(Device::cpu());
    cpu.emplace_back(name, c);
    Group& g = groups[{c.storage().get(), c.dtype()}];
    if (g.key.empty()) {
      g.key = std::to_string(groups.size() - 1);
      g.any = c;
    }
    int64_t last = c.offset();
    for (int64_t d = 0; d < c.dim(); ++d) last += (c.size(d) - 1) * c.stride(d);
    g.begin = std::min(g.begin, c.numel() == 0 ? g.begin : c.offset());
    g.end = std::max(g.end, c.numel() == 0 ? g.end : last + 1);
  }
  std::vector<PickledTensor> pickled;
  for (const auto& [name, c] : cpu) {
    const Group& g = groups.at({c.storage().get(), c.dtype()});
    const int64_t begin = g.end > 0 ? g.begin : 0;
    pickled.push_back({name, c.dtype(), g.key, g.end - begin, c.numel() == 0 ? 0 : c.offset() - begin, c.shape(),
                       c.strides()});
  }
  ZipWriter zip(std::move(sink));
  const std::string pkl = pickle_state_dict(pickled);
  zip.add("archive/data.pkl", pkl.data(), pkl.size());
  zip.add("archive/byteorder", "little", 6);
  std::vector<const Group*> ordered(groups.size());
  for (const auto& [k, g] : groups) ordered[std::stoul(g.key)] = &g;
  for (const Group* g : ordered) {
    const size_t item = dtype_size(g->any.dtype());
    const int64_t begin = g->end > 0 ? g->begin : 0;
    const uint8_t* base = static_cast<const uint8_t*>(g->any.storage()->data());
    zip.add("archive/data/" + g->key, base + static_cast<size_t>(begin) * item,
            static_cast<size_t>(g->end - begin) * item);
  }
  zip.add("archive/version", "3\n", 2);
  zip.finish();
}

}  // namespace

std::vector<uint8_t> pth_bytes(const TensorDict& tensors) {
  std::vector<uint8_t> out;
  write_pth(tensors, [&out](const void* p, size_t n) {
    out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  });
  return out;
}

void save_pth(const std::string& path, const TensorDict& tensors) {
  AtomicFile file(path);
  write_pth(tensors, [&file](const void* p, size_t n) { file.write(p, n); });
  file.commit();
}

}  // namespace cudaseg::weights
