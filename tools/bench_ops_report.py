"""Runs cudaseg's bench_ops and tools/bench_torch_ops.py in one go, on the same
machine, threads and device, and prints a markdown table with the ratio
cudaseg / PyTorch (below 1 = cudaseg faster). Used for docs/benchmarks.md.

    /usr/bin/python3 tools/bench_ops_report.py --bench build/bench_ops [--threads 2] [--device cpu]
"""
import argparse
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", required=True, help="path to the bench_ops program")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args()
    common = ["--device", args.device, "--threads", str(args.threads), "--iters", str(args.iters),
              "--warmup", str(args.warmup), "--json"]
    ours = run_json([args.bench] + common)
    torch = run_json([sys.executable, os.path.join(HERE, "bench_torch_ops.py")] + common)
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; device {args.device}, "
          f"{args.threads} threads; PyTorch {torch['torch']}; float32, median of {args.iters} after {args.warmup} "
          f"warm-up runs.\n")
    print("| op | cudaseg fwd ms | PyTorch fwd ms | ratio | cudaseg bwd ms | PyTorch bwd ms | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for a, b in zip(ours["rows"], torch["rows"]):
        assert a["op"] == b["op"], (a["op"], b["op"])
        print(f"| {a['op']} | {a['forward_ms']:.1f} | {b['forward_ms']:.1f} | {a['forward_ms'] / b['forward_ms']:.2f} "
              f"| {a['backward_ms']:.1f} | {b['backward_ms']:.1f} | {a['backward_ms'] / b['backward_ms']:.2f} |")


if __name__ == "__main__":
    main()
