#!/usr/bin/python3
"""Training-step speed of cudaseg against PyTorch, both in one run, interleaved round by round.

Each round runs, for every net, build/bench_train and tools/bench_train_torch.py
back to back (the order alternates from round to round), each in its own
process with --warmup untimed and --iters timed steps; a round's time is the
median of its steps. The step is the same on both sides: train forward (main
and aux outputs), cross-entropy on each, backward, SGD with momentum, float32
on random data. The speed ratio (PyTorch's time / cudaseg's, above 1 when
cudaseg is faster) is taken within a round, so both share whatever else the
machine was doing then; reported are the median over rounds and the min-max
across rounds of each time and ratio, and the 1-minute load average before
each round and the CPU pressure (/proc/pressure/cpu "some avg10": the % of
time some task waited for a CPU, which also sees other containers on the same
cores). Under contention a step's time varies widely, more so for
PyTorch's OpenMP threads than for cudaseg's pool, so the ratio of the fastest
steps of each round (min_step_s, "best-step ratio") is reported beside that of
the medians: it is the closer estimate of the speed on an idle machine.

  /usr/bin/python3 tools/bench_train_peers.py --upstream /tmp/upstream/zh320 \\
      [--nets stdc1,bisenetv2] [--batch 4] [--size 512x512] [--threads 2] \\
      [--rounds 3] [--iters 3] [--warmup 1] [--build build-cpu] [--json out.json]

issue 22's acceptance: STDC1 and BiSeNetv2 at 4x3x512x512, 2 threads.

--baseline DIR adds a third runner to every round: DIR/bench_train (another
build, e.g. of the commit before a change), reported beside cudaseg with its
own ratio to PyTorch, so a before/after comparison shares the rounds too.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NETS = {
    "stdc1": {"name": "stdc", "encoder_type": "stdc1", "num_classes": 19, "use_aux": True},
    "stdc2": {"name": "stdc", "encoder_type": "stdc2", "num_classes": 19, "use_aux": True},
    "bisenetv2": {"name": "bisenetv2", "num_classes": 19, "use_aux": True},
}


def run_json(cmd, env):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=REPO)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON line from {' '.join(cmd)}:\n{out.stdout}\n{out.stderr}")


def cpu_pressure():
    """The share of the last 10 s in which some task waited for a CPU
    (/proc/pressure/cpu, "some avg10"), or None without PSI. Unlike the load
    average it also sees contention from outside this container."""
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some "):
                    return float(dict(kv.split("=") for kv in line.split()[1:])["avg10"])
    except OSError:
        pass
    return None


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, help="checkout of zh320/realtime-semantic-segmentation-pytorch")
    p.add_argument("--nets", default="stdc1,bisenetv2", help="comma-separated: " + ", ".join(NETS))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", default="512x512")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--build", default="build-cpu", help="build folder holding bench_train")
    p.add_argument("--baseline", metavar="DIR", help="also time DIR/bench_train (another build) in every round")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    nets = a.nets.split(",")
    for n in nets:
        if n not in NETS:
            p.error(f"unknown net '{n}' (known: {', '.join(NETS)})")
    bench = os.path.join(REPO, a.build, "bench_train")
    if not os.access(bench, os.X_OK):
        p.error(f"{bench} is missing: ninja -C {a.build} bench_train")
    common = ["--batch", str(a.batch), "--size", a.size, "--iters", str(a.iters), "--warmup", str(a.warmup)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads), CUDASEG_NUM_THREADS=str(a.threads),
               OMP_NUM_THREADS=str(a.threads))
    impls = ["cudaseg", "pytorch"]
    baseline = None
    if a.baseline:
        baseline = os.path.join(os.path.abspath(a.baseline), "bench_train")
        if not os.access(baseline, os.X_OK):
            p.error(f"{baseline} is missing")
        impls.append("baseline")
    results = {n: {k: [] for k in impls + ["ratio", "best_ratio", "baseline_ratio", "load", "cpu_pressure"]}
               for n in nets}
    for r in range(a.rounds):
        for n in nets:
            model = json.dumps(NETS[n])
            cmds = {
                "cudaseg": [bench, "--model", model, "--threads", str(a.threads)] + common,
                "pytorch": [sys.executable, os.path.join(REPO, "tools", "bench_train_torch.py"), "--upstream",
                            a.upstream, "--model", model, "--threads", str(a.threads)] + common,
            }
            if baseline:
                # CUDASEG_NUM_THREADS sets its threads: a build from before
                # bench_train had --threads has no such option.
                cmds["baseline"] = [baseline, "--model", model] + common
            load = os.getloadavg()[0]
            pressure = cpu_pressure()
            times, best = {}, {}
            order = impls[r % len(impls):] + impls[:r % len(impls)]
            for impl in order:
                out = run_json(cmds[impl], env)
                times[impl] = out["step_s"]
                best[impl] = out.get("min_step_s", out["step_s"])
            res = results[n]
            res["load"].append(load)
            if pressure is not None:
                res["cpu_pressure"].append(pressure)
            for impl in impls:
                res[impl].append(times[impl])
            res["ratio"].append(times["pytorch"] / times["cudaseg"])
            res["best_ratio"].append(best["pytorch"] / best["cudaseg"])
            line = (f"round {r + 1} {n}: cudaseg {times['cudaseg']:.3f} s (best {best['cudaseg']:.3f}), "
                    f"PyTorch {times['pytorch']:.3f} s (best {best['pytorch']:.3f}), "
                    f"speed ratio {res['ratio'][-1]:.2f} (best steps {res['best_ratio'][-1]:.2f})")
            if baseline:
                res["baseline_ratio"].append(times["pytorch"] / times["baseline"])
                line += f"; baseline {times['baseline']:.3f} s, its ratio {res['baseline_ratio'][-1]:.2f}"
            psi = "" if pressure is None else f", CPU pressure {pressure:.0f}%"
            print(f"{line}, load {load:.2f}{psi}", file=sys.stderr, flush=True)
    summary = {n: {k: spread(v) for k, v in res.items() if v} for n, res in results.items()}
    print(f"{a.batch}x3x{a.size}, float32, {a.threads} threads, {a.rounds} rounds of median-of-{a.iters} steps")
    extra = " baseline s/step | baseline speed ratio |" if baseline else ""
    print(f"| net | cudaseg s/step | PyTorch s/step | speed ratio (PyTorch time / cudaseg time) | best-step ratio |"
          f"{extra} load avg | CPU pressure % |")
    print("| --- " * (7 + (2 if baseline else 0)) + "|")

    def cell(v, f="{:.2f}"):
        return f"{f.format(v['median'])} ({f.format(v['min'])}-{f.format(v['max'])})"

    for n, s in summary.items():
        more = f" {cell(s['baseline'])} | {cell(s['baseline_ratio'])} |" if baseline else ""
        print(f"| {n} | {cell(s['cudaseg'])} | {cell(s['pytorch'])} | {cell(s['ratio'])} | "
              f"{cell(s['best_ratio'])} |{more} "
              f"{cell(s['load'], '{:.1f}')} | {cell(s['cpu_pressure'], '{:.0f}') if 'cpu_pressure' in s else '—'} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"batch": a.batch, "size": a.size, "threads": a.threads, "iters": a.iters,
                       "nets": summary}, f, indent=1)


if __name__ == "__main__":
    main()
