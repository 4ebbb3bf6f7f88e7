#!/usr/bin/python3
"""Writes a golden for one torchvision backbone as zh320 wraps it (models/backbone.py).

  /usr/bin/python3 tools/goldens/make_backbone_golden.py --upstream /tmp/upstream/zh320 \\
      --backbone resnet18 --size 64x96 --seed 0 --out tests/goldens/backbone_resnet18.json

The backbone (ResNet(resnet_type) or Mobilenetv2(), torchvision modules built
without downloading, see upstream.py) is det-filled as make_golden.py fills a
net (BatchNorm running statistics included, so eval mode normalises with
non-trivial statistics) and run in eval mode on det_uniform("input") of each
size; the case's eval outputs are the four stage outputs "x1".."x4". The file
is a cudaseg-golden file without train steps ("train": null).
"""

import argparse
import json
import os
import platform
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detparams  # noqa: E402
import make_golden as G  # noqa: E402
import upstream as U  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="checkout of zh320/realtime-semantic-segmentation-pytorch")
    ap.add_argument("--backbone", required=True, choices=U.TORCHVISION_BACKBONES)
    ap.add_argument("--size", action="append", required=True, help="HxW, repeatable")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    up = os.path.abspath(a.upstream)
    model, cls = U.build_zh320_backbone(up, a.backbone)
    rules = detparams.fill_module(model, a.seed)
    model.eval()
    sd = model.state_dict()
    pnames = set(n for n, _ in model.named_parameters())
    state = [[n, list(t.shape), "float32" if t.is_floating_point() else str(t.dtype).replace("torch.", ""), rules[n]]
             for n, t in sd.items()]
    golden = {
        "format": G.FORMAT,
        "version": G.VERSION,
        "net": f"backbone_{a.backbone}",
        "model": {"backbone": a.backbone},
        "upstream": {"remote": U.git_remote(up), "commit": U.git_commit(up), "class": cls},
        "generator": {"tool": "tools/goldens/make_backbone_golden.py", "torch": torch.__version__,
                      "numpy": np.__version__, "python": platform.python_version(), "threads": a.threads},
        "seed": a.seed,
        "dtype": "float32",
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
        "state_dict": {"columns": ["name", "shape", "dtype", "rule"], "entries": state,
                       "parameters": [n for n in sd if n in pnames]},
        "cases": [],
    }
    for s in a.size:
        h, w = G.parse_size(s)
        shape = [a.batch, 3, h, w]
        x = torch.from_numpy(detparams.det_uniform("input", shape, G.INPUT_LOW, G.INPUT_HIGH, a.seed))
        with torch.no_grad():
            feats = model(x)
        golden["cases"].append({
            "input": {"name": "input", "shape": shape, "low": G.INPUT_LOW, "high": G.INPUT_HIGH,
                      "checksums": G.stats(x, a.seed, "input", 0)},
            "eval": {"mode": "eval", "outputs": {f"x{i + 1}": G.stats(f, a.seed, f"eval/x{i + 1}")
                                                 for i, f in enumerate(feats)}},
            "train": None,
        })
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, a.out)
    print(f"{a.out}: {os.path.getsize(a.out)} bytes, {len(state)} state entries, cases {a.size}")


if __name__ == "__main__":
    main()
