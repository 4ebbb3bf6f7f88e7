#include "weights/backbone_weights.h"

#include <map>
#include <vector>

#include "autograd/engine.h"
#include "nets/mobilenetv2.h"
#include "nets/resnet.h"
#include "runtime/error.h"
#include "weights/convert.h"
#include "weights/tensor_dict.h"

namespace cudaseg::weights {
namespace {

void find_backbones(nn::Module& m, const std::string& path, std::vector<std::pair<std::string, nn::Module*>>& out) {
  if (dynamic_cast<nets::ResNet*>(&m) || dynamic_cast<nets::MobileNetV2*>(&m)) {
    out.emplace_back(path, &m);
    return;
  }
  for (const auto& [name, child] : m.named_children()) find_backbones(*child, path.empty() ? name : path + "." + name, out);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// The backbone name of torchvision key `key`, or "" for a tensor the backbone
// does not have (the classifier, MobileNetV2's features.18).
std::string backbone_name(const std::string& key, bool mobilenet) {
  if (!mobilenet) return starts_with(key, "fc.") ? "" : key;
  if (starts_with(key, "classifier.")) return "";
  if (!starts_with(key, "features.")) return key;
  const size_t dot = key.find('.', 9);
  const std::string index = key.substr(9, dot == std::string::npos ? std::string::npos : dot - 9);
  if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) return key;
  const int n = std::stoi(index);
  if (n >= 18) return "";
  const int layer = n < 4 ? 1 : n < 7 ? 2 : n < 14 ? 3 : 4;
  return "layer" + std::to_string(layer) + "." + key.substr(9);
}

}  // namespace

BackboneInit load_backbone_weights(nn::Module& net, const std::string& path) {
  std::vector<std::pair<std::string, nn::Module*>> found;
  find_backbones(net, "", found);
  CUDASEG_CHECK(!found.empty(), "backbone weights ", path, ": net ", net.type_name(),
                " has no torchvision backbone (ResNet or MobileNetV2) to initialise");
  if (found.size() > 1) {
    std::string where;
    for (const auto& f : found) where += (where.empty() ? "" : ", ") + f.first;
    CUDASEG_FAIL("backbone weights ", path, ": net ", net.type_name(), " has ", found.size(),
                 " torchvision backbones (", where, "); which one the file is for is ambiguous");
  }
  nn::Module& backbone = *found[0].second;
  const bool mobilenet = dynamic_cast<nets::MobileNetV2*>(&backbone) != nullptr;
  BackboneInit result{found[0].first, mobilenet ? "MobileNetV2" : "ResNet", 0, 0};

  const LoadedTensors file = load_tensors(path);
  std::map<std::string, Tensor> target;
  for (const auto& [name, t] : backbone.state_dict()) target.emplace(name, t);
  TensorDict mapped;
  std::vector<std::string> unexpected;
  for (const auto& [key, t] : file.tensors) {
    const std::string name = backbone_name(key, mobilenet);
    if (name.empty()) {
      ++result.skipped;
      continue;
    }
    if (!target.count(name)) {
      unexpected.push_back(key);
      continue;
    }
    mapped.insert(name, t);
  }
  std::vector<TensorSpec> expected;
  for (const auto& [name, t] : backbone.state_dict()) expected.push_back({name, t.shape(), t.dtype()});
  // The first few names say enough (a deeper ResNet's file has dozens).
  std::string extra;
  for (size_t i = 0; i < unexpected.size() && i < 8; ++i) extra += (i ? ", " : "") + unexpected[i];
  if (unexpected.size() > 8) extra += ", ... (" + std::to_string(unexpected.size() - 8) + " more)";
  try {
    CUDASEG_CHECK(unexpected.empty(), unexpected.size(), " tensors with no place in the ", result.type, ": ",
                  extra);
    check_tensors(mapped, expected, path, true);
  } catch (const Error& e) {
    throw e.with_context("initialising " + result.type + " '" + result.module + "' of " + net.type_name() +
                         " from " + path);
  }
  autograd::NoGradGuard no_grad;
  for (auto& [name, t] : target) {
    Tensor dst = t;
    dst.copy_(mapped.at(name).to(dst.device(), dst.dtype()));
    ++result.copied;
  }
  return result;
}

}  // namespace cudaseg::weights
