// The net registry: nets are created by their upstream name from a JSON
// `model` object whose keys are the upstream constructor's arguments, the
// class count always being `num_classes`:
//   {"name": "stdc", "encoder_type": "stdc1", "num_classes": 19, "use_detail_head": true}
// Each registered net declares its arguments (type, default, allowed values),
// so an unknown name, an unknown key or a wrong type is an error that lists
// what is accepted, and the effective arguments (defaults filled in) can be
// written back into checkpoints and run configs.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/segnet.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::nn {

using Json = nlohmann::json;

struct ArgSpec {
  std::string key;
  Json default_value;              // also fixes the type: bool, integer, number, string, array
  std::vector<Json> choices = {};  // empty: any value of the type
  std::string help = "";
};

struct NetSpec {
  std::string name;  // the upstream name, e.g. "stdc"
  std::string summary;
  std::vector<ArgSpec> args;  // "num_classes" is implicit and required
  // Builds the net from the validated arguments (defaults filled in).
  std::function<SegNetPtr(const Json& args)> build;
  // The multiple the input's H and W must be, from the validated arguments
  // (STDC's stride-32 stage: 32); empty: any size runs. Inference pads an
  // image to it (infer/session.h).
  std::function<int64_t(const Json& args)> size_divisor = {};
};

void register_net(NetSpec spec);
std::vector<std::string> registered_nets();
const NetSpec& net_spec(const std::string& name);

// Validates `model` against its net's spec and returns it with defaults filled in.
Json resolve_model_config(const Json& model);
// The net's size divisor (NetSpec::size_divisor) for a validated or raw `model`; 1 when it has none.
int64_t size_divisor(const Json& model);
// Validates, then builds the net (in training mode, like a fresh torch module).
SegNetPtr create_net(const Json& model);

}  // namespace cudaseg::nn

// Registers a net family's nets when the library loads, from the family's
// file: CUDASEG_REGISTER_NETS(stdc) { nn::register_net({...}); }
// libcudaseg.a is one prelinked object, so a static link keeps the initialiser.
#define CUDASEG_REGISTER_NETS(family)                                                 \
  static void cudaseg_register_nets_##family();                                      \
  namespace {                                                                        \
  [[maybe_unused]] const bool cudaseg_nets_registered_##family = (cudaseg_register_nets_##family(), true); \
  }                                                                                  \
  static void cudaseg_register_nets_##family()
CUDASEG_API_END
