#!/usr/bin/python3
"""Names the first layer whose checksums differ between two layer dumps.

  python3 tools/goldens/compare_layers.py REFERENCE.json CANDIDATE.json [--rtol 1e-4] [--atol 1e-5]

Both files are in the format of dump_layers.py (tests/goldens/README.md,
"Layer dumps"); usually REFERENCE is the PyTorch dump and CANDIDATE the C++ one.
Records are matched by (name, call). Walking the reference in call order, a
record diverges when a shape differs or a statistic differs by more than
atol * sqrt(numel) + rtol * scale, where scale is abs_sum for sum and abs_sum,
and sq_sum for sq_sum (sum can cancel to ~0; abs_sum cannot).
Records missing from the candidate are listed but do not stop the walk.
Exit status: 0 all match, 1 a divergence, 2 usage error. Needs only the
standard library.
"""

import argparse
import json
import math
import sys


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def diff_output(r, c, rtol, atol):
    if list(r["shape"]) != list(c["shape"]):
        return f"shape {r['shape']} vs {c['shape']}"
    n = max(numel(r["shape"]), 1)
    scales = {"sum": r["abs_sum"], "abs_sum": r["abs_sum"], "sq_sum": r["sq_sum"]}
    worst = None
    for k, scale in scales.items():
        d = abs(r[k] - c[k])
        tol = atol * math.sqrt(n) + rtol * abs(scale)
        if not d <= tol:  # NaN counts as a difference
            rel = d / abs(scale) if scale else float("inf")
            if worst is None or rel > worst[1]:
                worst = (f"{k} {r[k]!r} vs {c[k]!r} (|diff| {d:.3g}, tol {tol:.3g}, rel {rel:.3g})", rel)
    return worst[0] if worst else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reference")
    ap.add_argument("candidate")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--atol", type=float, default=1e-5)
    ap.add_argument("--all", action="store_true", help="list every diverging layer, not only the first")
    a = ap.parse_args()
    try:
        ref = json.load(open(a.reference))
        cand = json.load(open(a.candidate))
    except (OSError, ValueError) as e:
        print(f"compare_layers: {e}", file=sys.stderr)
        return 2
    cidx = {(r["name"], r.get("call", 0)): r for r in cand["layers"]}
    missing, diverged = [], []
    for i, r in enumerate(ref["layers"]):
        key = (r["name"], r.get("call", 0))
        c = cidx.get(key)
        if c is None:
            missing.append(key)
            continue
        if len(r["outputs"]) != len(c["outputs"]):
            msg = f"{len(r['outputs'])} outputs vs {len(c['outputs'])}"
        else:
            msg = None
            for j, (ro, co) in enumerate(zip(r["outputs"], c["outputs"])):
                m = diff_output(ro, co, a.rtol, a.atol)
                if m:
                    msg = f"output {j}: {m}"
                    break
        if msg:
            diverged.append((i, key, r.get("type", "?"), msg))
            if not a.all:
                break
    matched = len(ref["layers"]) - len(missing)
    print(f"{matched} of {len(ref['layers'])} reference layer calls present in the candidate")
    if missing:
        shown = ", ".join(f"{n}#{k}" for n, k in missing[:10])
        print(f"missing in candidate ({len(missing)}): {shown}{' ...' if len(missing) > 10 else ''}")
    for i, (n, k), t, msg in diverged:
        print(f"FIRST DIVERGENCE" if i == diverged[0][0] else "divergence", f"at #{i} {n} (call {k}, {t}): {msg}")
    if not diverged:
        rf, cf = ref.get("final", {}), cand.get("final", {})
        for k in rf:
            if k in cf:
                m = diff_output(rf[k], cf[k], a.rtol, a.atol)
                if m:
                    print(f"final {k} differs: {m}")
                    return 1
        print("no divergence")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
