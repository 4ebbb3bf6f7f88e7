#!/usr/bin/python3
"""Dumps every leaf module's output checksums from the upstream model, in call order.

  /usr/bin/python3 tools/goldens/dump_layers.py --upstream /tmp/upstream/zh320 \
      --net stdc1_aux --size 64x128 --seed 0 --out /tmp/stdc1_aux.layers.json

Parameters come from detparams (seed), the input is det_uniform("input",
[N,3,H,W], -1, 1, seed), as in make_golden.py. A C++ dump of the same module
names in the same format (tests/goldens/README.md, "Layer dumps") lets
compare_layers.py name the first layer that diverges.

Statistics are taken inside the forward hook, before later in-place ops
(`x += y`, inplace ReLU) can change the tensor. A module called more than once
gets one record per call (`call` = 0, 1, ...). A module returning a tuple gets
one entry per tensor in `outputs`.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detparams  # noqa: E402
import upstream as U  # noqa: E402


def tensor_stats(t):
    a = t.detach().double().reshape(-1)
    return {"shape": list(t.shape), "sum": float(a.sum()), "abs_sum": float(a.abs().sum()),
            "sq_sum": float((a * a).sum())}


def flatten(out):
    if torch.is_tensor(out):
        return [out]
    if isinstance(out, (tuple, list)):
        r = []
        for o in out:
            r.extend(flatten(o))
        return r
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--net", required=True, help="one of: " + ", ".join(U.NETS))
    ap.add_argument("--config", help="registry config as JSON (overrides --net's)")
    ap.add_argument("--size", required=True, help="HxW")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", choices=["eval", "train"], default="eval",
                    help="train: train-mode forward (batch statistics, dropout off) with the aux/detail heads")
    ap.add_argument("--all-modules", action="store_true", help="also containers, not only leaves")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    torch.set_num_threads(2)
    config = json.loads(a.config) if a.config else U.NETS[a.net]
    model, info = U.build(os.path.abspath(a.upstream), config)
    detparams.fill_module(model, a.seed)
    if a.mode == "eval":
        model.eval()
    else:
        model.train()
        U.disable_dropout(model)

    records = []
    calls = {}

    def hook_for(name):
        def hook(mod, inp, out):
            k = calls.get(name, 0)
            calls[name] = k + 1
            records.append({"name": name, "call": k, "type": type(mod).__name__,
                            "outputs": [tensor_stats(t) for t in flatten(out)]})
        return hook

    for name, m in model.named_modules():
        if name == "":
            continue
        if a.all_modules or len(list(m.children())) == 0:
            m.register_forward_hook(hook_for(name))

    h, w = (int(v) for v in a.size.lower().split("x"))
    shape = [a.batch, 3, h, w]
    x = torch.from_numpy(detparams.det_uniform("input", shape, -1.0, 1.0, a.seed))
    with torch.no_grad():
        main_out, extra = U.forward(model, config, x, training=(a.mode == "train"))
    result = {
        "format": "cudaseg-layers", "version": 1, "source": "pytorch-upstream",
        "net": a.net, "model": config, "seed": a.seed, "mode": a.mode, "input_shape": shape,
        "upstream_commit": info["upstream_path_commit"],
        "layers": records,
        "final": {"out": tensor_stats(main_out), **{f"extra.{i}": tensor_stats(e) for i, e in enumerate(extra)}},
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"{a.out}: {len(records)} layer calls")


if __name__ == "__main__":
    main()
