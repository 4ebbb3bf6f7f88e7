// Fuzzes a run config through what rtseg_train does with it before training:
// the JSON reader, the --set overrides, the schema check with its defaults
// (train::resolve_config, which resolves `model` and `data` too), the typed
// views the Trainer reads, and the net's construction from the registry.
//
// Input: the config's JSON text, then optionally one override per line that
// starts with "--set " (e.g. "\n--set model.num_classes=3"). Seeds: the run
// configs of nets/ and tests/fuzz/corpus/config (configs with overrides).
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/registry.h"
#include "runtime/alloc_limit.h"
#include "runtime/error.h"
#include "runtime/json_read.h"
#include "train/config.h"

namespace t = cudaseg::train;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string marker = "\n--set ";
  size_t end = input.find(marker);
  const std::string text = input.substr(0, end);
  std::vector<std::string> sets;
  while (end != std::string::npos) {
    const size_t start = end + marker.size();
    end = input.find(marker, start);
    sets.push_back(input.substr(start, end == std::string::npos ? std::string::npos : end - start));
  }
  try {
    t::Json config = cudaseg::parse_json(text, "fuzz");
    for (const std::string& s : sets) t::apply_override(config, s);
    const t::Json resolved = t::resolve_config(config);
    (void)t::optimizer_config(resolved);
    (void)t::loss_config(resolved);
    (void)t::ema_config(resolved);
    (void)t::val_config(resolved);
    const t::TrainConfig tc = t::train_config(resolved);
    (void)resolved.dump();
    cudaseg::nn::manual_seed(tc.seed);
    // Below the library's own 4 GiB bound for a net, so that libFuzzer's 2 GiB
    // malloc and RSS limits report only what escapes every bound.
    const cudaseg::AllocationLimit limit(size_t{768} << 20, "fuzz");
    // The weights' random values are not what is fuzzed: filling STDC's under
    // the sanitizers took over the 10 s unit timeout on a loaded machine.
    const cudaseg::nn::SkipInitGuard skip_init;
    const cudaseg::nn::SegNetPtr net = cudaseg::nn::create_net(resolved["model"]);
    if (!net) __builtin_trap();
  } catch (const cudaseg::Error&) {
  }
  return 0;
}
