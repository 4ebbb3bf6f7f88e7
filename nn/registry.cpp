#include "nn/registry.h"

#include <map>
#include <sstream>

#include "runtime/error.h"

namespace cudaseg::nn {
namespace {

std::map<std::string, NetSpec>& table() {
  static std::map<std::string, NetSpec> specs;
  return specs;
}

bool same_type(const Json& value, const Json& like) {
  if (like.is_boolean()) return value.is_boolean();
  if (like.is_number_integer()) return value.is_number_integer();
  if (like.is_number()) return value.is_number();
  if (like.is_string()) return value.is_string();
  if (like.is_array()) return value.is_array();
  if (like.is_null()) return true;
  return value.type() == like.type();
}

std::string accepted_keys(const NetSpec& spec) {
  std::ostringstream os;
  os << "name, num_classes";
  for (const auto& a : spec.args) os << ", " << a.key;
  return os.str();
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
    std::ostringstream os;
    for (const auto& n : registered_nets()) os << (os.tellp() > 0 ? ", " : "") << n;
    CUDASEG_FAIL("unknown net '", name, "' (registered: ", os.str(), ")");
  }
  return it->second;
}

Json resolve_model_config(const Json& model) {
  CUDASEG_CHECK(model.is_object(), "model config must be a JSON object, got ", model.dump());
  CUDASEG_CHECK(model.contains("name") && model["name"].is_string(),
                "model config needs a string \"name\" (one of the registered nets)");
  const NetSpec& spec = net_spec(model["name"].get<std::string>());
  Json out = {{"name", spec.name}};
  CUDASEG_CHECK(model.contains("num_classes") && model["num_classes"].is_number_integer() &&
                    model["num_classes"].get<int64_t>() > 0,
                "model '", spec.name, "': \"num_classes\" must be a positive integer");
  out["num_classes"] = model["num_classes"];
  for (const auto& [key, value] : model.items()) {
    if (key == "name" || key == "num_classes") continue;
    bool known = false;
    for (const auto& a : spec.args) known = known || a.key == key;
    CUDASEG_CHECK(known, "model '", spec.name, "': unknown key \"", key, "\" (accepted: ",
                  accepted_keys(spec), ")");
  }
  for (const auto& a : spec.args) {
    const Json value = model.contains(a.key) ? model[a.key] : a.default_value;
    CUDASEG_CHECK(same_type(value, a.default_value), "model '", spec.name, "': \"", a.key, "\" must be ",
                  a.default_value.type_name(), " like ", a.default_value.dump(), ", got ", value.dump());
    if (!a.choices.empty()) {
      bool ok = false;
      std::ostringstream os;
      for (const auto& c : a.choices) {
        ok = ok || c == value;
        os << (os.tellp() > 0 ? ", " : "") << c.dump();
      }
      CUDASEG_CHECK(ok, "model '", spec.name, "': \"", a.key, "\" = ", value.dump(), " is not one of ", os.str());
    }
    out[a.key] = value;
  }
  return out;
}

nn::ModulePtr create_net(const Json& model) {
  const Json args = resolve_model_config(model);
  const NetSpec& spec = net_spec(args["name"].get<std::string>());
  try {
    return spec.build(args);
  } catch (const Error& e) {
    throw e.with_context("building net '" + spec.name + "'");
  }
}

}  // namespace cudaseg::nn
