// Fuzzes the JSON reading every file and --set value goes through
// (runtime/json_read.h: the depth bound, then the parse) and what the
// readers then do with a value: dump it, copy and compare it, and check it
// against a schema shaped like a run config section (runtime/json_schema.h).
// Seeds: the run configs of nets/.
#include <string>

#include "runtime/error.h"
#include "runtime/json_read.h"
#include "runtime/json_schema.h"

namespace s = cudaseg::schema;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<s::Key> keys = {
      s::object_key("train", "loop",
                    {{"iters", s::Type::integer, 200, "steps", {}, 1},
                     {"seed", s::Type::integer, 1, "seed", {}, 0},
                     {"device", s::Type::string, "cpu", "device"},
                     {"tf32", s::Type::boolean, false, "tf32"}}),
      s::object_key("optimizer", "optimizer",
                    {{"type", s::Type::string, "sgd", "rule", {"sgd", "adam", "adamw"}},
                     {"lr", s::Type::number, 0.01, "lr", {}, 0.0},
                     {"betas", s::Type::numbers, nlohmann::json::array({0.9, 0.999}), "betas", {}, 0.0, 1.0, 2},
                     {"lr_mult", s::Type::number_map, nlohmann::json::object(), "mult"}}),
      {"model", s::Type::any, nlohmann::json::object(), "net"},
      {"data", s::Type::any, nlohmann::json::object(), "data"},
      {"augment", s::Type::any, nlohmann::json::object(), "augment"},
      {"crop", s::Type::size, nullptr, "crop", {}, std::nullopt, std::nullopt, -1, true},
  };
  try {
    const nlohmann::json v = cudaseg::parse_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    const std::string text = v.dump();
    const nlohmann::json copy = v;
    if (!(copy == v) && !v.is_discarded()) __builtin_trap();
    (void)text;
    if (v.is_object()) {
      nlohmann::json config = v;
      config.erase("loss");
      config.erase("schedule");
      config.erase("ema");
      config.erase("val");
      s::resolve(keys, config, "");
    }
  } catch (const cudaseg::Error&) {
  }
  return 0;
}
