"""Parity of checkpoints in other layouts (rtseg_convert --from, auto-detected):
a Hugging Face transformers SegFormer-B0 built from its config with random
weights, saved as model.safetensors and as pytorch_model.bin; and, with
--segformer, NVlabs' SegFormer-B0 saved as mmseg/mmcv writes it
({'meta', 'state_dict', 'optimizer'}, without decode_head.conv_seg) and with
its backbone renamed to mmseg 1.x's MixVisionTransformer names; and, with
--ppmobileseg, PP-MobileSeg-Tiny (mmsegmentation's projects/pp_mobileseg) in
the same mmseg wrapper. Each file is
converted with `rtseg_convert FILE --config CONFIG.json -o OUT.bin`, run with
`rtseg_infer --dump-logits` on a random input of a random size, and compared
with the source model's eval logits run in float64: cudaseg's relative L2 error
must be at most three times PyTorch float32's own, or 1e-5.

    /work/venv-hf/bin/python tools/check_layout_parity.py --build build-cpu \
        [--segformer /tmp/upstream/segformer] [--ppmobileseg /tmp/upstream/ppmobileseg] [--seeds 1 2 3]

Needs transformers (a venv: /usr/bin/python3 -m venv --system-site-packages
/work/venv-hf && /work/venv-hf/bin/pip install 'numpy<2' 'transformers<4.40'
'safetensors<0.5'). Exit status 1 when any check misses the bound.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens"))

from check_convert_parity import randomize  # noqa: E402  (the same random weights)

NUM_CLASSES = 19


def hf_model(gen):
    from transformers import SegformerConfig, SegformerForSemanticSegmentation
    # nvidia/mit-b0's numbers (the config defaults are B0's too).
    config = SegformerConfig(num_labels=NUM_CLASSES, hidden_sizes=[32, 64, 160, 256], depths=[2, 2, 2, 2],
                             num_attention_heads=[1, 2, 5, 8], sr_ratios=[8, 4, 2, 1], decoder_hidden_size=256)
    model = SegformerForSemanticSegmentation(config)
    randomize(model, gen)
    model.eval()

    def forward(m, x):
        logits = m(pixel_values=x).logits
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=False)
    return model, forward


def mmseg_mit_names(state):
    """NVlabs MiT names -> mmseg 1.x MixVisionTransformer's (mmseg/models/backbones/mit.py)."""
    import re
    out = {}
    pending = {}
    for name, t in state.items():
        m = re.match(r"backbone\.patch_embed(\d)\.(proj|norm)\.(.+)", name)
        if m:
            out[f"backbone.layers.{int(m[1]) - 1}.0.{'projection' if m[2] == 'proj' else 'norm'}.{m[3]}"] = t
            continue
        m = re.match(r"backbone\.norm(\d)\.(.+)", name)
        if m:
            out[f"backbone.layers.{int(m[1]) - 1}.2.{m[2]}"] = t
            continue
        m = re.match(r"backbone\.block(\d)\.(\d+)\.(.+)", name)
        if not m:
            out[name] = t
            continue
        prefix, rest = f"backbone.layers.{int(m[1]) - 1}.1.{m[2]}.", m[3]
        m2 = re.match(r"attn\.(q|kv)\.(weight|bias)", rest)
        if m2:
            pending.setdefault(prefix + "attn.attn.in_proj_" + m2[2], {})[m2[1]] = t
            continue
        for ours, theirs in (("attn.proj.", "attn.attn.out_proj."), ("mlp.fc1.", "ffn.layers.0."),
                             ("mlp.dwconv.dwconv.", "ffn.layers.1."), ("mlp.fc2.", "ffn.layers.4.")):
            if rest.startswith(ours):
                rest = theirs + rest[len(ours):]
                if theirs in ("ffn.layers.0.", "ffn.layers.4.") and t.dim() == 2:
                    t = t[:, :, None, None]
                break
        out[prefix + rest] = t
    for name, parts in pending.items():
        out[name] = torch.cat([parts["q"], parts["kv"]], 0)
    return out


def rel(a, ref):
    return float((a.double() - ref).norm() / ref.norm())


SEGFORMER_B0 = {"name": "segformer", "backbone": "mit_b0", "num_classes": NUM_CLASSES}


def mmseg_meta(seed):
    """What mmcv's save_checkpoint puts in 'meta' (a NumPy scalar included)."""
    return {"mmcv_version": "1.3.0", "CLASSES": tuple(f"c{i}" for i in range(NUM_CLASSES)),
            "PALETTE": [[i, 2 * i, 3 * i] for i in range(NUM_CLASSES)], "env_info": "sys.platform: linux",
            "config": "model = dict(type='EncoderDecoder')", "seed": np.int64(seed), "epoch": 1, "iter": 10,
            "time": "Mon Dec  7 00:00:00 2026", "hook_msgs": {}}


def run_case(args, tmp, label, path, model, forward, gen, rng, model_config=SEGFORMER_B0):
    cfg = os.path.join(tmp, label + ".json")
    with open(cfg, "w") as f:
        json.dump({"model": model_config}, f)
    out = os.path.join(tmp, label + ".bin")
    conv = subprocess.run([os.path.join(args.build, "rtseg_convert"), path, "--config", cfg, "-o", out],
                          check=True, capture_output=True, text=True)
    h, w = 32 * rng.randint(2, 6), 32 * rng.randint(2, 8)
    x = torch.rand((1, 3, h, w), generator=gen) * 2 - 1
    xin, yout = os.path.join(tmp, label + "_x.npy"), os.path.join(tmp, label + "_y.npy")
    np.save(xin, x.numpy())
    subprocess.run([os.path.join(args.build, "rtseg_infer"), "--weights", out, "--input-tensor", xin,
                    "--dump-logits", yout], check=True, capture_output=True, text=True)
    with torch.no_grad():
        f32 = forward(model.float(), x)
        f64 = forward(model.double(), x.double())
    model.float()
    ours = torch.from_numpy(np.load(yout))
    bound = max(3 * rel(f32, f64), 1e-5)
    ok = ours.shape == f64.shape and rel(ours, f64) <= bound
    print(f"{label:22s} {h}x{w}: rel L2 to float64 {rel(ours, f64):.2e} (PyTorch float32 {rel(f32, f64):.2e}, "
          f"bound {bound:.2e}) {'ok' if ok else 'FAIL'}   [{conv.stdout.strip().split('(')[-1].rstrip(')')}]")
    for line in conv.stderr.splitlines():
        print(f"{'':22s} {line}")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--segformer", default=None, help="NVlabs SegFormer checkout (for the mmseg cases)")
    p.add_argument("--ppmobileseg", default=None, help="mmsegmentation projects/pp_mobileseg folder")
    p.add_argument("--seeds", type=int, nargs="*", default=None)
    args = p.parse_args()
    seeds = args.seeds or [random.SystemRandom().randrange(1 << 30)]
    torch.set_num_threads(2)
    failed = []
    for seed in seeds:
        print(f"seed {seed}")
        rng = random.Random(seed)
        gen = torch.Generator().manual_seed(seed)
        with tempfile.TemporaryDirectory() as tmp:
            model, forward = hf_model(gen)
            from safetensors.torch import save_file
            state = {k: v.contiguous() for k, v in model.state_dict().items()}
            st = os.path.join(tmp, "model.safetensors")
            save_file(state, st, metadata={"format": "pt"})
            binf = os.path.join(tmp, "pytorch_model.bin")
            torch.save(state, binf)
            for label, path in (("hf safetensors", st), ("hf pytorch_model.bin", binf)):
                if not run_case(args, tmp, label.replace(" ", "_"), path, model, forward, gen, rng):
                    failed.append(f"{label} (seed {seed})")
            import upstream

            def upstream_forward(config):
                def run(m, x):
                    y = upstream.forward(m, config, x, False)
                    return y[0] if isinstance(y, (list, tuple)) else y
                return run
            if args.ppmobileseg is not None:
                config = {"name": "pp_mobileseg", "variant": "tiny", "num_classes": 150}
                pp = upstream.build(args.ppmobileseg, config)[0]
                randomize(pp, gen)
                pp.eval()
                path = os.path.join(tmp, "pp_mobileseg_tiny.pth")
                torch.save({"meta": mmseg_meta(seed), "state_dict": pp.state_dict()}, path)
                if not run_case(args, tmp, "mmseg_pp_mobileseg_tiny", path, pp, upstream_forward(config), gen, rng,
                                config):
                    failed.append(f"mmseg pp_mobileseg_tiny (seed {seed})")
            if args.segformer is None:
                continue
            config = SEGFORMER_B0
            nv = upstream.build(args.segformer, config)[0]
            randomize(nv, gen)
            nv.eval()
            sd = {k: v for k, v in nv.state_dict().items() if not k.startswith("decode_head.conv_seg.")}
            meta = mmseg_meta(seed)
            opt = torch.optim.AdamW(nv.parameters(), lr=6e-5)
            for label, weights in (("mmseg (NVlabs names)", sd), ("mmseg 1.x MiT names", mmseg_mit_names(sd))):
                path = os.path.join(tmp, label.split()[0] + str(len(weights)) + ".pth")
                torch.save({"meta": meta, "state_dict": weights, "optimizer": opt.state_dict()}, path)
                if not run_case(args, tmp, label.replace(" ", "_"), path, nv, upstream_forward(config), gen, rng):
                    failed.append(f"{label} (seed {seed})")
    if failed:
        print("failed:", "; ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
