#include "nn/registry.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "runtime/alloc_limit.h"
#include "runtime/error.h"
#include "runtime/json_schema.h"

namespace cudaseg::nn {
namespace {

// What building one net may allocate: 4 GiB, a billion float32 parameters,
// several times the largest registered net. Arguments asking for more (2^40
// classes) are an error naming the net before the allocation, not an
// out-of-memory kill (runtime/alloc_limit.h).
constexpr size_t kMaxNetBuildBytes = size_t{4} << 30;
// The magnitude of a net's integer arguments (widths, depths, kernel sizes),
// far above any net's: builders multiply them (a width doubled per stage, by
// an expansion, by k*k), and a product of 2^62 overflows int64 before any
// allocation could be refused.
constexpr double kMaxNetInteger = 1 << 20;

std::map<std::string, NetSpec>& table() {
  static std::map<std::string, NetSpec> specs;
  return specs;
}

// The schema of a net's model object: its name, the class count and its
// arguments, each typed by its default.
std::vector<schema::Key> model_schema(const NetSpec& spec) {
  using schema::Type;
  std::vector<schema::Key> keys = {
      {"name", Type::string, nullptr, "the registered net", {spec.name}, std::nullopt, std::nullopt, -1, false, true},
      {"num_classes", Type::integer, nullptr, "output classes", {}, 1, std::nullopt, -1, false, true}};
  for (const ArgSpec& a : spec.args) {
    const Json& d = a.default_value;
    Type type = Type::any;
    if (d.is_boolean()) type = Type::boolean;
    else if (d.is_number_integer()) type = Type::integer;
    else if (d.is_number()) type = Type::number;
    else if (d.is_string()) type = Type::string;
    else if (d.is_array()) {
      const bool integers = std::all_of(d.begin(), d.end(), [](const Json& e) { return e.is_number_integer(); });
      const bool numbers = std::all_of(d.begin(), d.end(), [](const Json& e) { return e.is_number(); });
      // Nested lists (RegSeg's dilation pairs) stay Type::any: the net's builder checks them.
      type = integers ? Type::integers : numbers ? Type::numbers : Type::any;
    }
    schema::Key key{a.key, type, d, a.help, a.choices};
    if ((type == Type::integer || type == Type::integers) && a.choices.empty()) {
      key.min = -kMaxNetInteger;
      key.max = kMaxNetInteger;
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

}  // namespace

void register_net(NetSpec spec) {
  CUDASEG_CHECK(!spec.name.empty() && spec.build, "register_net: a net needs a name and a builder");
  auto& t = table();
  CUDASEG_CHECK(!t.count(spec.name), "register_net: '", spec.name, "' registered twice");
  t.emplace(spec.name, std::move(spec));
}

std::vector<std::string> registered_nets() {
  std::vector<std::string> names;
  for (const auto& [name, spec] : table()) names.push_back(name);
  return names;
}

const NetSpec& net_spec(const std::string& name) {
  auto it = table().find(name);
  if (it == table().end()) {
    const std::vector<std::string> names = registered_nets();
    std::ostringstream os;
    for (const auto& n : names) os << (os.tellp() > 0 ? ", " : "") << n;
    const std::string near = schema::nearest(name, names);
    CUDASEG_FAIL("unknown net '", name, "'", near.empty() ? "" : " (did you mean '" + near + "'?)",
                 "; registered: ", os.str());
  }
  return it->second;
}

Json resolve_model_config(const Json& model) {
  CUDASEG_CHECK(model.is_object(), "model: expected a JSON object, got ", model.dump());
  CUDASEG_CHECK(model.contains("name") && model["name"].is_string(),
                "model: needs a string \"name\" (one of the registered nets)");
  const NetSpec& spec = net_spec(model["name"].get<std::string>());
  try {
    return schema::resolve(model_schema(spec), model, "model");
  } catch (const Error& e) {
    throw e.with_context("net '" + spec.name + "'");
  }
}

int64_t size_divisor(const Json& model) {
  const Json args = resolve_model_config(model);
  const NetSpec& spec = net_spec(args["name"].get<std::string>());
  if (!spec.size_divisor) return 1;
  const int64_t d = spec.size_divisor(args);
  CUDASEG_CHECK(d >= 1, "net '", spec.name, "': size divisor ", d, " must be positive");
  return d;
}

SegNetPtr create_net(const Json& model) {
  const Json args = resolve_model_config(model);
  const NetSpec& spec = net_spec(args["name"].get<std::string>());
  try {
    const AllocationLimit limit(kMaxNetBuildBytes, "its parameters and buffers");
    return spec.build(args);
  } catch (const Error& e) {
    throw e.with_context("building net '" + spec.name + "'");
  }
}

}  // namespace cudaseg::nn
