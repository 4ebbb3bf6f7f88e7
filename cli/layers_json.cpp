#include <nlohmann/json.hpp>

#include "cli/cli.h"

namespace cudaseg::cli {
namespace {

nlohmann::json stats_json(const nn::TensorStats& s) {
  return {{"shape", s.shape}, {"sum", s.sum}, {"abs_sum", s.abs_sum}, {"sq_sum", s.sq_sum}};
}

}  // namespace

std::string layers_json(const std::string& model_json, const Shape& input_shape,
                        const std::vector<nn::LayerRecord>& records, const Tensor& logits) {
  const nlohmann::json model = nlohmann::json::parse(model_json);
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& r : records) {
    nlohmann::json outputs = nlohmann::json::array();
    for (const auto& s : r.outputs) outputs.push_back(stats_json(s));
    layers.push_back({{"name", r.name}, {"call", r.call}, {"type", r.type}, {"outputs", outputs}});
  }
  const nlohmann::json doc = {{"format", "cudaseg-layers"},
                              {"version", 1},
                              {"source", "cudaseg"},
                              {"net", model.value("name", std::string())},
                              {"model", model},
                              {"seed", nullptr},
                              {"mode", "eval"},
                              {"input_shape", input_shape},
                              {"layers", layers},
                              {"final", {{"out", stats_json(nn::tensor_stats(logits))}}}};
  return doc.dump() + "\n";
}

}  // namespace cudaseg::cli
