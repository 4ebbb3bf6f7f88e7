#include "weights/safetensors.h"

#include <algorithm>
#include <functional>

#include <nlohmann/json.hpp>

#include "runtime/atomic_file.h"
#include "runtime/json_read.h"

namespace cudaseg::weights {

namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeader = 100u << 20;

const std::pair<const char*, DType> kDTypes[] = {
    {"F32", DType::f32}, {"F16", DType::f16}, {"BF16", DType::bf16}, {"F64", DType::f64},
    {"I64", DType::i64}, {"I32", DType::i32}, {"U8", DType::u8},     {"BOOL", DType::boolean}};

DType parse_dtype(const std::string& name, const std::string& where) {
  for (const auto& [n, d] : kDTypes) {
    if (name == n) return d;
  }
  CUDASEG_FAIL(where, ": dtype '", name, "' is not supported (F32, F16, BF16, F64, I64, I32, U8, BOOL)");
}

const char* dtype_code(DType dtype) {
  for (const auto& [n, d] : kDTypes) {
    if (d == dtype) return n;
  }
  return "F32";
}

uint64_t header_length(const Bytes& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes.data[i];
  return n;
}

void write_safetensors(const TensorDict& tensors, const std::map<std::string, std::string>& metadata,
                       const std::function<void(const void*, size_t)>& sink) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t cursor = 0;
  for (const auto& [name, t] : tensors) {
    CUDASEG_CHECK(name != "__metadata__", "safetensors: a tensor cannot be named __metadata__");
    header[name] = {{"dtype", dtype_code(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {cursor, cursor + t.nbytes()}}};
    cursor += t.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(text.size() >> (8 * i));
  sink(length, 8);
  sink(text.data(), text.size());
  for (const auto& [name, t] : tensors) {
    if (t.device().is_cpu() && t.is_contiguous()) {
      sink(t.raw_data(), t.nbytes());
    } else {
      const std::vector<uint8_t> b = contiguous_bytes(t);
      sink(b.data(), b.size());
    }
  }
}

}  // namespace

bool looks_like_safetensors(const Bytes& bytes) {
  if (bytes.size < 10) return false;
  const uint64_t n = header_length(bytes);
  return n >= 2 && n <= bytes.size - 8 && bytes.data[8] == '{';
}

SafetensorsContents read_safetensors(const Bytes& bytes, const std::string& source) {
  CUDASEG_CHECK(bytes.size >= 8, source, ": file too short (", bytes.size, " bytes) for a safetensors header");
  const uint64_t n = header_length(bytes);
  CUDASEG_CHECK(n <= kMaxHeader && n <= bytes.size - 8, source, ": safetensors header length ", n,
                " exceeds the file (", bytes.size, " bytes) or the 100 MiB limit");
  const Bytes header_bytes = bytes.sub(8, n, source + ": header");
  const Bytes data = bytes.sub(8 + n, bytes.size - 8 - n, source + ": data");
  json header;
  check_json_depth(header_bytes.str(), source + ": safetensors header");
  try {
    header = json::parse(header_bytes.str());
  } catch (const json::exception& e) {
    CUDASEG_FAIL(source, ": safetensors header is not valid JSON: ", e.what());
  }
  CUDASEG_CHECK(header.is_object(), source, ": safetensors header is not a JSON object");

  SafetensorsContents out;
  struct Item {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin, end;
  };
  std::vector<Item> items;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    const std::string where = source + ": tensor '" + name + "'";
    if (name == "__metadata__") {
      CUDASEG_CHECK(v.is_object(), source, ": __metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        CUDASEG_CHECK(m.value().is_string(), source, ": __metadata__ value '", m.key(), "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    CUDASEG_CHECK(v.is_object() && v.contains("dtype") && v["dtype"].is_string() && v.contains("shape") &&
                      v["shape"].is_array() && v.contains("data_offsets") && v["data_offsets"].is_array() &&
                      v["data_offsets"].size() == 2,
                  where, ": needs dtype (string), shape (array) and data_offsets ([begin, end])");
    Item item{name, parse_dtype(v["dtype"].get<std::string>(), where), {}, 0, 0};
    for (const json& d : v["shape"]) {
      CUDASEG_CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= (uint64_t{1} << 48), where,
                    ": shape entries must be non-negative integers, found ", d.dump());
      item.shape.push_back(d.get<int64_t>());
    }
    for (int k = 0; k < 2; ++k) {
      CUDASEG_CHECK(v["data_offsets"][k].is_number_unsigned(), where, ": data_offsets must be non-negative integers");
    }
    item.begin = v["data_offsets"][0].get<uint64_t>();
    item.end = v["data_offsets"][1].get<uint64_t>();
    CUDASEG_CHECK(item.begin <= item.end && item.end <= data.size, where, ": data_offsets [", item.begin, ", ",
                  item.end, "] lie outside the ", data.size, " data bytes");
    const uint64_t expected = checked_nbytes(item.shape, item.dtype, where);
    CUDASEG_CHECK(expected == item.end - item.begin, where, ": ", dtype_name(item.dtype), shape_str(item.shape),
                  " needs ", expected, " bytes, data_offsets give ", item.end - item.begin);
    items.push_back(std::move(item));
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < items.size(); ++i) {
    CUDASEG_CHECK(items[i].begin >= items[i - 1].end, source, ": tensors '", items[i - 1].name, "' and '",
                  items[i].name, "' overlap");
  }
  for (const Item& item : items) {
    const Bytes b = data.sub(item.begin, item.end - item.begin, source + ": " + item.name);
    out.tensors.insert(item.name, tensor_over_bytes(b, item.dtype, item.shape, contiguous_strides(item.shape), 0,
                                                    source + ": tensor '" + item.name + "'"));
  }
  return out;
}

SafetensorsContents load_safetensors(const std::string& path) { return read_safetensors(map_file(path), path); }

void save_safetensors(const std::string& path, const TensorDict& tensors,
                      const std::map<std::string, std::string>& metadata) {
  AtomicFile file(path);
  write_safetensors(tensors, metadata, [&file](const void* p, size_t n) { file.write(p, n); });
  file.commit();
}

}  // namespace cudaseg::weights
