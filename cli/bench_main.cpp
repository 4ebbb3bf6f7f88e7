// rtseg_bench (cli/cli.h bench_main): latency, throughput,
// parameters, MACs, peak memory and per-layer times of a net, from a config
// (random weights) or a checkpoint, through the inference session.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <limits>
#include <ostream>

#include <nlohmann/json.hpp>

#include "autograd/engine.h"
#include "nn/registry.h"
#include "runtime/gpu.h"
#include "runtime/json_read.h"
#include "runtime/rng.h"
#include "weights/file_io.h"
#include "runtime/thread_pool.h"
#include "cli/args.h"
#include "cli/cli.h"

namespace cudaseg::cli {
namespace {

using cli::UsageError;
using Json = nlohmann::json;

constexpr const char* kUsage = R"(usage: rtseg_bench (--config C.json | --weights W.json) [options]

Measures a net as rtseg_infer runs it (BatchNorm folded, activations fused):
latency and throughput of the forward pass on random input, the process's
CPU time per forward (at --threads 1 a latency that other processes on a
shared machine do not inflate), parameter count,
GMACs (every Conv2d, ConvTranspose2d and Linear layer the forward calls),
peak memory (CUDA allocator peak on a GPU, the
process's peak RSS on the CPU, read before the MAC count's hooked forward),
the process's RSS once the session is open and before its first forward
(idle, weights loaded) and, with --per-layer, each module's time.

  --config C.json   a JSON file with a "model" object (or the model object itself); random weights
  --weights W.json  a cudaseg checkpoint
  --size HxW        input size (default 512x1024)
  --batch N         batch size (default 1)
  --device D        cpu, cuda or cuda:N (default cpu)
  --precision P     fp32, fp16 or bf16 (default fp32; fp16/bf16 need CUDA)
  --iters N         timed iterations (default 20)
  --warmup N        untimed iterations first (default 3)
  --no-fuse         the plain module forward
  --graphs on|off   CUDA graphs: capture the forward once, replay it (default on; CUDA only)
  --tf32 on|off     TF32 tensor-core maths in float32 convolutions and matrix products (default off; CUDA only)
  --threads N       CPU threads (default: CUDASEG_NUM_THREADS, else every hardware thread)
  --per-layer       per-module time table (synchronised at every module: slower overall)
  --json            one JSON object on stdout instead of the text report
  --help            this text
)";

struct Args {
  std::string config, weights, device = "cpu", precision = "fp32";
  std::array<int64_t, 2> size{512, 1024};
  int64_t batch = 1, iters = 20, warmup = 3, threads = 0;  // 0: the pool as it is
  bool fuse = true, graphs = true, tf32 = false, per_layer = false, json = false;
};

Args parse(int argc, const char* const* argv) {
  Args a;
  cli::ArgReader r(argc, argv);
  while (!r.done()) {
    const std::string f = r.next();
    if (f == "--config") a.config = r.value(f);
    else if (f == "--weights") a.weights = r.value(f);
    else if (f == "--size") a.size = cli::parse_size(f, r.value(f));
    else if (f == "--batch") a.batch = cli::parse_int(f, r.value(f), 1);
    else if (f == "--device") a.device = r.value(f);
    else if (f == "--precision") a.precision = r.value(f);
    else if (f == "--iters") a.iters = cli::parse_int(f, r.value(f), 1);
    else if (f == "--warmup") a.warmup = cli::parse_int(f, r.value(f), 0);
    else if (f == "--no-fuse") a.fuse = false;
    else if (f == "--graphs") a.graphs = cli::parse_on_off(f, r.value(f));
    else if (f == "--tf32") a.tf32 = cli::parse_on_off(f, r.value(f));
    else if (f == "--threads") a.threads = cli::parse_int(f, r.value(f), 1, kMaxThreads);
    else if (f == "--per-layer") a.per_layer = true;
    else if (f == "--json") a.json = true;
    else throw UsageError{"unexpected argument " + f};
  }
  if (a.config.empty() == a.weights.empty()) throw UsageError{"give exactly one of --config C.json and --weights W.json"};
  try {
    const Device d = Device::parse(a.device);
    if (infer::parse_precision(a.precision) != infer::Precision::fp32 && !d.is_cuda())
      throw UsageError{"--precision " + a.precision + " needs --device cuda"};
  } catch (const Error& e) {
    throw UsageError{e.what()};
  }
  return a;
}

infer::InferenceSession open_session(const Args& a) {
  infer::SessionOptions o;
  o.device = Device::parse(a.device);
  o.precision = infer::parse_precision(a.precision);
  o.fuse = a.fuse;
  o.cuda_graphs = a.graphs;
  o.tf32 = a.tf32;
  if (!a.weights.empty()) return infer::InferenceSession::load(a.weights, o);
  const Json doc = parse_json(weights::read_text_file(a.config), a.config);
  const Json model = doc.contains("model") ? doc["model"] : doc;
  infer::ModelInfo info;
  info.model_json = nn::resolve_model_config(model).dump();
  return infer::InferenceSession::from_net(nn::create_net(model), info, o);
}

void sync(const Device& d) {
  if (d.is_cuda()) gpu::synchronize(d.index);
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * (v.size() - 1) + 0.5)];
}

// A /proc/self/status field in bytes, -1 where it is missing.
int64_t status_bytes(const char* field) {
  std::ifstream status("/proc/self/status");
  const std::string key = std::string(field) + ":";
  for (std::string line; std::getline(status, line);)
    if (line.rfind(key, 0) == 0) return std::atoll(line.c_str() + key.size()) * 1024;
  return -1;
}

// VmHWM: this process image's peak, unlike getrusage's ru_maxrss, which a
// child started by a bigger parent (bench_torch.py) inherits across exec.
int64_t peak_rss_bytes() {
  const int64_t hwm = status_bytes("VmHWM");
  if (hwm >= 0) return hwm;
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

// The CPU time of every thread of the process: at one thread, a forward's
// latency that another process on a shared machine does not inflate.
double process_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

Json measure(const Args& a, infer::InferenceSession& s, int64_t idle_rss) {
  const Device device = s.options().device;
  const Tensor x = Generator(0).uniform({a.batch, 3, a.size[0], a.size[1]}, -1.0, 1.0).to(device);
  autograd::NoGradGuard no_grad;
  int64_t params = 0;
  for (const Tensor& p : s.net().parameters()) params += p.numel();

  for (int64_t i = 0; i < a.warmup; ++i) s.forward(x);
  sync(device);
  // The first timed call's state: with warm-up, the shape's plan and graph are settled.
  s.forward(x);
  const infer::ForwardStats planned = s.last_forward();
  if (device.is_cuda()) gpu::reset_peak_stats(device.index);
  std::vector<double> ms, cpu_ms;
  for (int64_t i = 0; i < a.iters; ++i) {
    const double c0 = process_cpu_ms();
    const auto t0 = std::chrono::steady_clock::now();
    s.forward(x);
    sync(device);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    cpu_ms.push_back(process_cpu_ms() - c0);
  }
  // Read before the MAC count: its hooked forward takes the plain path, which
  // an application never runs, so the peak is that of the forwards it does run.
  const int64_t peak_rss = peak_rss_bytes();
  nn::MacCounter macs(s.net());
  {
    nn::ForwardHookGuard guard(&macs);
    s.forward(x);
  }
  double mean = 0;
  for (double v : ms) mean += v / ms.size();
  Json r = {{"tool", "rtseg_bench"},
            {"model", Json::parse(s.info().model_json)},
            {"size", a.size},
            {"batch", a.batch},
            {"device", device.str()},
            {"threads", num_threads()},
            {"precision", infer::precision_name(s.options().precision)},
            {"tf32", device.is_cuda() && a.tf32},
            {"fused", a.fuse},
            {"folded_batchnorms", s.fuse_report().folded_batchnorms},
            {"fused_activations", s.fuse_report().fused_activations},
            {"cuda_graphs", device.is_cuda() && a.graphs},
            {"graph_replayed", planned.graph_replayed},
            {"planned_arena_bytes", planned.arena_bytes},
            {"iters", a.iters},
            {"warmup", a.warmup},
            {"params", params},
            {"gmacs", static_cast<double>(macs.macs()) / a.batch / 1e9},
            {"macs_layers_counted", macs.counted_modules()},
            {"macs_layers_total", macs.total_modules()},
            {"latency_ms", {{"mean", mean}, {"p50", percentile(ms, 0.5)}, {"p99", percentile(ms, 0.99)},
                            {"min", *std::min_element(ms.begin(), ms.end())}}},
            {"cpu_ms", {{"p50", percentile(cpu_ms, 0.5)}, {"min", *std::min_element(cpu_ms.begin(), cpu_ms.end())}}},
            {"throughput_images_per_s", a.batch * 1000.0 / mean}};
  if (device.is_cuda()) {
    r["peak_memory_bytes"] = gpu::allocator_stats(device.index).peak_allocated_bytes;
    r["peak_memory_kind"] = "cuda allocator, timed iterations";
  } else {
    r["peak_memory_bytes"] = peak_rss;
    r["peak_memory_kind"] = "process peak RSS";
  }
  r["idle_rss_bytes"] = idle_rss;
  if (a.per_layer) {
    nn::LayerTimer timer(s.net());
    {
      nn::ForwardHookGuard guard(&timer);
      for (int64_t i = 0; i < a.iters; ++i) s.forward(x);
    }
    Json rows = Json::array();
    for (const auto& e : timer.entries())
      rows.push_back({{"name", e.name}, {"type", e.type}, {"depth", e.depth}, {"calls", e.calls / a.iters},
                      {"ms", e.total_ms / a.iters}});
    r["per_layer"] = rows;
  }
  return r;
}

const char* graph_note(const Json& r) {
  if (!r["cuda_graphs"].get<bool>()) return "";
  return r["graph_replayed"].get<bool>() ? ", CUDA graph replayed" : ", CUDA graph not used";
}

void report(const Json& r, std::ostream& out) {
  const Json& l = r["latency_ms"];
  out << std::fixed << std::setprecision(3) << r["model"].dump() << "\n"
      << "  input " << r["batch"] << "x3x" << r["size"][0] << "x" << r["size"][1] << " on "
      << r["device"].get<std::string>() << " (" << r["threads"] << " CPU threads), "
      << r["precision"].get<std::string>() << (r["tf32"].get<bool>() ? " (TF32)" : "") << (r["fused"].get<bool>() ? ", fused" : ", plain") << " (" << r["folded_batchnorms"]
      << " BatchNorms folded, " << r["fused_activations"] << " activations fused)\n"
      << "  params " << r["params"] << " (" << r["params"].get<double>() / 1e6 << " M), GMACs per image "
      << std::setprecision(4) << r["gmacs"].get<double>() << std::setprecision(3) << " (" << r["macs_layers_counted"] << " of " << r["macs_layers_total"]
      << " conv/linear layers reached)\n"
      << "  latency mean " << l["mean"].get<double>() << " ms, p50 " << l["p50"].get<double>() << " ms, p99 "
      << l["p99"].get<double>() << " ms, min " << l["min"].get<double>() << " ms over " << r["iters"] << " iters\n"
      << "  CPU time per forward p50 " << r["cpu_ms"]["p50"].get<double>() << " ms, min "
      << r["cpu_ms"]["min"].get<double>() << " ms (every thread of the process)\n"
      << "  throughput " << r["throughput_images_per_s"].get<double>() << " images/s\n"
      << "  peak memory " << r["peak_memory_bytes"].get<double>() / (1 << 20) << " MiB ("
      << r["peak_memory_kind"].get<std::string>() << "), idle RSS with the weights loaded "
      << r["idle_rss_bytes"].get<double>() / (1 << 20) << " MiB\n"
      << "  planned arena " << r["planned_arena_bytes"].get<double>() / (1 << 20) << " MiB" << graph_note(r) << "\n";
  if (!r.contains("per_layer")) return;
  out << "  per layer (ms per forward, inclusive of children; % of the outermost timed modules' sum):\n";
  // A net that calls a container's forward() directly hides it from the hooks,
  // so the outermost timed modules may sit deeper than depth 1.
  int top = std::numeric_limits<int>::max();
  for (const auto& row : r["per_layer"]) top = std::min(top, row["depth"].get<int>());
  double total = 0;
  for (const auto& row : r["per_layer"])
    if (row["depth"].get<int>() == top) total += row["ms"].get<double>();
  for (const auto& row : r["per_layer"])
    out << "    " << std::setw(9) << row["ms"].get<double>() << "  " << std::setw(5) << std::setprecision(1)
        << 100.0 * row["ms"].get<double>() / total << "%  " << std::setprecision(3)
        << std::string(2 * (row["depth"].get<int>() - top), ' ') << row["name"].get<std::string>() << " ("
        << row["type"].get<std::string>() << ")\n";
}

}  // namespace

int bench_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  return run_tool("rtseg_bench", kUsage, argc, argv, out, err, parse, [&](const Args& a) {
    if (a.threads > 0) set_num_threads(static_cast<int>(a.threads));
    infer::InferenceSession s = open_session(a);
    const Json r = measure(a, s, status_bytes("VmRSS"));
    if (a.json) out << r.dump() << "\n";
    else report(r, out);
    return 0;
  });
}

}  // namespace cudaseg::cli
