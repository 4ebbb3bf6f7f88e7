#include "weights/convert.h"

#include <cstring>
#include <ostream>

#include <nlohmann/json.hpp>

#include "weights/net_tensors.h"
#include "weights/pth.h"
#include "weights/safetensors.h"

namespace cudaseg::weights {

namespace {

using json = nlohmann::json;

const char* const kUsage =
    "usage: rtseg_convert INPUT -o OUT.bin [--config CONFIG.json] [--fp16] [--key KEY]\n"
    "       rtseg_convert INPUT --to pth|safetensors -o OUT [--fp16] [--key KEY]\n"
    "       rtseg_convert INPUT --list [--key KEY]\n"
    "\n"
    "Converts a PyTorch .pth, a .safetensors file or a cudaseg checkpoint (NAME.json + NAME.bin);\n"
    "the input format is detected from the content.\n"
    "  -o OUT.bin        write a cudaseg checkpoint OUT.json + OUT.bin (tensor-level, no validation)\n"
    "  --config FILE     copy the JSON's \"model\" object (and \"preprocess\", \"classes\", \"palette\"\n"
    "                    when present) into the manifest; validate tensors when the model is known\n"
    "  --fp16            store floating tensors as float16 (integer and bool buffers untouched)\n"
    "  --to FORMAT       export as pth (torch.load-able state dict) or safetensors instead\n"
    "  --list            print each tensor: name, dtype, shape\n"
    "  --key KEY         the state-dict key inside a wrapping .pth dict (default: state_dict,\n"
    "                    model_state_dict, model, ema, or the top-level dict itself)\n"
    "  -h, --help        this text\n"
    "Exit status: 0 success, 1 conversion error, 2 usage error.\n";

ExpectedTensorsProvider& provider() {
  static ExpectedTensorsProvider p;
  return p;
}

struct UsageError {
  std::string message;
};

struct Args {
  std::string input, output, config, to, key;
  bool fp16 = false, list = false, help = false;
};

Args parse_args(int argc, const char* const* argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) throw UsageError{std::string(flag) + " needs a value"};
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") a.help = true;
    else if (arg == "-o" || arg == "--output") a.output = value("-o");
    else if (arg == "--config") a.config = value("--config");
    else if (arg == "--to") a.to = value("--to");
    else if (arg == "--key") a.key = value("--key");
    else if (arg == "--fp16") a.fp16 = true;
    else if (arg == "--list") a.list = true;
    else if (!arg.empty() && arg[0] == '-') throw UsageError{"unknown option '" + arg + "'"};
    else if (a.input.empty()) a.input = arg;
    else throw UsageError{"unexpected argument '" + arg + "' (one INPUT only)"};
  }
  if (a.help) return a;
  if (a.input.empty()) throw UsageError{"missing INPUT"};
  if (!a.to.empty() && a.to != "pth" && a.to != "safetensors") {
    throw UsageError{"--to takes pth or safetensors, not '" + a.to + "'"};
  }
  if (a.list && (!a.output.empty() || !a.to.empty() || !a.config.empty() || a.fp16)) {
    throw UsageError{"--list takes no -o, --to, --config or --fp16"};
  }
  if (!a.list && a.output.empty()) throw UsageError{"missing -o OUT (or --list)"};
  if (!a.to.empty() && !a.config.empty()) throw UsageError{"--config applies to cudaseg output, not --to"};
  return a;
}

std::string one_line(std::string text) {
  for (size_t pos; (pos = text.find("\n")) != std::string::npos;) {
    size_t end = pos + 1;
    while (end < text.size() && text[end] == ' ') ++end;
    text.replace(pos, end - pos, "; ");
  }
  return text;
}

void apply_config(const std::string& path, Checkpoint& ck) {
  json config;
  try {
    config = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    CUDASEG_FAIL(path, ": not valid JSON: ", e.what());
  }
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
  if (config.contains("preprocess")) {
    const json& p = config["preprocess"];
    CUDASEG_CHECK(p.is_object(), path, ": \"preprocess\" must be an object");
    try {
      if (p.contains("mean")) ck.preprocess.mean = p["mean"].get<std::vector<double>>();
      if (p.contains("std")) ck.preprocess.std = p["std"].get<std::vector<double>>();
      if (p.contains("scale")) ck.preprocess.scale = p["scale"].get<double>();
      if (p.contains("channel_order")) ck.preprocess.channel_order = p["channel_order"].get<std::string>();
      if (p.contains("input_size")) ck.preprocess.input_size = p["input_size"].get<std::vector<int64_t>>();
    } catch (const json::exception& e) {
      CUDASEG_FAIL(path, ": bad \"preprocess\": ", e.what());
    }
  }
}

int run(const Args& a, std::ostream& out) {
  LoadedTensors in = load_tensors(a.input, a.key);
  if (a.list) {
    for (const auto& [name, t] : in.tensors) out << name << ' ' << dtype_name(t.dtype()) << ' ' << shape_str(t.shape()) << '\n';
    return 0;
  }
  TensorDict tensors = a.fp16 ? to_half(in.tensors) : in.tensors;
  if (a.to == "pth") {
    save_pth(a.output, tensors);
  } else if (a.to == "safetensors") {
    save_safetensors(a.output, tensors, {{"source", a.input}, {"converter", "rtseg_convert"}});
  } else {
    Checkpoint ck;
    if (!a.config.empty()) {
      apply_config(a.config, ck);
      if (provider()) {
        if (auto expected = provider()(ck.model_json)) check_tensors(in.tensors, *expected, a.input, true);
      } else if (const json model = json::parse(ck.model_json); model.contains("name")) {
        check_against_net(in.tensors, model, a.input);
      }
    }
    ck.metadata_json = json{{"source", a.input}, {"source_format", format_name(in.format)},
                            {"converter", "rtseg_convert"}, {"fp16", a.fp16}}.dump();
    ck.tensors = std::move(tensors);
    save_checkpoint(a.output, ck);
  }
  out << "rtseg_convert: wrote " << (a.to.empty() ? checkpoint_paths(a.output).json + " + " + checkpoint_paths(a.output).bin : a.output)
      << " (" << in.tensors.size() << " tensors from " << format_name(in.format)
      << (in.note.empty() ? "" : ", " + in.note) << ")\n";
  return 0;
}

}  // namespace

const char* format_name(CheckpointFormat format) {
  switch (format) {
    case CheckpointFormat::pth: return "pth";
    case CheckpointFormat::safetensors: return "safetensors";
    case CheckpointFormat::cudaseg: return "cudaseg";
  }
  return "unknown";
}

CheckpointFormat detect_format(const std::string& path) {
  const Bytes bytes = map_file(path);
  if (looks_like_pth(bytes)) return CheckpointFormat::pth;
  if (looks_like_manifest(bytes)) return CheckpointFormat::cudaseg;
  if (bytes.size >= 32 && std::memcmp(bytes.data + bytes.size - 32, "CUDASEG-BLOB-", 13) == 0) {
    return CheckpointFormat::cudaseg;
  }
  if (looks_like_safetensors(bytes)) return CheckpointFormat::safetensors;
  CUDASEG_FAIL(path, ": unrecognised checkpoint format (expected a PyTorch .pth zip, safetensors, "
               "or a cudaseg NAME.json/NAME.bin)");
}

LoadedTensors load_tensors(const std::string& path, const std::string& pth_key) {
  LoadedTensors out;
  out.format = detect_format(path);
  if (out.format == CheckpointFormat::pth) {
    PthOptions options;
    options.key = pth_key;
    PthContents c = load_pth(path, options);
    out.tensors = std::move(c.tensors);
    if (!c.wrapper_key.empty()) out.note = "state dict under '" + c.wrapper_key + "'";
  } else if (out.format == CheckpointFormat::safetensors) {
    out.tensors = load_safetensors(path).tensors;
  } else {
    out.tensors = load_checkpoint(path).tensors;
  }
  return out;
}

void set_expected_tensors_provider(ExpectedTensorsProvider p) { provider() = std::move(p); }

int convert_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  Args args;
  try {
    args = parse_args(argc, argv);
  } catch (const UsageError& e) {
    err << "rtseg_convert: " << e.message << " (see rtseg_convert --help)\n";
    return 2;
  }
  if (args.help) {
    out << kUsage;
    return 0;
  }
  try {
    return run(args, out);
  } catch (const std::exception& e) {
    err << "rtseg_convert: " << one_line(e.what()) << '\n';
    return 1;
  }
}

}  // namespace cudaseg::weights
