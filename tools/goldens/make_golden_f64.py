#!/usr/bin/python3
"""make_golden.py run in float64: same arguments, same schema, plus "compute_dtype": "float64".

  /usr/bin/python3 tools/goldens/make_golden_f64.py --upstream /tmp/upstream/zh320 \
      --net bisenetv2_aux --size 64x128 --size 96x160 --seed 0 --out tests/goldens/bisenetv2_aux.f64.json

Why: in float32, a training step's gradient norms of nets with train-mode
BatchNorm on small maps are not reproducible to 1e-4 by any other float32
implementation. One ReLU input that is ~1e-6 in exact arithmetic gets either
sign depending on summation order, and on a 4x8 map that one element moves
every earlier layer's gradient norm by up to 1% (BiSeNetv2: PyTorch float32 vs
float64 differ by 1e-2, FastSCNN by 2e-3). In float64 that noise is ~1e-12,
so the gradients can be compared tightly. The parameters, input and labels are
the float32 values of make_golden.py (det_param / det_uniform), converted
exactly to float64; only the arithmetic is float64.
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg  # noqa: E402

_det_uniform = mg.detparams.det_uniform
_build_filled = mg.build_filled


def det_uniform_f64(*args, **kwargs):
    return _det_uniform(*args, **kwargs).astype(np.float64)


def build_filled_f64(up, config, seed):
    model, info, rules = _build_filled(up, config, seed)
    return model.double(), info, rules


def main():
    mg.detparams.det_uniform = det_uniform_f64
    mg.build_filled = build_filled_f64
    torch.set_default_dtype(torch.float64)
    mg.main()
    out = sys.argv[sys.argv.index("--out") + 1]
    with open(out) as f:
        golden = json.load(f)
    golden["compute_dtype"] = "float64"
    golden["generator"]["tool"] = "tools/goldens/make_golden_f64.py"
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
