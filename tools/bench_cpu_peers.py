#!/usr/bin/python3
"""cudaseg against PyTorch eager and onnxruntime on the CPU, every net at 1 and
2 threads (or the --threads given), in one command: the peer table of
docs/benchmarks.md and the verdicts of the CPU speed issue.

Each thread count runs tools/bench_zoo.py in a process of its own (OpenBLAS
and torch take their thread count when they load, so one process cannot
measure two), which builds the upstream net, exports it to ONNX, converts its
weights for cudaseg and measures the three runtimes interleaved in rounds
(see bench_zoo.py). This script merges the runs and prints, per net and
thread count, the median latencies and the per-round ratios with their
min-max; then, per thread count, the geometric mean of cudaseg's speed
relative to each peer (peer time / cudaseg time: above 1 is faster) over the
nets with an onnxruntime number, and the nets slower than onnxruntime.

Set-up (once): the virtual environment of bench_zoo.py,

  /usr/bin/python3 -m venv --system-site-packages /work/venv-bench
  /work/venv-bench/bin/pip install "numpy<2" onnx onnxruntime

Run (from the repository root, after `ninja -C build rtseg_bench rtseg_convert`):

  /work/venv-bench/bin/python tools/bench_cpu_peers.py [--threads 1,2] [--nets all|ii|iii|issue17|a,b,...]
      [--rounds 5] [--one-thread-clock wall|cpu] [--json out.json] [-- any other bench_zoo.py options]

--nets all (the default) is every run config in nets/ whose net bench_zoo.py
can build from the zh320 checkout, plus its named entries for the other
upstreams when --upstream-dir gives their checkouts. A net that does not
export to ONNX is listed with the reason and left out of the geometric means.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def zoo_net_sets():
    """bench_zoo's sets, read without importing it (importing loads torch)."""
    out = subprocess.run([sys.executable, "-c",
                          "import json, sys; sys.path.insert(0, %r); import bench_zoo as Z; "
                          "print(json.dumps({'ii': Z.NETS, 'iii': Z.NETS_III, 'issue17': list(Z.BENCH_NETS), "
                          "'zh320': sorted(Z.U.ZH320_CLASSES)}))" % HERE],
                         capture_output=True, text=True, check=True, cwd=HERE)
    return json.loads(out.stdout.strip().splitlines()[-1])


def all_nets(sets, upstream_dirs):
    """Run configs of nets/ whose registry name zh320 (or a given checkout) builds, then the named entries."""
    names = []
    for f in sorted(os.listdir(os.path.join(REPO, "nets"))):
        if not f.endswith(".json"):
            continue
        with open(os.path.join(REPO, "nets", f)) as fh:
            doc = json.load(fh)
        model = doc.get("model", doc)
        if isinstance(model, dict) and (model.get("name") in sets["zh320"] or model.get("name") in upstream_dirs):
            names.append(f[:-5])
    return names + [n for n in sets["issue17"] if n not in names]


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def speed(ratio):
    """cudaseg/peer time -> peer/cudaseg time (above 1: cudaseg faster)."""
    return 1.0 / ratio


def report(runs):
    """runs: {threads: results of bench_zoo --json}. Returns the markdown text."""
    threads = sorted(runs)
    nets = []
    for t in threads:
        for r in runs[t]:
            if r["net"] not in nets:
                nets.append(r["net"])
    by = {t: {r["net"]: r for r in runs[t]} for t in threads}
    head = "| net |" + "".join(f" {t}T PyTorch ms | {t}T onnxruntime ms | {t}T cudaseg ms | {t}T cudaseg speed vs "
                               f"PyTorch | {t}T cudaseg speed vs onnxruntime |" for t in threads)
    rows = [head, "| --- |" + " --- |" * (5 * len(threads))]
    notes = []

    def cell_ms(r, rt):
        s = r["latency_ms"].get(rt)
        return f"{s['median']:.0f} ({s['min']:.0f}-{s['max']:.0f})" if s else "-"

    def cell_speed(r, key):
        s = r["ratio"].get(key)
        if not s:
            return "-"
        text = f"{speed(s['median']):.2f} ({speed(s['max']):.2f}-{speed(s['min']):.2f})"
        return f"**{text}**" if s["median"] > 1.0 else text

    for n in nets:
        cells = []
        for t in threads:
            r = by[t].get(n)
            if r is None or "error" in r:
                cells += ["failed: " + (r or {}).get("error", "not run")] + ["-"] * 4
                continue
            cells += [cell_ms(r, "pytorch"), cell_ms(r, "onnxruntime"), cell_ms(r, "cudaseg"),
                      cell_speed(r, "cudaseg/pytorch"), cell_speed(r, "cudaseg/onnxruntime")]
            if r.get("onnx_error") and f"- {n}: " not in "".join(notes):
                notes.append(f"- {n}: no onnxruntime number (left out of the means): {r['onnx_error']}")
        rows.append(f"| {n} | " + " | ".join(cells) + " |")
    summary = ["", "Speed is peer time / cudaseg time from the per-round ratios (above 1: cudaseg is faster; "
               "**bold**: slower than that peer); brackets: min-max over rounds.", ""]
    for t in threads:
        done = [r for r in runs[t] if "error" not in r and "cudaseg/onnxruntime" in r.get("ratio", {})]
        vs_ort = [speed(r["ratio"]["cudaseg/onnxruntime"]["median"]) for r in done]
        vs_pt = [speed(r["ratio"]["cudaseg/pytorch"]["median"]) for r in done]
        slower = [f"{r['net']} ({speed(r['ratio']['cudaseg/onnxruntime']['median']):.2f})" for r in done
                  if r["ratio"]["cudaseg/onnxruntime"]["median"] > 1.0]
        summary.append(f"- {t} thread{'s' if t > 1 else ''}, {len(done)} nets with all three: geometric mean of "
                       f"cudaseg's speed {geomean(vs_ort):.2f}x onnxruntime's (target 1.2), {geomean(vs_pt):.2f}x "
                       f"PyTorch's (target 1.5); slower than onnxruntime: {', '.join(slower) or 'none'}")
    return "\n".join(rows + summary + ([""] + notes if notes else []))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="Options after -- go to every bench_zoo.py run.")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--nets", default="all", help="all, ii, iii, issue17 or comma-separated names (bench_zoo.py)")
    ap.add_argument("--upstream-dir", action="append", default=[], metavar="NAME=DIR",
                    help="as bench_zoo.py: the checkout that builds registry name NAME")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--one-thread-clock", choices=["wall", "cpu"], default="wall",
                    help="the 1-thread run's clock (bench_zoo.py --clock): cpu times each forward by the process's "
                    "CPU time, which other work on a shared machine does not inflate")
    ap.add_argument("--json", help="also write both runs' numbers to this file")
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args()
    try:
        threads = sorted({int(t) for t in a.threads.split(",") if t})
    except ValueError:
        ap.error(f"--threads takes comma-separated integers, not '{a.threads}'")
    if not threads or min(threads) < 1:
        ap.error("--threads: at least one count, each >= 1")
    upstream_dirs = {d.partition("=")[0] for d in a.upstream_dir}
    sets = zoo_net_sets()
    nets = ",".join(all_nets(sets, upstream_dirs)) if a.nets == "all" else a.nets
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench_cpu_peers_") as tmp:
        for t in threads:
            out = os.path.join(tmp, f"{t}.json")
            cmd = [sys.executable, os.path.join(HERE, "bench_zoo.py"), "--threads", str(t), "--nets", nets,
                   "--rounds", str(a.rounds), "--json", out]
            for d in a.upstream_dir:
                cmd += ["--upstream-dir", d]
            if t == 1:
                cmd += ["--clock", a.one_thread_clock]
            cmd += a.rest
            print(f"# {t} thread{'s' if t > 1 else ''}: {' '.join(cmd)}", file=sys.stderr, flush=True)
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL)
            if p.returncode != 0 or not os.path.exists(out):
                sys.exit(f"bench_cpu_peers: bench_zoo.py at {t} threads failed (exit {p.returncode})")
            with open(out) as f:
                runs[t] = json.load(f)["results"]
    print(report(runs))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({str(t): r for t, r in runs.items()}, f, indent=1)


if __name__ == "__main__":
    main()
