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
      [--iters 3] [--warmup 1] [--net-budget-s S] [--opset 17] [--json out.json] [--keep-onnx DIR]
      [--clock wall|cpu]

A net is a run config nets/<name>.json, or one of the named entries of
BENCH_NETS below (issue 17's nets: a registry config and the net's usual input
size; a named entry wins over a nets/<name>.json of the same name), optionally
with its own size as NAME@HxW. --size, when given, applies to every net
without an @HxW; otherwise a named entry runs at its usual size and a run
config at 512x1024. --nets issue17 runs every named entry.

For each net: the upstream model (tools/goldens/upstream.py, PyTorch default
initialisation, eval) is exported to ONNX the way zh320's tools/export.py does
it (non-global adaptive pools swapped for its AdaptiveAvgPool2dForONNX), the
export is checked against the eager output, and then --rounds rounds follow.
Each round runs the three runtimes back to back, in an order that rotates
from round to round, each with --warmup untimed and --iters timed forwards:

  * PyTorch eager: torch.set_num_threads(N), torch.inference_mode();
  * onnxruntime: CPUExecutionProvider, ORT_ENABLE_ALL, intra_op N, inter_op 1,
    a session made for each round's forwards and dropped after them (its
    intra-op workers spin on after its last call, and would share the cores
    with the runtime timed next);
  * cudaseg: build/rtseg_bench --weights W.json --threads N --json, W being
    the PyTorch model's weights converted by build/rtseg_convert (with
    --cudaseg-random-weights: --config nets/<net>.json, cudaseg's own init);
    BatchNorm folded, activations fused: rtseg_bench's defaults, i.e. how
    rtseg_infer runs a net.

With --clock cpu (at --threads 1 only) each forward is timed by the
process's CPU time instead of the wall clock (time.process_time, and
rtseg_bench's cpu_ms): on a machine shared with other work this is the
latency the forward would have alone, less its cache and memory-bandwidth
interference.

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
DEFAULT_SIZE = (512, 1024)

# Issue 17's nets: (registry config, usual input size). Cityscapes (19 classes)
# at 1024x2048 for PIDNet and SFNet; SFNet R50 at 512x1024, where one PyTorch
# forward at 1024x2048 takes over 20 s on the 2-core machine. STDC-Seg50/75
# are STDC-Seg at 512x1024 / 768x1536; PP-MobileSeg at ADE20K's 512x512 with
# its 150 classes. Heads that only training uses are off where the upstream
# constructor has a switch for them (PIDNet's augment, SFNet-Lite's fpn_dsn):
# with them on, upstream's eval forward computes them and throws them away,
# which cudaseg does not; STDC-Seg's are skipped by inference_forward.
BENCH_NETS = {
    "pidnet_s": ({"name": "pidnet", "arch_type": "pidnet_s", "num_classes": 19, "augment": False}, (1024, 2048)),
    "pidnet_m": ({"name": "pidnet", "arch_type": "pidnet_m", "num_classes": 19, "augment": False}, (1024, 2048)),
    "pidnet_l": ({"name": "pidnet", "arch_type": "pidnet_l", "num_classes": 19, "augment": False}, (1024, 2048)),
    "sfnet_r18": ({"name": "sfnet", "trunk": "resnet-18-deep", "num_classes": 19}, (1024, 2048)),
    "sfnet_lite_r18": ({"name": "sfnet", "trunk": "resnet-18-deep", "head_type": "v2", "fpn_dsn": False,
                        "fa_type": "spatial_atten", "num_classes": 19}, (1024, 2048)),
    "sfnet_r50": ({"name": "sfnet", "trunk": "resnet-50-deep", "num_classes": 19}, (512, 1024)),
    "stdc1_seg50": ({"name": "stdcseg", "backbone": "STDCNet813", "num_classes": 19}, (512, 1024)),
    "stdc2_seg50": ({"name": "stdcseg", "backbone": "STDCNet1446", "num_classes": 19}, (512, 1024)),
    "stdc1_seg75": ({"name": "stdcseg", "backbone": "STDCNet813", "num_classes": 19}, (768, 1536)),
    "stdc2_seg75": ({"name": "stdcseg", "backbone": "STDCNet1446", "num_classes": 19}, (768, 1536)),
    "pp_mobileseg_base": ({"name": "pp_mobileseg", "variant": "base", "num_classes": 150}, (512, 512)),
    "pp_mobileseg_tiny": ({"name": "pp_mobileseg", "variant": "tiny", "num_classes": 150}, (512, 512)),
}


def inference_forward(model, config, x):
    """The upstream inference forward's main output. STDC-Seg's forward runs its
    two auxiliary heads and four detail heads (and resizes the auxiliary logits
    to the input) in every mode; here only the modules the main output needs
    run, as cudaseg's eval forward and upstream's TensorRT latency model do."""
    if config["name"] == "stdcseg":
        _, _, feat_res8, _, feat_cp8, _ = model.cp(x)
        out = model.conv_out(model.ffm(feat_res8, feat_cp8))
        return nn.functional.interpolate(out, x.shape[2:], mode="bilinear", align_corners=True)
    return U.forward(model, config, x, training=False)[0]


class MainOutput(nn.Module):
    """The upstream inference forward with only the main output, as exported."""

    def __init__(self, model, config):
        super().__init__()
        self.model = model
        self.config = config

    def forward(self, x):
        return inference_forward(self.model, self.config, x)


def drop_output_clones(model):
    # upstream.py clones some outputs so that training backward works; in
    # inference the in-place adds are fine, and the copies would slow PyTorch.
    for m in model.modules():
        m._forward_hooks.clear()


class SlicedAdaptiveAvgPool2d(nn.Module):
    """nn.AdaptiveAvgPool2d as the mean of each bin's slice, PyTorch's bins
    (floor(i * n / out) to ceil((i + 1) * n / out)): the same sums, in a form
    torch 1.13 exports when the output size does not divide the input's
    (SFNet's pyramid pooling: 3x3 and 6x6 bins of a 32x64 map). The input size
    is fixed in the traced graph, as the export's is anyway."""

    def __init__(self, output_size):
        super().__init__()
        size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        self.output_size = size

    def forward(self, x):
        h, w = x.shape[2:]
        oh, ow = (h if s is None else s for s in self.output_size)

        def bins(n, out):
            return [(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]

        rows = [torch.cat([x[:, :, h0:h1, w0:w1].mean((2, 3), keepdim=True) for w0, w1 in bins(w, ow)], dim=3)
                for h0, h1 in bins(h, oh)]
        return torch.cat(rows, dim=2)


def slice_adaptive_avg_pools(model):
    for m in list(model.modules()):
        for child_name, child in list(m.named_children()):
            if type(child) is nn.AdaptiveAvgPool2d and child.output_size not in (1, (1, 1)):
                setattr(m, child_name, SlicedAdaptiveAvgPool2d(child.output_size))
    return model


def export_onnx(model, config, x, path, opset):
    """Returns None, or why the export failed."""
    model = copy.deepcopy(model)
    if config["name"] in U.ZH320_CLASSES:
        from models.modules import replace_adaptive_avg_pool  # zh320's, on sys.path once a net is built
        model = replace_adaptive_avg_pool(model)
    else:
        model = slice_adaptive_avg_pools(model)
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


def time_calls(fn, warmup, iters, clock):
    for _ in range(warmup):
        fn()
    now = time.process_time if clock == "cpu" else time.perf_counter
    ms = []
    for _ in range(iters):
        t0 = now()
        fn()
        ms.append((now() - t0) * 1e3)
    return statistics.median(ms)


def convert_weights(a, model, net, config_path, workdir):
    """The PyTorch model's own weights as a cudaseg checkpoint: all three runtimes
    then compute on the same numbers (no init-dependent effect such as denormals
    can favour one of them)."""
    pth = os.path.join(workdir, f"{net}.pth")
    out = os.path.join(workdir, f"{net}.bin")
    torch.save(model.state_dict(), pth)
    p = subprocess.run([a.rtseg_convert, pth, "--config", config_path, "-o", out],
                       capture_output=True, text=True)
    os.unlink(pth)
    if p.returncode != 0:
        raise RuntimeError(f"rtseg_convert failed ({p.returncode}): {p.stderr.strip()[-300:]}")
    return os.path.join(workdir, f"{net}.json")


def run_cudaseg(a, config_path, weights, size):
    src = ["--weights", weights] if weights else ["--config", config_path]
    cmd = [a.rtseg_bench, *src, "--size",
           f"{size[0]}x{size[1]}", "--threads", str(a.threads), "--iters", str(a.iters), "--warmup",
           str(a.warmup), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"rtseg_bench failed ({p.returncode}): {p.stderr.strip()[-300:]}")
    return json.loads(p.stdout)


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


def parse_net(entry, size):
    """NAME[@HxW] -> (name, config, size); size: --size, or None for the net's usual one."""
    net, _, at = entry.partition("@")
    if net in BENCH_NETS:
        config, usual = BENCH_NETS[net]
    else:
        path = os.path.join(REPO, "nets", f"{net}.json")
        if not os.path.exists(path):
            raise ValueError(f"unknown net '{net}' (no nets/{net}.json and no named entry)")
        with open(path) as f:
            doc = json.load(f)
        config, usual = doc.get("model", doc), DEFAULT_SIZE
    return net, dict(config), BT.parse_size(at) if at else (size or usual)


def use_checkout(upstream, others):
    """Forgets the modules imported from the other checkouts: several have a
    top-level package of the same name (PIDNet's and STDC-Seg's `models`)."""
    others = [d for d in others if d != upstream]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") not in others]

    def under_other(mod):
        paths = [getattr(mod, "__file__", None) or ""] + list(getattr(mod, "__path__", None) or [])
        return any(p and any(os.path.abspath(p).startswith(d + os.sep) for d in others) for p in paths)

    for name in [n for n, m in list(sys.modules.items()) if m is not None and under_other(m)]:
        del sys.modules[name]


def bench_net(a, entry, workdir):
    net, config, size = parse_net(entry, a.size)
    upstream = a.upstream_dirs.get(config["name"], a.upstream)
    use_checkout(upstream, [a.upstream, *a.upstream_dirs.values()])
    config_path = os.path.join(workdir, f"{net}.config.json")
    with open(config_path, "w") as f:
        json.dump({"model": config}, f)
    model, info = U.build(upstream, config)
    drop_output_clones(model)
    model.eval()
    h, w = size
    g = torch.Generator().manual_seed(0)
    x = torch.rand((1, 3, h, w), generator=g) * 2 - 1
    r = {"net": net, "size": [h, w], "config": config, "upstream_commit": info.get("upstream_path_commit")}

    weights = None if a.cudaseg_random_weights else convert_weights(a, model, net, config_path, workdir)
    r["cudaseg_weights"] = "its own random init (--config)" if weights is None else "converted from PyTorch's"
    onnx_path = os.path.join(a.keep_onnx or workdir, f"{net}.onnx")
    r["onnx_error"] = export_onnx(model, config, x, onnx_path, a.opset)
    sess = None
    if r["onnx_error"] is None:
        try:
            sess = ort_session(onnx_path, a.threads)
            xin = {sess.get_inputs()[0].name: x.numpy()}
            with torch.inference_mode():
                ref = inference_forward(model, config, x)
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
    ort_ok = sess is not None
    sess = None  # the check's session and its workers go (see the rounds)

    def torch_fwd():
        with torch.inference_mode():
            inference_forward(model, config, x)

    ms = {k: [] for k in RUNTIMES}
    last_cudaseg = None
    rounds = a.rounds
    rnd = 0
    while rnd < rounds:
        t0 = time.perf_counter()
        order = RUNTIMES[rnd % 3:] + RUNTIMES[:rnd % 3]
        for rt in order:
            if rt == "pytorch":
                ms[rt].append(time_calls(torch_fwd, a.warmup, a.iters, a.clock))
            elif rt == "onnxruntime" and ort_ok:
                # A session of its own for each round, gone before the next
                # runtime: its intra-op workers spin on after its last call
                # (allow_spinning, its default and its best), and timed by
                # the wall clock, a runtime after it shared the cores with
                # them (FastSegFormer-E at 2 threads: cudaseg 11 ms beside a
                # live session, 7.5 alone).
                timed = ort_session(onnx_path, a.threads)
                ms[rt].append(time_calls(lambda: timed.run(None, xin), a.warmup, a.iters, a.clock))
                del timed
            elif rt == "cudaseg":
                last_cudaseg = run_cudaseg(a, config_path, weights, size)
                ms[rt].append(last_cudaseg["cpu_ms" if a.clock == "cpu" else "latency_ms"]["p50"])
        if rnd == 0 and a.net_budget_s:
            rounds = min(rounds, max(a.min_rounds, int(a.net_budget_s // (time.perf_counter() - t0))))
        rnd += 1
    r["rounds"], r["rounds_asked"] = rounds, a.rounds
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
        rows.append(f"| {r['net']} {r['size'][0]}x{r['size'][1]}"
                    f"{'' if r['rounds'] == r['rounds_asked'] else ' (%d rounds)' % r['rounds']} | "
                    f"{r['gmacs']:.2f} | {fmt_ms(lat['pytorch'])} | {ort_ms} | "
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
    ap.add_argument("--nets", default="ii", help="comma-separated NAME[@HxW]: run configs nets/<name>.json or "
                    "named entries (BENCH_NETS), or ii / iii / issue17 for the sets above")
    ap.add_argument("--upstream-dir", action="append", default=[], metavar="NAME=DIR",
                    help="the checkout that builds registry name NAME (not zh320's), e.g. "
                    "fastsegformer=/tmp/upstream/fastsegformer; repeatable (the Swin-T-Att-UNet teacher comes "
                    "from the same checkout: swin_t_att_unet=/tmp/upstream/fastsegformer)")
    ap.add_argument("--size", type=BT.parse_size, default=None,
                    help="input size of every net without @HxW (default: a named entry's usual size, else 512x1024)")
    ap.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall: latency; cpu: the process's CPU time per forward (--threads 1 only), which other "
                    "processes on a shared machine do not inflate")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=3, help="timed forwards per runtime per round")
    ap.add_argument("--warmup", type=int, default=1, help="untimed forwards per runtime per round")
    ap.add_argument("--net-budget-s", type=float, default=0,
                    help="seconds of rounds per net: after the first round a net gets as many rounds as fit "
                    "(at least --min-rounds, at most --rounds); 0: always --rounds")
    ap.add_argument("--min-rounds", type=int, default=3)
    ap.add_argument("--opset", type=int, default=17, help="ONNX opset (torch 1.13 exports up to 17)")
    ap.add_argument("--keep-onnx", help="directory to keep the exported .onnx files in")
    ap.add_argument("--json", help="also write every number (per round too) to this file")
    a = ap.parse_args()
    if a.threads < 1 or a.rounds < 1 or a.iters < 1 or a.warmup < 0 or a.min_rounds < 1:
        ap.error("--threads, --rounds, --min-rounds and --iters must be >= 1, --warmup >= 0")
    if a.clock == "cpu" and a.threads != 1:
        ap.error("--clock cpu needs --threads 1: at more threads the CPU time sums the threads (and counts "
                 "onnxruntime's spinning workers)")
    a.upstream = os.path.abspath(a.upstream)
    a.upstream_dirs = {}
    for item in a.upstream_dir:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            ap.error(f"--upstream-dir takes NAME=DIR, not '{item}'")
        a.upstream_dirs[name] = os.path.abspath(path)
    sets = {"ii": NETS, "iii": NETS_III, "issue17": list(BENCH_NETS)}
    nets = sets.get(a.nets) or [n for n in a.nets.split(",") if n]
    for n in nets:
        try:
            _, config, _ = parse_net(n, a.size)
        except (ValueError, argparse.ArgumentTypeError) as e:
            ap.error(str(e))
        name = config["name"]
        if name not in U.ZH320_CLASSES and name not in a.upstream_dirs:
            ap.error(f"{n}: registry name '{name}' is not a zh320 net; give its checkout with --upstream-dir {name}=DIR")
    torch.set_num_threads(a.threads)
    import onnxruntime as ort

    def loadavg():
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])

    meta = {"size": list(a.size) if a.size else "each net's", "threads": a.threads, "clock": a.clock,
            "rounds": a.rounds,
            "iters": a.iters, "warmup": a.warmup, "opset": a.opset, "torch": torch.__version__,
            "onnxruntime": ort.__version__, "cpu": platform.processor() or platform.machine(), "load_start": loadavg(),
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
          f"{'process CPU time' if a.clock == 'cpu' else 'wall-clock latency'}, "
          f"{a.rounds} rounds x ({a.warmup} warm-up + {a.iters} timed)"
          + (f", fewer where a net's first round showed they would not fit in {a.net_budget_s:.0f} s (at least "
             f"{a.min_rounds})" if a.net_budget_s else ""))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
