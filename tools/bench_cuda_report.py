"""Runs cudaseg's bench_cuda and tools/bench_torch_cuda.py on the same GPU and
prints one markdown table: per call, cudaseg's median time, the bandwidth it
achieves over the call's minimum traffic (inputs read once, outputs written
once) and that as a fraction of the device-to-device copy bandwidth, the same
for PyTorch, and the ratio cudaseg / PyTorch (below 1 = cudaseg faster).
Used by scripts/gpu_check.sh and for docs/gpu-results.md.

    /usr/bin/python3 tools/bench_cuda_report.py --bench build/bench_cuda [--device cuda:0] [--iters 20]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", required=True, help="path to the bench_cuda program")
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()
    common = ["--device", args.device, "--iters", str(args.iters), "--warmup", str(args.warmup), "--json"]
    ours = run_json([args.bench] + common)
    torch = run_json([sys.executable, os.path.join(HERE, "bench_torch_cuda.py")] + common)
    copy = ours["copy_gbps"]
    print(f"GPU: {ours['name']} ({args.device}); PyTorch {torch['torch']}; median of {args.iters} after "
          f"{args.warmup} warm-up runs, CUDA events.\nDevice-to-device copy bandwidth (read + write): cudaseg "
          f"{copy:.0f} GB/s, PyTorch {torch['copy_gbps']:.0f} GB/s. 'of copy' = achieved GB/s over the call's "
          f"minimum traffic / cudaseg's copy bandwidth.\n")
    print("| op | dtype | shape | cudaseg ms | GB/s | of copy | PyTorch ms | of copy | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for a, b in zip(ours["rows"], torch["rows"]):
        assert (a["op"], a["dtype"]) == (b["op"], b["dtype"]), (a, b)
        gbps, torch_gbps = a["bytes"] / (a["ms"] * 1e6), a["bytes"] / (b["ms"] * 1e6)
        print(f"| {a['op']} | {a['dtype']} | {a['shape']} | {a['ms']:.3f} | {gbps:.0f} | {gbps / copy:.0%} "
              f"| {b['ms']:.3f} | {torch_gbps / copy:.0%} | {a['ms'] / b['ms']:.2f} |")


if __name__ == "__main__":
    main()
