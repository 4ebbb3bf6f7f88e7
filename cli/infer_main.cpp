// rtseg_infer (cli/cli.h infer_main): images, folders and globs
// to label / colour / infer::overlay PNGs, ffmpeg video, and the debug path
// (--input-tensor with logit and layer dumps).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <map>
#include <optional>
#include <ostream>
#include <set>

#include "runtime/atomic_file.h"
#include "runtime/image_io.h"
#include "weights/npy.h"
#include "runtime/thread_pool.h"
#include "cli/args.h"
#include "cli/cli.h"

namespace cudaseg::cli {
namespace {

namespace fs = std::filesystem;
using cli::UsageError;

constexpr const char* kUsage = R"(usage: rtseg_infer --weights W.json [options] INPUT...
       rtseg_infer --weights W.json --video IN.mp4 --out OUT.mp4 [options]
       rtseg_infer --weights W.json --input-tensor X.npy [--dump-logits Y.npy]
                   [--dump-layer NAME --dump-layer-out Z.npy] [--dump-layers LAYERS.json]

Segments images with a cudaseg checkpoint (NAME.json + NAME.bin).
INPUT is an image file (JPEG, PNG, BMP), a folder (its images, sorted) or a
glob ('photos/*.jpg'). For each input NAME it writes NAME_label.png (class
ids), NAME_color.png (the checkpoint's palette, else Cityscapes' for 19
classes or a generated one) and NAME_overlay.png (colours over the photo).

options:
  --out DIR            output folder (default ./rtseg_out); with --video, the output video
  --device D           cpu, cuda or cuda:N (default cpu)
  --precision P        fp32, fp16 or bf16 (default fp32; fp16/bf16 need CUDA)
  --batch N            images per forward pass (default 1)
  --resize HxW         resize every input to HxW and the logits back (--size HxW says the same)
  --pad                pad every input bottom and right to the net's size divisor (e.g. 32 for STDC)
                       and crop the logits back
  --keep-size          run every image at its own size (the net may refuse it)
                       default: the checkpoint's preprocess.fit; for checkpoints without one, a resize
                       to the checkpoint's input size when it names one, else --pad, so any image runs
  --alpha A            infer::overlay opacity of the colours, 0..1 (default 0.5)
  --no-fuse            run the plain module forward (no BatchNorm folding or activation fusion)
  --graphs on|off      CUDA graphs: capture the forward once per input size, replay it (default on; CUDA only)
  --tf32 on|off        TF32 tensor-core maths in float32 convolutions and matrix products: faster, about 1e-3
                       relative error (default off: float32 results match the CPU; CUDA only)
  --threads N          CPU threads (default: CUDASEG_NUM_THREADS, else every hardware thread)
  --no-verify          skip the checkpoint's per-tensor checksums (trusted files: a faster start)
  --allow-nonfinite    load NaN/Inf weights instead of refusing them (debugging only)
  --quiet              no progress lines
  --help               this text

video (needs ffmpeg and ffprobe on PATH): every frame is segmented and the
infer::overlay encoded with libx264; decoding, inference and encoding run on
separate threads.

debug path: X.npy is an NCHW float tensor fed to the net as is (no pre- or
post-processing). --dump-logits writes the float32 logits; --dump-layer writes
the output of the module NAME (its dotted path, e.g. backbone.stage1.0; NAME#K
its K-th output, from 0, for a module returning several, e.g. a backbone);
--dump-layers writes every module's output checksums in the format of
tools/goldens/dump_layers.py for tools/goldens/compare_layers.py. Layer dumps
run the plain module forward so that module outputs match PyTorch's.
)";

struct Args {
  std::string weights, out = "rtseg_out", device = "cpu", precision = "fp32", video;
  std::vector<std::string> inputs;
  bool out_given = false, keep_size = false, pad = false, fuse = true, graphs = true, tf32 = false, quiet = false;
  bool verify = true, allow_nonfinite = false;
  int64_t batch = 1, threads = 0;  // threads 0: the pool as it is
  std::optional<std::array<int64_t, 2>> size;
  double alpha = 0.5;
  std::string input_tensor, dump_logits, dump_layer, dump_layer_out, dump_layers;
};

Args parse(int argc, const char* const* argv) {
  Args a;
  cli::ArgReader r(argc, argv);
  while (!r.done()) {
    const std::string f = r.next();
    if (f == "--weights") a.weights = r.value(f);
    else if (f == "--out" || f == "-o") a.out = r.value(f), a.out_given = true;
    else if (f == "--device") a.device = r.value(f);
    else if (f == "--precision") a.precision = r.value(f);
    else if (f == "--batch") a.batch = cli::parse_int(f, r.value(f), 1);
    else if (f == "--threads") a.threads = cli::parse_int(f, r.value(f), 1, kMaxThreads);
    else if (f == "--size" || f == "--resize") a.size = cli::parse_size(f, r.value(f));
    else if (f == "--pad") a.pad = true;
    else if (f == "--keep-size") a.keep_size = true;
    else if (f == "--alpha") a.alpha = cli::parse_double(f, r.value(f), 0.0, 1.0);
    else if (f == "--no-fuse") a.fuse = false;
    else if (f == "--graphs") a.graphs = cli::parse_on_off(f, r.value(f));
    else if (f == "--tf32") a.tf32 = cli::parse_on_off(f, r.value(f));
    else if (f == "--quiet") a.quiet = true;
    else if (f == "--no-verify") a.verify = false;
    else if (f == "--allow-nonfinite") a.allow_nonfinite = true;
    else if (f == "--video") a.video = r.value(f);
    else if (f == "--input-tensor") a.input_tensor = r.value(f);
    else if (f == "--dump-logits") a.dump_logits = r.value(f);
    else if (f == "--dump-layer") a.dump_layer = r.value(f);
    else if (f == "--dump-layer-out") a.dump_layer_out = r.value(f);
    else if (f == "--dump-layers") a.dump_layers = r.value(f);
    else if (!f.empty() && f[0] == '-') throw UsageError{"unknown option " + f};
    else a.inputs.push_back(f);
  }
  if (a.weights.empty()) throw UsageError{"missing --weights W.json"};
  if ((a.size ? 1 : 0) + (a.keep_size ? 1 : 0) + (a.pad ? 1 : 0) > 1)
    throw UsageError{"--resize (--size), --pad and --keep-size exclude each other"};
  try {
    const Device d = Device::parse(a.device);
    if (infer::parse_precision(a.precision) != infer::Precision::fp32 && !d.is_cuda())
      throw UsageError{"--precision " + a.precision + " needs --device cuda"};
  } catch (const Error& e) {
    throw UsageError{e.what()};
  }
  const bool debug = !a.input_tensor.empty();
  const bool dumps = !a.dump_logits.empty() || !a.dump_layer.empty() || !a.dump_layers.empty();
  if (a.dump_layer.empty() != a.dump_layer_out.empty())
    throw UsageError{"--dump-layer NAME and --dump-layer-out Z.npy go together"};
  if (dumps && !debug) throw UsageError{"--dump-logits/--dump-layer/--dump-layers need --input-tensor X.npy"};
  if (debug) {
    if (!dumps) throw UsageError{"--input-tensor needs --dump-logits, --dump-layer or --dump-layers"};
    if (!a.inputs.empty() || !a.video.empty()) throw UsageError{"--input-tensor takes no images or --video"};
  } else if (!a.video.empty()) {
    if (!a.inputs.empty()) throw UsageError{"--video takes no image inputs"};
    if (!a.out_given) throw UsageError{"--video needs --out OUT.mp4"};
  } else if (a.inputs.empty()) {
    throw UsageError{"no input images (give files, folders or globs)"};
  }
  return a;
}

infer::SessionOptions session_options(const Args& a) {
  infer::SessionOptions o;
  o.device = Device::parse(a.device);
  o.precision = infer::parse_precision(a.precision);
  if (a.size) {
    o.size_policy = infer::SizePolicy::fixed;
    o.input_size = *a.size;
  } else if (a.keep_size) {
    o.size_policy = infer::SizePolicy::keep;
  } else if (a.pad) {
    o.size_policy = infer::SizePolicy::pad;
  }
  o.fuse = a.fuse && a.dump_layer.empty() && a.dump_layers.empty();
  o.cuda_graphs = a.graphs;
  o.tf32 = a.tf32;
  o.verify_checksums = a.verify;
  o.allow_nonfinite = a.allow_nonfinite;
  return o;
}

infer::Palette palette_for(const infer::InferenceSession& s) {
  const infer::Palette& p = s.info().palette;
  return static_cast<int64_t>(p.size()) >= s.num_classes() ? p : infer::default_palette(s.num_classes());
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * (v.size() - 1) + 0.5)];
}

int run_debug(const Args& a, infer::InferenceSession& s, std::ostream& out) {
  const Tensor x = weights::read_npy(a.input_tensor);
  std::set<std::string> capture;
  if (!a.dump_layer.empty()) capture.insert(a.dump_layer);
  nn::LayerRecorder recorder(s.net(), capture, !a.dump_layers.empty());
  Tensor logits;
  {
    nn::ForwardHookGuard guard(&recorder);
    logits = s.logits(x);
  }
  if (!a.dump_logits.empty()) {
    weights::write_npy(a.dump_logits, logits);
    out << "logits " << logits.str() << " -> " << a.dump_logits << "\n";
  }
  if (!a.dump_layer.empty()) {
    auto it = recorder.captured().find(a.dump_layer);
    if (it == recorder.captured().end()) {
      // Suggest the modules under the same top-level name, else the first ones.
      std::vector<std::string> all, near;
      for (const auto& [m, name] : nn::module_names(s.net()))
        if (!name.empty()) all.push_back(name);
      std::sort(all.begin(), all.end());
      const std::string top = a.dump_layer.substr(0, a.dump_layer.find('.'));
      for (const std::string& n : all)
        if (n.substr(0, n.find('.')) == top) near.push_back(n);
      const std::vector<std::string>& shown = near.empty() ? all : near;
      std::string list;
      for (size_t i = 0; i < shown.size() && i < 12; ++i) list += (i ? ", " : "") + shown[i];
      if (shown.size() > 12) list += ", ...";
      CUDASEG_FAIL("no module '", a.dump_layer, "' was called (modules: ", list, ")");
    }
    weights::write_npy(a.dump_layer_out, it->second);
    out << a.dump_layer << " " << it->second.str() << " -> " << a.dump_layer_out << "\n";
  }
  if (!a.dump_layers.empty()) {
    write_file_atomic(a.dump_layers, layers_json(s.info().model_json, x.shape(), recorder.records(), logits));
    out << recorder.records().size() << " layer calls -> " << a.dump_layers << "\n";
  }
  return 0;
}

int run_images(const Args& a, infer::InferenceSession& s, std::ostream& out, std::ostream& err) {
  const std::vector<std::string> inputs = expand_inputs(a.inputs);
  fs::create_directories(a.out);
  const infer::Palette palette = palette_for(s);
  std::map<std::string, int> stems;
  std::vector<double> latencies_ms;
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  // One bad input costs only itself: the others (those batched with it too)
  // are written, and one line at the end lists every failure.
  std::vector<std::string> failures;
  auto failed = [&](const std::string& input, const std::exception& e) {
    const std::string why = one_line(e.what());
    failures.push_back(why.find(input) == std::string::npos ? input + ": " + why : why);
  };
  for (size_t first = 0; first < inputs.size(); first += a.batch) {
    const size_t end = std::min(inputs.size(), first + static_cast<size_t>(a.batch));
    std::vector<Tensor> images;
    std::vector<size_t> index;
    for (size_t i = first; i < end; ++i) {
      try {
        images.push_back(read_image(inputs[i], 3));
        index.push_back(i);
      } catch (const std::exception& e) {
        failed(inputs[i], e);
      }
    }
    if (images.empty()) continue;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Tensor> labels;
    std::vector<bool> ok(images.size(), true);
    try {
      labels = s.predict_batch(images);
    } catch (const std::exception&) {
      // Which image of the batch failed is unknown: each alone says.
      labels.assign(images.size(), Tensor());
      for (size_t k = 0; k < images.size(); ++k) {
        try {
          labels[k] = s.predict_batch({images[k]})[0];
        } catch (const std::exception& e) {
          ok[k] = false;
          failed(inputs[index[k]], e);
        }
      }
    }
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    for (size_t k = 0; k < images.size(); ++k) {
      if (!ok[k]) continue;
      std::string stem = fs::path(inputs[index[k]]).stem().string();
      if (const int n = stems[stem]++; n > 0) stem += "_" + std::to_string(n + 1);
      const std::string base = (fs::path(a.out) / stem).string();
      try {
        const Tensor color = infer::colorize(labels[k], palette);
        write_png(base + "_label.png", infer::label_png(labels[k]));
        write_png(base + "_color.png", color);
        write_png(base + "_overlay.png", infer::overlay(images[k], color, a.alpha));
      } catch (const std::exception& e) {
        failed(inputs[index[k]], e);
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (!a.quiet && inputs.size() > 1 && (now - last_report > std::chrono::seconds(1) || end == inputs.size())) {
      const double secs = std::chrono::duration<double>(now - start).count();
      err << "[" << end << "/" << inputs.size() << "] " << static_cast<int64_t>(end / secs * 10) / 10.0
          << " images/s\n";
      last_report = now;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const size_t done = inputs.size() - failures.size();
  out << std::fixed << std::setprecision(2) << done << " images -> " << a.out << " (" << 3 * done << " PNGs) in " << secs
      << " s\n";
  if (!latencies_ms.empty()) {
    double mean = 0;
    for (double v : latencies_ms) mean += v / latencies_ms.size();
    out << "latency per batch of " << a.batch << " (preprocess, forward, resize, argmax): mean " << mean << " ms, p50 "
        << percentile(latencies_ms, 0.5) << " ms, p99 " << percentile(latencies_ms, 0.99) << " ms\n";
  }
  if (failures.empty()) return 0;
  err << "rtseg_infer: " << failures.size() << " of " << inputs.size() << " inputs failed: ";
  for (size_t i = 0; i < failures.size(); ++i) err << (i ? "; " : "") << failures[i];
  err << "\n";
  return 1;
}

}  // namespace

int infer_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  return run_tool("rtseg_infer", kUsage, argc, argv, out, err, parse, [&](const Args& a) {
    if (a.threads > 0) set_num_threads(static_cast<int>(a.threads));
    infer::InferenceSession s = infer::InferenceSession::load(a.weights, session_options(a));
    if (!a.input_tensor.empty()) return run_debug(a, s, out);
    if (!a.video.empty()) {
      VideoOptions vo;
      vo.alpha = a.alpha;
      vo.batch = static_cast<int>(a.batch);
      vo.quiet = a.quiet;
      const int64_t frames = segment_video(s, a.video, a.out, palette_for(s), vo, err);
      out << frames << " frames -> " << a.out << "\n";
      return 0;
    }
    return run_images(a, s, out, err);
  });
}

}  // namespace cudaseg::cli
