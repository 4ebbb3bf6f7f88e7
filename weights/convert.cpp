#include "weights/convert.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "runtime/json_read.h"
#include "weights/file_io.h"
#include "weights/net_tensors.h"
#include "weights/pdparams.h"
#include "weights/pth.h"
#include "weights/safetensors.h"

namespace cudaseg::weights {

using json = nlohmann::json;

const char* format_name(CheckpointFormat format) {
  switch (format) {
    case CheckpointFormat::pth: return "pth";
    case CheckpointFormat::safetensors: return "safetensors";
    case CheckpointFormat::cudaseg: return "cudaseg";
    case CheckpointFormat::pdparams: return "pdparams";
  }
  return "unknown";
}

CheckpointFormat detect_format(const std::string& path) {
  const Bytes bytes = map_file(path);
  if (looks_like_numpy_pickle(bytes)) return CheckpointFormat::pdparams;
  if (looks_like_pth(bytes)) return CheckpointFormat::pth;
  if (looks_like_manifest(bytes)) return CheckpointFormat::cudaseg;
  if (bytes.size >= 32 && std::memcmp(bytes.data + bytes.size - 32, "CUDASEG-BLOB-", 13) == 0) {
    return CheckpointFormat::cudaseg;
  }
  if (looks_like_safetensors(bytes)) return CheckpointFormat::safetensors;
  CUDASEG_FAIL(path, ": unrecognised checkpoint format (expected a PyTorch .pth zip, safetensors, "
               "a pickle of NumPy arrays (PaddleSeg .pdparams), or a cudaseg NAME.json/NAME.bin)");
}

LoadedTensors load_tensors(const std::string& path, const std::string& pth_key, const std::string& from) {
  LoadedTensors out;
  out.format = detect_format(path);
  std::vector<std::string> top_level_keys;
  if (out.format == CheckpointFormat::pth) {
    PthOptions options;
    options.key = pth_key;
    PthContents c = load_pth(path, options);
    out.tensors = std::move(c.tensors);
    if (!c.wrapper_key.empty()) out.note = "state dict under '" + c.wrapper_key + "'";
    for (const std::string& skipped : c.skipped) out.warnings.push_back("warning: " + skipped);
    top_level_keys = std::move(c.top_level_keys);
  } else if (out.format == CheckpointFormat::pdparams) {
    PdparamsContents c = load_pdparams(path);
    out.tensors = std::move(c.tensors);
    out.warnings = std::move(c.skipped);
  } else if (out.format == CheckpointFormat::safetensors) {
    out.tensors = load_safetensors(path).tensors;
  } else {
    // Conversion copies bits: NaN and Inf are refused where weights are used
    // (inference, resume), not where they change format.
    CheckpointLoadOptions copy;
    copy.allow_nonfinite = true;
    out.tensors = load_checkpoint(path, copy).tensors;
  }
  out.layout = from == "auto" ? detect_layout(out.format == CheckpointFormat::pdparams, top_level_keys, out.tensors, path)
                              : parse_layout(from);
  out.tensors = map_layout(out.layout, out.tensors, path, &out.warnings);
  return out;
}

void apply_run_config(const std::string& path, Checkpoint& ck) {
  const json config = parse_json(read_text_file(path), path);
  CUDASEG_CHECK(config.is_object() && config.contains("model") && config["model"].is_object() &&
                    config["model"].contains("name") && config["model"]["name"].is_string(),
                path, ": needs a \"model\" object with a \"name\" (the registered net)");
  ck.model_json = config["model"].dump();
  if (config.contains("classes")) {
    CUDASEG_CHECK(config["classes"].is_array(), path, ": \"classes\" must be an array of names");
    for (const json& c : config["classes"]) {
      CUDASEG_CHECK(c.is_string(), path, ": \"classes\" must be an array of names");
      ck.class_names.push_back(c.get<std::string>());
    }
  }
  if (config.contains("palette")) {
    for (const json& c : config["palette"]) {
      CUDASEG_CHECK(c.is_array() && c.size() == 3, path, ": each palette colour must be [R, G, B]");
      std::array<uint8_t, 3> rgb{};
      for (size_t i = 0; i < 3; ++i) {
        CUDASEG_CHECK(c[i].is_number_unsigned() && c[i].get<uint64_t>() <= 255, path, ": palette values are 0..255");
        rgb[i] = static_cast<uint8_t>(c[i].get<uint64_t>());
      }
      ck.palette.push_back(rgb);
    }
  }
  // A training run config: the normalisation its augment section trains with
  // and the size its validation resizes to (as the trainer's checkpoints
  // record them); a "preprocess" object overrides.
  if (config.contains("augment") && config["augment"].is_object()) {
    const json& a = config["augment"];
    try {
      if (a.contains("mean")) ck.preprocess.mean = a["mean"].get<std::vector<double>>();
      if (a.contains("std")) ck.preprocess.std = a["std"].get<std::vector<double>>();
      if (a.contains("val_resize") && !a["val_resize"].is_null()) {
        const json& r = a["val_resize"];  // N or [H, W], as the training config takes it
        ck.preprocess.input_size =
            r.is_number() ? std::vector<int64_t>(2, r.get<int64_t>()) : r.get<std::vector<int64_t>>();
      }
    } catch (const json::exception& e) {
      CUDASEG_FAIL(path, ": bad \"augment\": ", e.what());
    }
  }
  if (config.contains("preprocess")) {
    const json& p = config["preprocess"];
    CUDASEG_CHECK(p.is_object(), path, ": \"preprocess\" must be an object");
    try {
      if (p.contains("mean")) ck.preprocess.mean = p["mean"].get<std::vector<double>>();
      if (p.contains("std")) ck.preprocess.std = p["std"].get<std::vector<double>>();
      if (p.contains("scale")) ck.preprocess.scale = p["scale"].get<double>();
      if (p.contains("channel_order")) ck.preprocess.channel_order = p["channel_order"].get<std::string>();
      if (p.contains("input_size")) ck.preprocess.input_size = p["input_size"].get<std::vector<int64_t>>();
      if (p.contains("fit")) ck.preprocess.fit = p["fit"].get<std::string>();
    } catch (const json::exception& e) {
      CUDASEG_FAIL(path, ": bad \"preprocess\": ", e.what());
    }
  }
}

TensorDict strip_name_prefix(const TensorDict& tensors, const std::string& prefix, const std::string& source) {
  TensorDict out;
  int64_t stripped = 0;
  for (const auto& [name, t] : tensors) {
    const bool has = name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0;
    stripped += has;
    out.insert(has ? name.substr(prefix.size()) : name, t);
  }
  CUDASEG_CHECK(stripped > 0, source, ": no tensor name starts with '", prefix, "' (the first is '",
                tensors.empty() ? std::string() : tensors.entries()[0].first, "')");
  return out;
}

namespace {

// mmseg's BaseDecodeHead builds conv_seg, which NVlabs' SegFormer never uses
// (linear_pred classifies); checkpoints from Hugging Face and some mmseg
// exports lack it. Zeros stand in: they never reach an output.
void add_unused_conv_seg(TensorDict& tensors, const json& model, std::vector<std::string>* notes) {
  if (model.value("name", "") != "segformer") return;
  for (const TensorSpec& spec : expected_tensors(model)) {
    if (spec.name.rfind("decode_head.conv_seg.", 0) != 0 || tensors.contains(spec.name)) continue;
    tensors.insert(spec.name, Tensor::zeros(spec.shape, spec.dtype));
    notes->push_back("added '" + spec.name + "' as zeros (mmseg's conv_seg, unused by SegFormer's forward)");
  }
}

}  // namespace

std::string convert_checkpoint(const std::string& input, const std::string& output, const ConvertOptions& options,
                               std::vector<std::string>* warnings) {
  LoadedTensors in = load_tensors(input, options.key, options.from);
  if (!options.strip_prefix.empty()) in.tensors = strip_name_prefix(in.tensors, options.strip_prefix, input);
  TensorDict tensors = options.fp16 ? to_half(in.tensors) : in.tensors;
  if (options.to == "pth") {
    save_pth(output, tensors);
  } else if (options.to == "safetensors") {
    save_safetensors(output, tensors, {{"source", input}, {"converter", "rtseg_convert"}});
  } else {
    CUDASEG_CHECK(options.to.empty(), "convert: unknown output format '", options.to, "' (pth, safetensors or cudaseg)");
    Checkpoint ck;
    if (!options.config.empty()) {
      apply_run_config(options.config, ck);
      json model = json::parse(ck.model_json);
      if (in.layout == SourceLayout::hf && model.value("name", "") == "segformer") {
        // transformers' SegFormer builds every LayerNorm with torch's default eps.
        model["layer_norm_eps"] = 1e-5;
        ck.model_json = model.dump();
        in.warnings.push_back("model layer_norm_eps set to 1e-5, as Hugging Face's SegFormer uses");
      }
      if (in.layout != SourceLayout::torch) add_unused_conv_seg(in.tensors, model, &in.warnings);
      in.tensors = fold_state_aliases(in.tensors, json::parse(ck.model_json), input);
      tensors = options.fp16 ? to_half(in.tensors) : in.tensors;
      check_against_net(in.tensors, json::parse(ck.model_json), input);
    }
    ck.metadata_json = json{{"source", input},          {"source_format", format_name(in.format)},
                            {"source_layout", layout_name(in.layout)}, {"converter", "rtseg_convert"},
                            {"fp16", options.fp16}}.dump();
    ck.tensors = std::move(tensors);
    save_checkpoint(output, ck);
  }
  if (warnings != nullptr) *warnings = in.warnings;
  return "wrote " + (options.to.empty() ? checkpoint_paths(output).json + " + " + checkpoint_paths(output).bin : output) +
         " (" + std::to_string(in.tensors.size()) + " tensors from " + format_name(in.format) +
         (in.note.empty() ? "" : ", " + in.note) + ")";
}

}  // namespace cudaseg::weights
