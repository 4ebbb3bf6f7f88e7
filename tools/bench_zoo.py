#!/usr/bin/python3
"""Batch-1 CPU latency of the zh320 nets (and of the seeds' other nets, given
their checkouts with --upstream-dir) in cudaseg, PyTorch eager and
onnxruntime, all three measured in one run, interleaved round by round.

Set-up (once; Debian's torch 1.13 is a system package built against numpy 1,
so the venv sees the system site-packages and pins numpy below 2):

  /usr/bin/python3 -m venv --system-site-packages /work/venv-bench
  /work/venv-bench/bin/pip install "numpy<2" onnx onnxruntime

Run (from the repository root, after `ninja -C build rtseg_bench rtseg_convert`):

  /work/venv-bench/bin/python tools/bench_zoo.py --upstream /tmp/upstream/zh320 \
      [--nets adscnet,cgnet,...] [--size 512x1024] [--threads 2] [--rounds 5] \
      [--iters 3] [--warmup 1] [--opset 17] [--json out.json] [--keep-onnx DIR]

For each net: the upstream model (tools/goldens/upstream.py, PyTorch default
initialisation, eval) is exported to ONNX the way zh320's tools/export.py does
it (non-global adaptive pools swapped for its AdaptiveAvgPool2dForONNX), the
export is checked against the eager output, and then --rounds rounds follow.
Each round runs the three runtimes back to back, in an order that rotates
from round to round, each with --warmup untimed and --iters timed forwards:

  * PyTorch eager: torch.set_num_threads(N), torch.inference_mode();
  * onnxruntime: CPUExecutionProvider, ORT_ENABLE_ALL, intra_op N, inter_op 1;
  * cudaseg: build/rtseg_bench --weights W.json --threads N --json, W being
    the PyTorch model's weights converted by build/rtseg_convert (with
    --cudaseg-random-weights: --config nets/<net>.json, cudaseg's own init);
    BatchNorm folded, activations fused: rtseg_bench's defaults, i.e. how
    rtseg_infer runs a net.

A round's latency is the median of its timed forwards (rtseg_bench's p50), and
the ratios cudaseg/PyTorch and cudaseg/onnxruntime are taken within a round, so
all three share whatever else the machine was doing then. Reported: the median
over rounds and the min-max across rounds of each latency and each ratio.
OpenBLAS (which Debian's torch uses for matmul and some 1x1 convolutions) is
limited to N threads by tools/blas_threads.py; cudaseg runs it on one thread
per band itself.
"""

import os
import sys

# blas_threads reads --threads from argv; the default must reach OpenBLAS too,
# and only an environment variable set before torch loads does.
DEFAULT_THREADS = 2
if not any(a == "--threads" or a.startswith("--threads=") for a in sys.argv[1:]):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(DEFAULT_THREADS))

import blas_threads  # noqa: E402,F401  (before torch)
import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import bench_torch as BT  # noqa: E402  (parse_size, percentile, the upstream module as BT.U)

U = BT.U
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --nets ii (the default) and --nets iii: the two issues' sets.
NETS = ["adscnet", "aglnet", "cfpnet", "cgnet", "dabnet", "edanet", "erfnet", "esnet", "espnet", "espnetv2",
        "fddwnet", "fpenet", "fssnet", "lednet", "mininet", "mininetv2"]
NETS_III = ["bisenetv1", "canet", "contextnet", "dfanet", "fanet", "farseenet", "icnet", "linknet", "litehrnet",
            "liteseg", "regseg", "segnet", "shelfnet", "sqnet", "swiftnet"]
RUNTIMES = ("pytorch", "onnxruntime", "cudaseg")


class MainOutput(nn.Module):
    """The upstream inference forward with only the main output, as exported."""

    def __init__(self, model, config):
        super().__init__()
        self.model = model
        self.config = config

    def forward(self, x):
        return U.forward(self.model, self.config, x, training=False)[0]


def drop_output_clones(model):
    # upstream.py clones some outputs so that training backward works; in
    # inference the in-place adds are fine, and the copies would slow PyTorch.
    for m in model.modules():
        m._forward_hooks.clear()


def export_onnx(model, config, x, path, opset):
    """Returns None, or why the export failed."""
    model = copy.deepcopy(model)
    if config["name"] in U.ZH320_CLASSES:
        from models.modules import replace_adaptive_avg_pool  # zh320's, on sys.path once a net is built
        model = replace_adaptive_avg_pool(model)
    wrapped = MainOutput(model, config).eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapped, x, path, opset_version=opset, input_names=["input"],
                              output_names=["output"], do_constant_folding=True)
    except Exception as e:  # noqa: BLE001  (any failure is a result to report)
        msg = str(e).strip().splitlines()
        return f"{type(e).__name__}: {msg[0] if msg else ''}"[:200]
    return None


def ort_session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def time_calls(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)


def convert_weights(a, model, net, workdir):
    """The PyTorch model's own weights as a cudaseg checkpoint: all three runtimes
    then compute on the same numbers (no init-dependent effect such as denormals
    can favour one of them)."""
    pth = os.path.join(workdir, f"{net}.pth")
    out = os.path.join(workdir, f"{net}.bin")
    torch.save(model.state_dict(), pth)
    p = subprocess.run([a.rtseg_convert, pth, "--config", os.path.join(REPO, "nets", f"{net}.json"), "-o", out],
                       capture_output=True, text=True)
    os.unlink(pth)
    if p.returncode != 0:
        raise RuntimeError(f"rtseg_convert failed ({p.returncode}): {p.stderr.strip()[-300:]}")
    return os.path.join(workdir, f"{net}.json")


def run_cudaseg(a, net, weights):
    src = ["--weights", weights] if weights else ["--config", os.path.join(REPO, "nets", f"{net}.json")]
    cmd = [a.rtseg_bench, *src, "--size",
           f"{a.size[0]}x{a.size[1]}", "--threads", str(a.threads), "--iters", str(a.iters), "--warmup",
           str(a.warmup), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"rtseg_bench failed ({p.returncode}): {p.stderr.strip()[-300:]}")
    return json.loads(p.stdout)


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


def bench_net(a, net, workdir):
    with open(os.path.join(REPO, "nets", f"{net}.json")) as f:
        doc = json.load(f)
    config = doc.get("model", doc)
    model, info = U.build(a.upstream_dirs.get(config["name"], a.upstream), config)
    drop_output_clones(model)
    model.eval()
    h, w = a.size
    g = torch.Generator().manual_seed(0)
    x = torch.rand((1, 3, h, w), generator=g) * 2 - 1
    r = {"net": net, "config": config, "upstream_commit": info.get("upstream_path_commit")}

    weights = None if a.cudaseg_random_weights else convert_weights(a, model, net, workdir)
    r["cudaseg_weights"] = "its own random init (--config)" if weights is None else "converted from PyTorch's"
    onnx_path = os.path.join(a.keep_onnx or workdir, f"{net}.onnx")
    r["onnx_error"] = export_onnx(model, config, x, onnx_path, a.opset)
    sess = None
    if r["onnx_error"] is None:
        try:
            sess = ort_session(onnx_path, a.threads)
            xin = {sess.get_inputs()[0].name: x.numpy()}
            with torch.inference_mode():
                ref = U.forward(model, config, x, training=False)[0]
            got = torch.from_numpy(sess.run(None, xin)[0])
            # relative to the output's scale: default-init nets differ wildly in it (FPENet's is ~1e-7)
            r["onnx_rel_diff"] = float((got - ref).abs().max() / ref.abs().max().clamp_min(1e-30)) \
                if got.shape == ref.shape else None
            if got.shape != ref.shape:
                r["onnx_error"] = f"onnxruntime output {tuple(got.shape)} != PyTorch {tuple(ref.shape)}"
                sess = None
        except Exception as e:  # noqa: BLE001
            r["onnx_error"] = f"onnxruntime: {type(e).__name__}: {str(e).strip().splitlines()[0][:200]}"
            sess = None

    def torch_fwd():
        with torch.inference_mode():
            U.forward(model, config, x, training=False)

    ms = {k: [] for k in RUNTIMES}
    last_cudaseg = None
    for rnd in range(a.rounds):
        order = RUNTIMES[rnd % 3:] + RUNTIMES[:rnd % 3]
        for rt in order:
            if rt == "pytorch":
                ms[rt].append(time_calls(torch_fwd, a.warmup, a.iters))
            elif rt == "onnxruntime" and sess is not None:
                ms[rt].append(time_calls(lambda: sess.run(None, xin), a.warmup, a.iters))
            elif rt == "cudaseg":
                last_cudaseg = run_cudaseg(a, net, weights)
                ms[rt].append(last_cudaseg["latency_ms"]["p50"])
    r["params"] = last_cudaseg["params"]
    r["gmacs"] = last_cudaseg["gmacs"]
    r["latency_ms"] = {k: spread(v) for k, v in ms.items() if v}
    r["ratio"] = {"cudaseg/pytorch": spread([c / t for c, t in zip(ms["cudaseg"], ms["pytorch"])])}
    if ms["onnxruntime"]:
        r["ratio"]["cudaseg/onnxruntime"] = spread([c / o for c, o in zip(ms["cudaseg"], ms["onnxruntime"])])
    return r


def fmt_ms(s):
    return f"{s['median']:.0f} ({s['min']:.0f}-{s['max']:.0f})"


def fmt_ratio(s):
    return f"**{s['median']:.2f}** ({s['min']:.2f}-{s['max']:.2f})" if s["median"] > 1.0 else \
        f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})"


def table(results):
    rows = ["| net | GMACs | PyTorch ms | onnxruntime ms | cudaseg ms | cudaseg / PyTorch | cudaseg / onnxruntime |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    notes = []
    for r in results:
        if "error" in r:
            rows.append(f"| {r['net']} | | | | | failed: {r['error']} | |")
            continue
        lat, rat = r["latency_ms"], r["ratio"]
        ort_ms = fmt_ms(lat["onnxruntime"]) if "onnxruntime" in lat else "no ONNX (see below)"
        ort_ratio = fmt_ratio(rat["cudaseg/onnxruntime"]) if "cudaseg/onnxruntime" in rat else "-"
        rows.append(f"| {r['net']} | {r['gmacs']:.2f} | {fmt_ms(lat['pytorch'])} | {ort_ms} | "
                    f"{fmt_ms(lat['cudaseg'])} | {fmt_ratio(rat['cudaseg/pytorch'])} | {ort_ratio} |")
        if r.get("onnx_error"):
            notes.append(f"- {r['net']}: no onnxruntime number: {r['onnx_error']}")
        elif r.get("onnx_rel_diff") is not None and r["onnx_rel_diff"] > 1e-3:
            notes.append(f"- {r['net']}: onnxruntime output differs from PyTorch's by up to "
                         f"{r['onnx_rel_diff']:.2e} of its largest value")
    return "\n".join(rows + ([""] + notes if notes else []))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", default="/tmp/upstream/zh320", help="zh320 checkout")
    ap.add_argument("--rtseg-bench", default=os.path.join(REPO, "build", "rtseg_bench"))
    ap.add_argument("--rtseg-convert", default=os.path.join(REPO, "build", "rtseg_convert"))
    ap.add_argument("--cudaseg-random-weights", action="store_true",
                    help="run cudaseg on its own random init (--config) instead of PyTorch's converted weights")
    ap.add_argument("--nets", default="ii", help="comma-separated run configs (nets/<name>.json), or ii / iii for the "
                    "sets above")
    ap.add_argument("--upstream-dir", action="append", default=[], metavar="NAME=DIR",
                    help="the checkout that builds registry name NAME (not zh320's), e.g. "
                    "fastsegformer=/tmp/upstream/fastsegformer; repeatable (the Swin-T-Att-UNet teacher comes "
                    "from the same checkout: swin_t_att_unet=/tmp/upstream/fastsegformer)")
    ap.add_argument("--size", type=BT.parse_size, default=(512, 1024))
    ap.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=3, help="timed forwards per runtime per round")
    ap.add_argument("--warmup", type=int, default=1, help="untimed forwards per runtime per round")
    ap.add_argument("--opset", type=int, default=17, help="ONNX opset (torch 1.13 exports up to 17)")
    ap.add_argument("--keep-onnx", help="directory to keep the exported .onnx files in")
    ap.add_argument("--json", help="also write every number (per round too) to this file")
    a = ap.parse_args()
    if a.threads < 1 or a.rounds < 1 or a.iters < 1 or a.warmup < 0:
        ap.error("--threads, --rounds and --iters must be >= 1, --warmup >= 0")
    a.upstream = os.path.abspath(a.upstream)
    a.upstream_dirs = {}
    for item in a.upstream_dir:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            ap.error(f"--upstream-dir takes NAME=DIR, not '{item}'")
        a.upstream_dirs[name] = os.path.abspath(path)
    nets = {"ii": NETS, "iii": NETS_III}.get(a.nets) or [n for n in a.nets.split(",") if n]
    for n in nets:
        cfg_path = os.path.join(REPO, "nets", f"{n}.json")
        if not os.path.exists(cfg_path):
            ap.error(f"unknown net '{n}' (no nets/{n}.json)")
        with open(cfg_path) as f:
            doc = json.load(f)
        name = doc.get("model", doc)["name"]
        if name not in U.ZH320_CLASSES and name not in a.upstream_dirs:
            ap.error(f"{n}: registry name '{name}' is not a zh320 net; give its checkout with --upstream-dir {name}=DIR")
    torch.set_num_threads(a.threads)
    import onnxruntime as ort

    def loadavg():
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])

    meta = {"size": list(a.size), "threads": a.threads, "rounds": a.rounds, "iters": a.iters,
            "warmup": a.warmup, "opset": a.opset, "torch": torch.__version__, "onnxruntime": ort.__version__,
            "cpu": platform.processor() or platform.machine(), "load_start": loadavg(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"# {meta}", file=sys.stderr)
    results = []
    workdir = tempfile.mkdtemp(prefix="bench_zoo_")
    if a.keep_onnx:
        os.makedirs(a.keep_onnx, exist_ok=True)
    for net in nets:
        t0 = time.time()
        try:
            r = bench_net(a, net, workdir)
        except Exception as e:  # noqa: BLE001  (one broken net must not lose the others' numbers)
            r = {"net": net, "error": f"{type(e).__name__}: {str(e).strip()[:200]}"}
        r["load_after"] = loadavg()
        results.append(r)
        lat = r.get("latency_ms", {})
        print(f"# {net}: " + "  ".join(f"{k} {fmt_ms(v)} ms" for k, v in lat.items()) +
              (f"  {r['error']}" if "error" in r else "") + f"  ({time.time() - t0:.0f} s, load {r['load_after']})",
              file=sys.stderr, flush=True)
    meta["load_end"] = loadavg()
    shutil.rmtree(workdir)
    print(table(results))
    print(f"\nload average (1/5/15 min) at start {meta['load_start']}, at end {meta['load_end']}; "
          f"torch {meta['torch']}, onnxruntime {meta['onnxruntime']}, opset {a.opset}, {a.threads} threads, "
          f"{a.rounds} rounds x ({a.warmup} warm-up + {a.iters} timed)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
