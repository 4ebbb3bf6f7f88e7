#!/usr/bin/python3
"""Measures a net in PyTorch the way rtseg_bench measures it in cudaseg, and
with --rtseg-bench runs both in one go and prints the ratio.

  /usr/bin/python3 tools/bench_torch.py --upstream /tmp/upstream/zh320 \
      --config C.json | --net fastscnn  [--size 512x1024] [--batch 1] \
      [--device cpu|cuda[:N]] [--precision fp32|fp16|bf16] [--iters 20] [--warmup 3] \
      [--threads N] [--json] [--rtseg-bench build/rtseg_bench]

The model is built from the upstream checkout exactly as the golden tools
build it (tools/goldens/upstream.py), with PyTorch's default initialisation,
put in eval mode and run under torch.inference_mode() on uniform [-1, 1]
input. Reported like rtseg_bench --json: latency (mean, p50, p99, min over
--iters after --warmup, the device synchronised after each forward),
throughput, parameter count, GMACs of Conv2d/ConvTranspose2d/Linear layers
(counted by forward hooks with rtseg_bench's rule), and peak memory (CUDA
allocator peak on a GPU, the process's peak RSS on the CPU), and the
process's RSS once the model is built, before its first forward (idle
RSS: Python, PyTorch and the weights). PyTorch runs
eagerly and does not fold BatchNorm; rtseg_bench folds unless given --no-fuse.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import blas_threads  # noqa: F401  (before torch: OpenBLAS sizes its pool on load)
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens"))
import upstream as U  # noqa: E402

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def parse_size(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h > 0 and w > 0:
            return h, w
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"wants HxW with positive integers, got '{text}'")


def percentile(values, q):
    v = sorted(values)
    return v[int(q * (len(v) - 1) + 0.5)]


def status_bytes(field):
    """A /proc/self/status field in bytes, None where it is missing."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def peak_rss_bytes():
    """VmHWM, as rtseg_bench reports it (ru_maxrss survives exec, VmHWM does not)."""
    hwm = status_bytes("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def count_macs(model, config, x):
    total = [0]
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]

    def hook(mod, inp, out):
        per_output = mod.weight.numel() // mod.weight.shape[0]
        if isinstance(mod, nn.Conv2d):
            total[0] += out.numel() * per_output
        elif isinstance(mod, nn.ConvTranspose2d):
            total[0] += inp[0].numel() * per_output
        else:
            total[0] += out.numel() * mod.weight.shape[1]

    handles = [m.register_forward_hook(hook) for m in layers]
    U.forward(model, config, x, training=False)
    for h in handles:
        h.remove()
    return total[0], len(layers)


def measure(a, config):
    if a.threads:
        torch.set_num_threads(a.threads)
    cuda = a.device.startswith("cuda")
    if a.precision != "fp32" and not cuda:
        sys.exit("bench_torch: --precision fp16/bf16 needs --device cuda")
    model, info = U.build(os.path.abspath(a.upstream), config)
    model.eval().to(a.device, DTYPES[a.precision])
    idle_rss = status_bytes("VmRSS")  # as rtseg_bench: model built, before the first forward
    params = sum(p.numel() for p in model.parameters())
    h, w = a.size
    g = torch.Generator().manual_seed(0)
    x = (torch.rand((a.batch, 3, h, w), generator=g) * 2 - 1).to(a.device, DTYPES[a.precision])
    with torch.inference_mode():
        macs, layers = count_macs(model, config, x)
        for _ in range(a.warmup):
            U.forward(model, config, x, training=False)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        ms = []
        for _ in range(a.iters):
            t0 = time.perf_counter()
            U.forward(model, config, x, training=False)
            if cuda:
                torch.cuda.synchronize()
            ms.append((time.perf_counter() - t0) * 1e3)
    mean = sum(ms) / len(ms)
    r = {"tool": "bench_torch", "model": config, "size": [h, w], "batch": a.batch, "device": a.device,
         "precision": a.precision, "fused": False, "iters": a.iters, "warmup": a.warmup, "params": params,
         "gmacs": macs / a.batch / 1e9, "macs_layers_counted": layers, "macs_layers_total": layers,
         "latency_ms": {"mean": mean, "p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99), "min": min(ms)},
         "throughput_images_per_s": a.batch * 1000.0 / mean, "torch": torch.__version__,
         "threads": torch.get_num_threads(), "upstream_commit": info.get("upstream_path_commit")}
    if cuda:
        r["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
        r["peak_memory_kind"] = "cuda allocator, timed iterations"
    else:
        r["peak_memory_bytes"] = peak_rss_bytes()
        r["peak_memory_kind"] = "process peak RSS"
    r["idle_rss_bytes"] = idle_rss
    return r


def run_rtseg(a, config):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"model": config}, f)
        path = f.name
    try:
        cmd = [a.rtseg_bench, "--config", path, "--size", f"{a.size[0]}x{a.size[1]}", "--batch", str(a.batch),
               "--device", a.device, "--precision", a.precision, "--iters", str(a.iters), "--warmup",
               str(a.warmup), "--json"]
        env = dict(os.environ)
        if a.threads:
            env["CUDASEG_NUM_THREADS"] = str(a.threads)
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            sys.exit(f"bench_torch: rtseg_bench failed ({p.returncode}): {p.stderr.strip()}")
        return json.loads(p.stdout)
    finally:
        os.unlink(path)


def line(r):
    l = r["latency_ms"]
    return (f"{r['tool']:>12}: mean {l['mean']:.3f} ms  p50 {l['p50']:.3f}  p99 {l['p99']:.3f}  "
            f"{r['throughput_images_per_s']:.1f} images/s  params {r['params']}  GMACs {r['gmacs']:.4f}  "
            f"peak {r['peak_memory_bytes'] / 2**20:.1f} MiB  idle RSS {r['idle_rss_bytes'] / 2**20:.1f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="zh320 or NVlabs SegFormer checkout")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="JSON file with a 'model' object (or the model object itself)")
    src.add_argument("--net", choices=sorted(U.NETS), help="a golden set's config")
    ap.add_argument("--size", type=parse_size, default=(512, 1024))
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", choices=sorted(DTYPES), default="fp32")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for both (default: each one's own)")
    ap.add_argument("--rtseg-bench", help="path of rtseg_bench: measure cudaseg too and print the ratio")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.batch < 1 or a.iters < 1 or a.warmup < 0:
        ap.error("--batch and --iters must be >= 1, --warmup >= 0")
    if a.config:
        with open(a.config) as f:
            doc = json.load(f)
        config = doc.get("model", doc)
    else:
        config = U.NETS[a.net]

    torch_r = measure(a, config)
    results = {"pytorch": torch_r}
    if a.rtseg_bench:
        ours = run_rtseg(a, config)
        results["cudaseg"] = ours
        results["speedup"] = torch_r["latency_ms"]["mean"] / ours["latency_ms"]["mean"]
    if a.json:
        print(json.dumps(results))
        return
    print(json.dumps(config))
    print(line(torch_r))
    if a.rtseg_bench:
        print(line(results["cudaseg"]))
        print(f"cudaseg speedup over PyTorch (mean latency): {results['speedup']:.2f}x")


if __name__ == "__main__":
    main()
