#include <ostream>

#include "cli/args.h"
#include "cli/cli.h"
#include "weights/convert.h"

namespace cudaseg::cli {
namespace {

const char* const kUsage =
    "usage: rtseg_convert INPUT -o OUT.bin [--config CONFIG.json] [--fp16] [--key KEY] [--strip-prefix P]\n"
    "                     [--from LAYOUT]\n"
    "       rtseg_convert INPUT --to pth|safetensors -o OUT [--fp16] [--key KEY] [--strip-prefix P] [--from LAYOUT]\n"
    "       rtseg_convert INPUT --list [--key KEY] [--strip-prefix P] [--from LAYOUT]\n"
    "\n"
    "Converts a PyTorch .pth, a .safetensors file, a PaddleSeg .pdparams (a pickle of NumPy arrays)\n"
    "or a cudaseg checkpoint (NAME.json + NAME.bin); the input format is detected from the content.\n"
    "  -o OUT.bin        write a cudaseg checkpoint OUT.json + OUT.bin (tensor-level, no validation)\n"
    "  --config FILE     copy the JSON's \"model\" object (and \"preprocess\", \"classes\", \"palette\"\n"
    "                    when present) into the manifest; validate tensors when the model is known;\n"
    "                    a run config's augment mean/std/val_resize give the preprocessing\n"
    "  --fp16            store floating tensors as float16 (integer and bool buffers untouched)\n"
    "  --to FORMAT       export as pth (torch.load-able state dict) or safetensors instead\n"
    "  --list            print each tensor: name, dtype, shape\n"
    "  --key KEY         the state-dict key inside a wrapping .pth dict (default: state_dict,\n"
    "                    model_state_dict, model, ema, or the top-level dict itself)\n"
    "  --strip-prefix P  remove P from the tensor names that start with it (a released checkpoint\n"
    "                    saved from a wrapper, e.g. model.; DataParallel's module. is removed anyway)\n"
    "  --from LAYOUT     the names' origin: hf (transformers SegFormer), mmseg ({'state_dict', 'meta'},\n"
    "                    MixVisionTransformer names), paddle (.pdparams BatchNorm names), torch (as they\n"
    "                    are) or auto (default: detected from the file, an error when it cannot tell)\n"
    "  -h, --help        this text\n"
    "Exit status: 0 success, 1 conversion error, 2 usage error.\n";

struct Args {
  std::string input, output, config, to, key, strip_prefix, from = "auto";
  bool fp16 = false, list = false;
};

Args parse_args(int argc, const char* const* argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) throw UsageError{std::string(flag) + " needs a value"};
      return argv[++i];
    };
    if (arg == "-o" || arg == "--output") a.output = value("-o");
    else if (arg == "--config") a.config = value("--config");
    else if (arg == "--to") a.to = value("--to");
    else if (arg == "--key") a.key = value("--key");
    else if (arg == "--strip-prefix") a.strip_prefix = value("--strip-prefix");
    else if (arg == "--from") a.from = value("--from");
    else if (arg == "--fp16") a.fp16 = true;
    else if (arg == "--list") a.list = true;
    else if (!arg.empty() && arg[0] == '-') throw UsageError{"unknown option '" + arg + "'"};
    else if (a.input.empty()) a.input = arg;
    else throw UsageError{"unexpected argument '" + arg + "' (one INPUT only)"};
  }
  if (a.input.empty()) throw UsageError{"missing INPUT"};
  if (a.from != "auto" && a.from != "hf" && a.from != "mmseg" && a.from != "paddle" && a.from != "torch") {
    throw UsageError{"--from takes hf, mmseg, paddle, torch or auto, not '" + a.from + "'"};
  }
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

int run(const Args& a, std::ostream& out, std::ostream& err) {
  if (a.list) {
    weights::LoadedTensors in = weights::load_tensors(a.input, a.key, a.from);
    for (const std::string& w : in.warnings) err << "rtseg_convert: " << w << '\n';
    if (!a.strip_prefix.empty()) in.tensors = weights::strip_name_prefix(in.tensors, a.strip_prefix, a.input);
    for (const auto& [name, t] : in.tensors) out << name << ' ' << dtype_name(t.dtype()) << ' ' << shape_str(t.shape()) << '\n';
    return 0;
  }
  weights::ConvertOptions options;
  options.config = a.config;
  options.fp16 = a.fp16;
  options.to = a.to;
  options.key = a.key;
  options.strip_prefix = a.strip_prefix;
  options.from = a.from;
  // Converted before anything is printed: a failure leaves stdout empty.
  std::vector<std::string> warnings;
  const std::string summary = weights::convert_checkpoint(a.input, a.output, options, &warnings);
  for (const std::string& w : warnings) err << "rtseg_convert: " << w << '\n';
  out << "rtseg_convert: " << summary << '\n';
  return 0;
}

}  // namespace

int convert_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  return run_tool("rtseg_convert", kUsage, argc, argv, out, err, parse_args,
                  [&](const Args& a) { return run(a, out, err); });
}

}  // namespace cudaseg::cli
