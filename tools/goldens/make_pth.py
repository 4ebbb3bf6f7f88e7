#!/usr/bin/python3
"""Writes an upstream state_dict filled by detparams as a .pth (torch.save).

  /usr/bin/python3 tools/goldens/make_pth.py --upstream /tmp/upstream/zh320 \
      --net stdc1_aux --seed 0 --out /tmp/stdc1_aux.pth [--wrap zh320|mmseg|none]

The values equal nets::det_param(name, shape, dtype, seed) for every entry
(KEEP buffers hold what the model computed), so a converter test can compare
a converted checkpoint against det_param without PyTorch.

--wrap: none (default) saves the bare state_dict (what zh320's tools/export.py
writes); zh320 saves it like zh320's trainer does ({'cur_epoch', 'best_score',
'state_dict', 'optimizer', 'scheduler'} with empty optimizer/scheduler
state); mmseg saves {'meta': {}, 'state_dict': ...} like mmcv's save_checkpoint.
--legacy writes the pre-1.6 (non-zip) torch.save format.
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detparams  # noqa: E402
import upstream as U  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--net", required=True, help="one of: " + ", ".join(U.NETS))
    ap.add_argument("--config", help="registry config as JSON (overrides --net's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wrap", choices=["none", "zh320", "mmseg"], default="none")
    ap.add_argument("--legacy", action="store_true", help="torch.save(_use_new_zipfile_serialization=False)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    config = json.loads(a.config) if a.config else U.NETS[a.net]
    model, info = U.build(os.path.abspath(a.upstream), config)
    detparams.fill_module(model, a.seed)
    sd = model.state_dict()
    if a.wrap == "zh320":
        obj = {"cur_epoch": 0, "best_score": 0.0, "state_dict": sd, "optimizer": {}, "scheduler": {}}
    elif a.wrap == "mmseg":
        obj = {"meta": {}, "state_dict": sd}
    else:
        obj = sd
    torch.save(obj, a.out, _use_new_zipfile_serialization=not a.legacy)
    print(f"{a.out}: {len(sd)} entries, seed {a.seed}, upstream {info['upstream_path_commit']}")


if __name__ == "__main__":
    main()
