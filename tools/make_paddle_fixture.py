#!/usr/bin/python3
"""Writes tests/data/paddle/: a PaddleSeg PP-LiteSeg checkpoint and the logits it must give.

  /usr/bin/python3 tools/make_paddle_fixture.py

  pp_liteseg_tiny.pdparams
      a small PP-LiteSeg (STDC1 at base 8, narrow head, 3 classes) under
      PaddleSeg's names (backbone.features.*.conv_list.*, avd_layer,
      ppseg_head.cm/arm_list.*._conv/_batch_norm/_scale, seg_heads.*; BatchNorm
      _mean/_variance), pickled as paddle.save writes it: a dict of NumPy
      float32 arrays plus its StructuredToParameterName@@ table, protocol 4
  config.json
      the run config whose "model" is that net in cudaseg's registry
  input.npy, logits_f64.npy
      an input [1, 3, 44, 76] (float32) and the eval logits of
      tools/goldens/paddle_ppliteseg.py (PaddleSeg's PP-LiteSeg restated in
      PyTorch) in float64 from the same float32 weights and input
  expected.json
      torch_fp32_rel_l2: PyTorch's own float32 logits against those float64
      ones (relative L2), the bound the converted net's float32 logits are
      held to (at most three times it, or 1e-5)

Weights are random but shaped like a trained net's (fan-in scaled convs,
positive variances); _scale is 1 as in every PaddleSeg checkpoint.
"""
import collections
import json
import os
import pickle
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens"))
import paddle_ppliteseg as P  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "paddle")
MODEL = {"name": "ppliteseg_paddle", "backbone": "STDC1", "base": 8, "cm_out_ch": 16, "arm_out_chs": [8, 12, 16],
         "seg_head_inter_chs": [8, 8, 8], "num_classes": 3}
SHAPE = [1, 3, 44, 76]


def fill(model, rng):
    for name, t in model.state_dict().items():
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "_scale":
            v = np.ones(t.shape)
        elif leaf == "running_var":
            v = rng.uniform(0.5, 1.5, t.shape)
        elif leaf in ("running_mean", "bias"):
            v = rng.uniform(-0.2, 0.2, t.shape)
        elif t.dim() == 1:
            v = rng.uniform(0.5, 1.5, t.shape)
        else:
            fan_in = int(np.prod(t.shape[1:]))
            v = rng.standard_normal(t.shape) * np.sqrt(2.0 / fan_in)
        t.copy_(torch.from_numpy(v.astype(np.float32)))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(21)
    model, _ = P.build(MODEL)
    with torch.no_grad():
        fill(model, rng)
    model.eval()
    x = rng.uniform(-1, 1, SHAPE).astype(np.float32)
    with torch.no_grad():
        y32 = model(torch.from_numpy(x))[0].double()
        y64 = model.double()(torch.from_numpy(x).double())[0]
    rel = float((y32 - y64).norm() / y64.norm())

    arrays = collections.OrderedDict(P.paddle_state(model.float()))
    arrays["StructuredToParameterName@@"] = {name: "param_%d" % i for i, name in enumerate(arrays)}
    with open(os.path.join(OUT, "pp_liteseg_tiny.pdparams"), "wb") as f:
        pickle.dump(dict(arrays), f, protocol=4)
    np.save(os.path.join(OUT, "input.npy"), x)
    np.save(os.path.join(OUT, "logits_f64.npy"), y64.numpy())
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump({"model": MODEL}, f, indent=1)
        f.write("\n")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"torch_fp32_rel_l2": rel, "tensors": len(arrays) - 1, "logits_shape": list(y64.shape)}, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {OUT}: {size} bytes, torch fp32 rel L2 {rel:.3g}", file=sys.stderr)


if __name__ == "__main__":
    main()
