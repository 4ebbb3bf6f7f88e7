#!/usr/bin/python3
"""Writes a golden-parity JSON for one net from the upstream PyTorch code.

  /usr/bin/python3 tools/goldens/make_golden.py --upstream /tmp/upstream/zh320 \
      --net stdc1_aux --size 64x128 --size 96x160 --seed 0 --out tests/goldens/stdc1_aux.json

Every parameter and buffer is filled by detparams (by state_dict name and
seed); the input is det_uniform("input", [N,3,H,W], -1, 1, seed) and the labels
det_labels("labels", [N,H,W], num_classes, seed). For each size the golden
holds the eval-mode logits (checksums + seeded samples) and one training step
on a second copy of the model (train mode, dropout/drop-path off): the return
structure of the train forward, the loss terms and per-parameter gradient
statistics. The schema is in tests/goldens/README.md.
"""

import argparse
import importlib.util
import json
import os
import platform
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detparams  # noqa: E402
import upstream as U  # noqa: E402

FORMAT = "cudaseg-golden"
VERSION = 1
INPUT_LOW, INPUT_HIGH = -1.0, 1.0
IGNORE_INDEX = 255
N_OUT_SAMPLES = 64
N_GRAD_PARAMS = 8
N_GRAD_SAMPLES = 8


def parse_size(s):
    h, w = s.lower().split("x")
    return int(h), int(w)


def stats(t, seed, key, n_samples=N_OUT_SAMPLES):
    a = t.detach().double().reshape(-1).numpy()
    d = {
        "shape": list(t.shape),
        "sum": float(a.sum()),
        "abs_sum": float(np.abs(a).sum()),
        "sq_sum": float((a * a).sum()),
        "min": float(a.min()),
        "max": float(a.max()),
    }
    if n_samples:
        idx = detparams.det_indices(f"sample_idx/{key}", n_samples, a.size, seed)
        d["samples"] = {"index": idx.tolist(), "value": [float(v) for v in a[idx]]}
    return d


def load_zh320_loss(upstream):
    spec = importlib.util.spec_from_file_location("zh320_core_loss", os.path.join(upstream, "core/loss.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --dtype: float64 goldens run the same det-filled (float32-generated) parameters
# and input in double, so a C++ run in double can be compared with tolerances far
# below float32 rounding (BatchNorm in train mode amplifies it to ~1e-5 in the
# train logits and up to ~1e-1 in a few small gradients).
DTYPE = torch.float32


def build_filled(up, config, seed):
    model, info = U.build(up, config)
    rules = detparams.fill_module(model, seed)
    return model.to(DTYPE), info, rules


def train_step(up, config, seed, x, labels):
    """One step as zh320's SegTrainer.train_one_epoch does it, with plain CE (ignore 255) as loss_fn."""
    model, _, _ = build_filled(up, config, seed)
    model.train()
    n_dropout = U.disable_dropout(model)
    model.zero_grad(set_to_none=True)
    ce = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX, reduction="mean")
    kind = U.extra_kind(config)
    losses = {}

    if kind == "detail":
        # seg_trainer.py, use_detail_head branch (self.model.module -> model: no DP wrapper here)
        loss_mod = load_zh320_loss(up)
        from models.stdc import LaplacianConv  # zh320, already on sys.path
        masks_detail = LaplacianConv(torch.device("cpu"))(labels.unsqueeze(1).float())
        masks_detail = model.detail_conv(masks_detail)
        masks_detail[masks_detail > 0.1] = 1  # detail_thrs 0.1
        masks_detail[masks_detail <= 0.1] = 0
        detail_size = masks_detail.size()[2:]
        main, extra = U.forward(model, config, x, training=True)
        preds_detail = F.interpolate(extra[0], detail_size, mode="bilinear", align_corners=True)
        dl = loss_mod.DetailLoss(dice_loss_coef=1.0, bce_loss_coef=1.0)
        loss_detail = dl(preds_detail, masks_detail)
        loss_main = ce(main, labels)
        total = loss_main + 1.0 * loss_detail
        losses["main"] = float(loss_main)
        losses["detail"] = float(loss_detail)
        losses["detail_dice"] = float(dl.dice_loss_fn(preds_detail, masks_detail))
        losses["detail_bce"] = float(dl.bce_loss_fn(preds_detail, masks_detail))
        losses["detail_target_ones"] = int((masks_detail == 1).sum())
    else:
        main, extra = U.forward(model, config, x, training=True)
        if main.shape[2:] != labels.shape[1:]:
            raise RuntimeError(f"main output {tuple(main.shape)} does not match labels {tuple(labels.shape)}")
        loss_main = ce(main, labels)
        total = loss_main
        losses["main"] = float(loss_main)
        if config["name"] == "pidnet" and extra:
            # P aux: CE as zh320's aux heads (labels nearest-resized); D: PIDNet's BondaryLoss
            # (utils/criterion.py) on the boundary logits resized to the labels (FullModel,
            # ac=False) against U.pidnet_boundary_targets(labels)
            from utils.criterion import BondaryLoss  # PIDNet's, on sys.path
            p, d = extra
            m = F.interpolate(labels.unsqueeze(1).float(), p.size()[2:], mode="nearest").squeeze(1).long()
            la = ce(p, m)
            d_up = F.interpolate(d, size=labels.shape[1:], mode="bilinear", align_corners=False)
            lb = BondaryLoss()(d_up, U.pidnet_boundary_targets(labels).to(d.dtype))
            losses["aux"] = [float(la)]
            losses["boundary"] = float(lb)
            total = total + la + lb
        elif config["name"] == "stdcseg":
            # STDC-Seg's train.py with plain CE for its OhemCELoss: main + out16 + out32 (all at the label
            # size), + DetailAggregateLoss (bce + dice) of each detail output
            losses["aux"] = [float(ce(p, labels)) for p in extra[:2]]
            total = total + ce(extra[0], labels) + ce(extra[1], labels)
            bce = dice = 0.0
            for d in extra[2:]:
                b, dc = U.stdcseg_detail_terms(d, labels)
                bce, dice = bce + b, dice + dc
            losses["detail_bce"], losses["detail_dice"] = float(bce), float(dice)
            losses["detail"] = float(bce + dice)
            total = total + bce + dice
        elif kind == "aux":
            # seg_trainer.py, use_aux branch: labels nearest-resized to each aux size, aux_coef all 1
            masks_auxs = labels.unsqueeze(1).float()
            losses["aux"] = []
            for p in extra:
                m = F.interpolate(masks_auxs, p.size()[2:], mode="nearest").squeeze(1).long()
                la = ce(p, m)
                losses["aux"].append(float(la))
                total = total + 1.0 * la
        if kind == "head":
            # mmseg's cross_entropy averages over all pixels, ignored ones included (reported, not used)
            per = F.cross_entropy(main, labels, ignore_index=IGNORE_INDEX, reduction="none")
            losses["mmseg_mean_all_pixels"] = float(per.sum() / per.numel())
    losses["total"] = float(total)
    total.backward()

    outputs = {"out": stats(main, seed, "train/out")}
    for i, e in enumerate(extra):
        outputs[f"{kind}.{i}"] = stats(e, seed, f"train/{kind}.{i}")

    params = [(n, p) for n, p in model.named_parameters()]
    grads = {}
    for n, p in params:
        if p.grad is None:
            grads[n] = None
        else:
            g = p.grad.double()
            grads[n] = {"norm": float(g.norm()), "sum": float(g.sum()), "abs_max": float(g.abs().max())}
    with_grad = [n for n, p in params if p.grad is not None]
    pick = sorted(set(with_grad[int(round(i * (len(with_grad) - 1) / (N_GRAD_PARAMS - 1)))]
                      for i in range(N_GRAD_PARAMS)), key=with_grad.index)
    grad_samples = {}
    pd = dict(params)
    for n in pick:
        g = pd[n].grad.double().reshape(-1).numpy()
        idx = detparams.det_indices(f"sample_idx/grad/{n}", N_GRAD_SAMPLES, g.size, seed)
        grad_samples[n] = {"index": idx.tolist(), "value": [float(v) for v in g[idx]]}
    buffers = {}
    for n, b in model.named_buffers():
        if b.is_floating_point():
            buffers[n] = float(b.double().sum())
        else:
            buffers[n] = int(b.sum())
    return {
        "mode": "train",
        "dropout_disabled": n_dropout,
        "extra_kind": kind,
        "outputs": outputs,
        "loss": losses,
        "grads": grads,
        # grads below ~1e-6 of this are rounding noise around an exact zero (a bias before a
        # train-mode BatchNorm, BN on 1x1 maps of batch 2): compare with an absolute tolerance
        "grad_norm_max": max((v["norm"] for v in grads.values() if v), default=0.0),
        "grad_samples": grad_samples,
        "buffer_sums_after": buffers,
    }


def make_case(up, config, seed, batch, hw, eval_model, train=True):
    h, w = hw
    shape = [batch, 3, h, w]
    x_np = detparams.det_uniform("input", shape, INPUT_LOW, INPUT_HIGH, seed)
    lab_np = detparams.det_labels("labels", [batch, h, w], config["num_classes"], seed)
    x = torch.from_numpy(x_np).to(DTYPE)
    labels = torch.from_numpy(lab_np)
    with torch.no_grad():
        out, _ = U.forward(eval_model, config, x, training=False)
        extras = U.eval_extras(eval_model, config, x)
    case = {
        "input": {"name": "input", "shape": shape, "low": INPUT_LOW, "high": INPUT_HIGH,
                  "checksums": stats(x, seed, "input", 0)},
        "labels": {"name": "labels", "shape": [batch, h, w], "num_classes": config["num_classes"],
                   "ignore_index": IGNORE_INDEX, "num_ignored": int((lab_np == IGNORE_INDEX).sum()),
                   "sum": int(lab_np.sum())},
        "eval": {"mode": "eval", "outputs": {"out": stats(out, seed, "eval/out"),
                                             **{k: stats(v, seed, f"eval/{k}") for k, v in extras.items()}}},
        "train": train_step(up, config, seed, x, labels) if train else None,
    }
    return case


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="checkout of zh320/... or NVlabs/SegFormer")
    ap.add_argument("--net", required=True, help="one of: " + ", ".join(U.NETS))
    ap.add_argument("--config", help="registry config as JSON (overrides the built-in one for --net)")
    ap.add_argument("--size", action="append", required=True, help="HxW, repeatable")
    ap.add_argument("--batch", type=int, default=2, help="batch (2: BatchNorm in train mode needs >1 value on 1x1 maps)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                    help="precision of the run (parameters and input are generated in float32 either way)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-train", action="store_true",
                    help='eval only, "train": null (upstream FDDWNet cannot backpropagate with act_type relu)')
    a = ap.parse_args()
    global DTYPE
    DTYPE = getattr(torch, a.dtype)

    torch.set_num_threads(a.threads)
    config = json.loads(a.config) if a.config else U.NETS[a.net]
    up = os.path.abspath(a.upstream)
    model, info, rules = build_filled(up, config, a.seed)
    model.eval()
    sd = model.state_dict()
    # as the model declares them (float32), whatever --dtype ran
    state = [[n, list(t.shape), "float32" if t.is_floating_point() else str(t.dtype).replace("torch.", ""), rules[n]]
             for n, t in sd.items()]
    pnames = set(n for n, _ in model.named_parameters())
    golden = {
        "format": FORMAT,
        "version": VERSION,
        "net": a.net,
        "model": config,
        "upstream": {"remote": info["upstream_remote"], "commit": info["upstream_path_commit"],
                     "class": info["class"], "ctor_kwargs": info["ctor_kwargs"]},
        "generator": {"tool": "tools/goldens/make_golden.py", "torch": torch.__version__,
                      "numpy": np.__version__, "python": platform.python_version(), "threads": a.threads},
        "seed": a.seed,
        "dtype": a.dtype,
        "detparams": {"version": 1, "key": "fnv1a64(name) ^ splitmix64(seed)",
                      "input": {"name": "input", "low": INPUT_LOW, "high": INPUT_HIGH},
                      "labels": {"name": "labels", "rule": "r = bits>>8; 255 if r%10==0 else (r//10)%C"}},
        "loss": {"type": "CrossEntropyLoss", "ignore_index": IGNORE_INDEX, "reduction": "mean",
                 "aux_coef": 1.0, "detail_loss_coef": 1.0, "detail_thrs": 0.1},
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
        "state_dict": {"columns": ["name", "shape", "dtype", "rule"], "entries": state,
                       "parameters": [n for n in sd if n in pnames]},
        "cases": [],
    }
    if "state_dict_aliases" in info:
        golden["state_dict_aliases"] = info["state_dict_aliases"]
    for s in a.size:
        golden["cases"].append(make_case(up, config, a.seed, a.batch, parse_size(s), model, not a.no_train))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, a.out)
    print(f"{a.out}: {os.path.getsize(a.out)} bytes, {len(state)} state entries, cases {a.size}")


if __name__ == "__main__":
    main()
