"""End-to-end parity of the user path, on fresh random weights, inputs and
sizes: for each net, build the upstream PyTorch model, give it random
parameters and BatchNorm statistics (torch's RNG, a fresh seed), torch.save its
state_dict, convert it with `rtseg_convert MODEL.pth --config CONFIG.json -o
OUT.bin`, run `rtseg_infer --weights OUT.bin --input-tensor X.npy
--dump-logits Y.npy` on a random input of a random accepted size, and compare
with upstream's eval logits run in float64: cudaseg's relative L2 error must be
at most three times PyTorch float32's own, or 1e-5, whichever is larger. The
same bound holds for each distillation feature of the nets that return them
(FastSegFormer's and Swin-T-Att-UNet's fork_feat lists, SEKD's features and
embeds): upstream's in float64 and float32 against the output of the cudaseg
module that computes it (`rtseg_infer --dump-layer`, the plain forward).

    /usr/bin/python3 tools/check_convert_parity.py --build build \
        --zh320 /tmp/upstream/zh320 --segformer /tmp/upstream/segformer [--pidnet DIR] [--sfsegnets DIR] \
        [--sekd DIR] [--fastsegformer DIR] [--stdcseg DIR] [--ppmobileseg DIR] [--seed N] [--nets stdc1 enet]
--ppmobileseg is the folder of mmsegmentation's projects/pp_mobileseg files
(tools/goldens/upstream_mmseg.py).
The smp_* teachers need a Python with segmentation-models-pytorch 0.3.3 (run the
script with it; tests/goldens/README.md says how to make one), in a run of
their own: the SegFormer and FastSegFormer builders install stand-in timm
modules that smp's own timm imports then find.

Exit status 1 when any net misses the bound.

--spread also runs PyTorch float32 in two other valid reduction orders (one
thread instead of two; channels_last) and prints their errors beside the
default's. On nets whose random weights make attention logits reach the
thousands (EfficientFormerV2 in FastSegFormer-E), softmax amplifies float32
rounding so much that PyTorch's own variants differ by up to 99x on a seed; a miss is then worth
reading against that spread (the verdict and exit status stay the bound's).
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens"))
import upstream  # noqa: E402

# net -> (registry config, size multiple the upstream net accepts)
NETS = {
    "stdc1": ({"name": "stdc", "encoder_type": "stdc1", "num_classes": 19}, 32),
    "stdc2": ({"name": "stdc", "encoder_type": "stdc2", "num_classes": 19}, 32),
    "ppliteseg_stdc1": ({"name": "ppliteseg", "encoder_type": "stdc1", "num_classes": 19}, 32),
    "ppliteseg_stdc2": ({"name": "ppliteseg", "encoder_type": "stdc2", "num_classes": 19}, 32),
    "bisenetv2": ({"name": "bisenetv2", "num_classes": 19}, 32),
    "fastscnn": ({"name": "fastscnn", "num_classes": 19}, 32),
    "ddrnet23_slim": ({"name": "ddrnet", "arch_type": "DDRNet-23-slim", "num_classes": 19}, 32),
    "ddrnet23": ({"name": "ddrnet", "arch_type": "DDRNet-23", "num_classes": 19}, 32),
    "enet": ({"name": "enet", "num_classes": 19}, 8),
    "segformer_b0": ({"name": "segformer", "backbone": "mit_b0", "num_classes": 19}, 32),
    "erfnet": ({"name": "erfnet", "num_classes": 19}, 8),
    "edanet": ({"name": "edanet", "num_classes": 19}, 8),
    "esnet": ({"name": "esnet", "num_classes": 19}, 8),
    "fddwnet": ({"name": "fddwnet", "num_classes": 19}, 8),
    "lednet": ({"name": "lednet", "num_classes": 19}, 8),
    "aglnet": ({"name": "aglnet", "num_classes": 19}, 32),
    "dabnet": ({"name": "dabnet", "num_classes": 19}, 8),
    "mininet": ({"name": "mininet", "num_classes": 19}, 64),
    "cgnet": ({"name": "cgnet", "num_classes": 19}, 8),
    "cfpnet": ({"name": "cfpnet", "num_classes": 19}, 8),
    "espnet": ({"name": "espnet", "num_classes": 19}, 8),
    "espnetv2": ({"name": "espnetv2", "num_classes": 19}, 8),
    "adscnet": ({"name": "adscnet", "num_classes": 19}, 8),
    "fpenet": ({"name": "fpenet", "num_classes": 19}, 8),
    "fssnet": ({"name": "fssnet", "num_classes": 19}, 8),
    "mininetv2": ({"name": "mininetv2", "num_classes": 19}, 8),
    "bisenetv1": ({"name": "bisenetv1", "num_classes": 19}, 32),
    "bisenetv1_resnet50": ({"name": "bisenetv1", "backbone_type": "resnet50", "num_classes": 19}, 32),
    "canet": ({"name": "canet", "num_classes": 19}, 32),
    "canet_resnet18": ({"name": "canet", "backbone_type": "resnet18", "num_classes": 19}, 32),
    "contextnet": ({"name": "contextnet", "num_classes": 19}, 8),
    "dfanet": ({"name": "dfanet", "num_classes": 19}, 64),
    "fanet": ({"name": "fanet", "num_classes": 19}, 64),
    "farseenet": ({"name": "farseenet", "num_classes": 19}, 32),
    "icnet": ({"name": "icnet", "num_classes": 19}, 32),
    "linknet": ({"name": "linknet", "num_classes": 19}, 32),
    "linknet_resnet34": ({"name": "linknet", "backbone_type": "resnet34", "num_classes": 19}, 32),
    "litehrnet18": ({"name": "litehrnet", "num_classes": 19}, 32),
    "litehrnet30": ({"name": "litehrnet", "arch_type": "litehrnet30", "num_classes": 19}, 32),
    "liteseg": ({"name": "liteseg", "num_classes": 19}, 8),
    "liteseg_resnet18": ({"name": "liteseg", "backbone_type": "resnet18", "num_classes": 19}, 8),
    "regseg": ({"name": "regseg", "num_classes": 19}, 32),
    "segnet": ({"name": "segnet", "num_classes": 19}, 32),
    "shelfnet": ({"name": "shelfnet", "num_classes": 19}, 32),
    "sqnet": ({"name": "sqnet", "num_classes": 19}, 16),
    "swiftnet": ({"name": "swiftnet", "num_classes": 19}, 32),
    "swiftnet_mobilenet_v2": ({"name": "swiftnet", "backbone_type": "mobilenet_v2", "num_classes": 19}, 32),
    # segmentation-models-pytorch teachers: run with a Python that has smp (tests/goldens/README.md, "smp")
    "smp_deeplabv3p_resnet18": ({"name": "smp", "decoder": "deeplabv3p", "encoder": "resnet18", "num_classes": 19}, 32),
    "smp_deeplabv3_resnet34": ({"name": "smp", "decoder": "deeplabv3", "encoder": "resnet34", "num_classes": 19}, 32),
    "smp_unet_resnet18": ({"name": "smp", "decoder": "unet", "encoder": "resnet18", "num_classes": 19}, 32),
    "smp_unetpp_resnet18": ({"name": "smp", "decoder": "unetpp", "encoder": "resnet18", "num_classes": 19}, 32),
    "smp_fpn_resnet50": ({"name": "smp", "decoder": "fpn", "encoder": "resnet50", "num_classes": 19}, 32),
    "smp_linknet_resnet18": ({"name": "smp", "decoder": "linknet", "encoder": "resnet18", "num_classes": 19}, 32),
    "smp_manet_resnet18": ({"name": "smp", "decoder": "manet", "encoder": "resnet18", "num_classes": 19}, 32),
    "smp_pan_resnet18": ({"name": "smp", "decoder": "pan", "encoder": "resnet18", "num_classes": 19}, 64),
    "smp_pspnet_resnet18": ({"name": "smp", "decoder": "pspnet", "encoder": "resnet18", "num_classes": 19}, 32),
    # the seeds' other repositories: --pidnet, --sfsegnets, --sekd, --fastsegformer checkouts
    "pidnet_s": ({"name": "pidnet", "arch_type": "pidnet_s", "num_classes": 19}, 8),
    "pidnet_m": ({"name": "pidnet", "arch_type": "pidnet_m", "num_classes": 19}, 8),
    "pidnet_l": ({"name": "pidnet", "arch_type": "pidnet_l", "num_classes": 19}, 8),
    "sfnet_r18": ({"name": "sfnet", "trunk": "resnet-18-deep", "num_classes": 19}, 8),
    "sfnet_lite_r18": ({"name": "sfnet", "trunk": "resnet-18-deep", "head_type": "v2", "fpn_dsn": True,
                        "fa_type": "spatial_atten", "num_classes": 19}, 8),
    "sfnet_r50": ({"name": "sfnet", "trunk": "resnet-50-deep", "num_classes": 19}, 8),
    "sekd_student_b0": ({"name": "sekd_student", "backbone": "mit_b0", "num_classes": 3}, 32),
    "sekd_teacher_b2": ({"name": "sekd_teacher", "backbone": "mit_b2", "num_classes": 3}, 32),
    "swin_t_att_unet": ({"name": "swin_t_att_unet", "num_classes": 4}, 32),  # square only, as upstream
    "fastsegformer_e": ({"name": "fastsegformer", "backbone": "efficientformerV2_s0", "num_classes": 4}, 224),
    "fastsegformer_p": ({"name": "fastsegformer", "backbone": "poolformer_s12", "num_classes": 4}, 224),
    # the run configs' (nets/fastsegformer_*.json): multiscale pyramid, image reconstruction branch
    "fastsegformer_e_ms_cnn": ({"name": "fastsegformer", "backbone": "efficientformerV2_s0", "Pyramid": "multiscale",
                                "cnn_branch": True, "num_classes": 4}, 224),
    "fastsegformer_p_ms_cnn": ({"name": "fastsegformer", "backbone": "poolformer_s12", "Pyramid": "multiscale",
                                "cnn_branch": True, "num_classes": 4}, 224),
    "sekd_student_b1": ({"name": "sekd_student", "backbone": "mit_b1", "num_classes": 3}, 32),
    # MichaelFan01/STDC-Seg: the state_dict saved as upstream's, backbone aliases x2..x32 included
    "stdcseg_stdc1": ({"name": "stdcseg", "backbone": "STDCNet813", "num_classes": 19}, 32),
    "stdcseg_stdc2": ({"name": "stdcseg", "backbone": "STDCNet1446", "use_conv_last": True, "num_classes": 19}, 32),
    "pp_mobileseg_base": ({"name": "pp_mobileseg", "variant": "base", "num_classes": 150}, 32),
    "pp_mobileseg_tiny": ({"name": "pp_mobileseg", "variant": "tiny", "num_classes": 150}, 32),
}

# The distillation features of the nets that have them: upstream's list (its
# fork_feat forward, or SEKD's (features, logits, embeds)) and, for each entry,
# the cudaseg module whose output it is (`rtseg_infer --dump-layer`, NAME#K the
# K-th output of a module returning several; None: the logits).
LOGITS = None


def fork_outputs(model, config, x):
    """Upstream's distillation features for input x, in order."""
    name = config["name"]
    if name.startswith("sekd_"):
        feats, _, embeds = upstream.sekd_outputs(model, x)
        return list(feats) + list(embeds)
    fork, model.fork_feat = model.fork_feat, True
    try:
        return list(model(x))
    finally:
        model.fork_feat = fork


def fork_layers(config):
    name = config["name"]
    backbone = ["common_backbone"] + [f"common_backbone#{k}" for k in (1, 2, 3)]
    if name == "fastsegformer":
        return backbone + ["global_feature", "FFM"] + (["cnn2", "cnn_up"] if config.get("cnn_branch") else [LOGITS])
    if name == "swin_t_att_unet":
        return backbone + ["bottle", "conv3", "conv1", "final_up_conv"]
    if name == "sekd_teacher":
        return [f"norm{s}" for s in range(1, 5)] + [f"patch_embed{s}" for s in range(1, 5)]
    if name == "sekd_student":
        return [f"embeddings.{s}" for s in range(4)] + [f"embed_projections.{s}" for s in range(4)]
    return []


def as_reference_layout(ours, ref):
    """A module output in the layout of upstream's feature: MiT's stage norms
    return tokens [N, H*W, C], whose feature map is [N, C, H, W]."""
    if ours.shape != ref.shape and ours.dim() == 3 and ref.dim() == 4 and ours.numel() == ref.numel():
        n, c, h, w = ref.shape
        return ours.reshape(n, h, w, c).permute(0, 3, 1, 2)
    return ours

# The checkout each registry name is built from (an argument of this script).
REPO_OF = {"segformer": "segformer", "pidnet": "pidnet", "sfnet": "sfsegnets", "sekd_student": "sekd",
           "sekd_teacher": "sekd", "swin_t_att_unet": "fastsegformer", "fastsegformer": "fastsegformer",
           "stdcseg": "stdcseg",
           "pp_mobileseg": "ppmobileseg"}


def randomize(model, gen):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(torch.rand(t.shape, generator=gen) * 0.4 - 0.2)
            elif t.dim() >= 2:
                fan_in = t.shape[1] * int(np.prod(t.shape[2:]))
                b = (3.0 / fan_in) ** 0.5
                t.copy_(torch.rand(t.shape, generator=gen) * 2 * b - b)
            else:
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)


def torch_variants(model, config, x):
    """Upstream's float32 logits in reduction orders other than the default's."""
    out = {}

    def logits(m, xx):
        y = upstream.forward(m, config, xx, False)
        return y[0] if isinstance(y, (list, tuple)) else y

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out["1 thread"] = logits(model, x)
    torch.set_num_threads(threads)
    out["channels_last"] = logits(model.to(memory_format=torch.channels_last),
                                  x.contiguous(memory_format=torch.channels_last))
    model.to(memory_format=torch.contiguous_format)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--zh320", required=True)
    p.add_argument("--segformer", default=None, help="NVlabs SegFormer checkout (for segformer_b0)")
    for repo in ("pidnet", "sfsegnets", "sekd", "fastsegformer", "stdcseg", "ppmobileseg"):
        p.add_argument(f"--{repo}", default=None, help=f"{repo} checkout (for the nets built from it)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--size-scale", type=int, default=1,
                   help="multiply the random input sizes by N (large maps reach the kernels that only take "
                   "wide rows, e.g. Winograd's)")
    p.add_argument("--nets", nargs="*", default=list(NETS))
    p.add_argument("--spread", action="store_true",
                   help="also measure PyTorch float32 at 1 thread and in channels_last (logits)")
    args = p.parse_args()
    unknown = [n for n in args.nets if n not in NETS]
    if unknown:
        p.error(f"--nets: unknown {', '.join(unknown)}; this tool's nets are {', '.join(sorted(NETS))}")
    for n in args.nets:
        repo = REPO_OF.get(NETS[n][0]["name"])
        if repo and getattr(args, repo) is None:
            p.error(f"--{repo} is needed for {n} (or leave it out of --nets)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    torch.set_num_threads(2)
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for net in args.nets:
            config, multiple = NETS[net]
            gen = torch.Generator().manual_seed(rng.randrange(1 << 30))
            repo = REPO_OF.get(config["name"])
            up = getattr(args, repo) if repo else args.zh320
            model = upstream.build(up, config)[0]
            randomize(model, gen)
            # eval() after the weights are set: EfficientFormerV2 caches its attention biases in eval()
            model.eval()
            model.cudaseg_keep_aliases = True  # stdcseg: torch.save the aliases too (upstream.build_stdcseg)
            pth = os.path.join(tmp, net + ".pth")
            torch.save(model.state_dict(), pth)
            cfg = os.path.join(tmp, net + ".json")
            with open(cfg, "w") as f:
                json.dump({"model": config}, f)
            out = os.path.join(tmp, net + ".bin")
            subprocess.run([os.path.join(args.build, "rtseg_convert"), pth, "--config", cfg, "-o", out],
                           check=True, capture_output=True, text=True)
            h = multiple * rng.randint(2, 6) * args.size_scale
            w = h if config["name"] == "swin_t_att_unet" else multiple * rng.randint(2, 8) * args.size_scale
            if config["name"] == "fastsegformer":  # its attention biases and image branch are fixed at 224x224
                h = w = 224
            x = torch.rand((1, 3, h, w), generator=gen) * 2 - 1
            xin, yout = os.path.join(tmp, net + "_x.npy"), os.path.join(tmp, net + "_y.npy")
            np.save(xin, x.numpy())
            subprocess.run([os.path.join(args.build, "rtseg_infer"), "--weights", out, "--input-tensor", xin,
                            "--dump-logits", yout], check=True, capture_output=True, text=True)
            with torch.no_grad():
                f32 = upstream.forward(model, config, x, False)
                f32 = f32[0] if isinstance(f32, (list, tuple)) else f32
                variants = torch_variants(model, config, x) if args.spread else {}
                f64 = upstream.forward(model.double(), config, x.double(), False)
                f64 = f64[0] if isinstance(f64, (list, tuple)) else f64
            ours = torch.from_numpy(np.load(yout))

            def rel(a):
                return float((a.double() - f64).norm() / f64.norm())

            bound = max(3 * rel(f32), 1e-5)
            ok = ours.shape == f64.shape and rel(ours) <= bound
            print(f"{net:16s} {h}x{w}: rel L2 to float64 {rel(ours):.2e} (PyTorch float32 {rel(f32):.2e}, "
                  f"bound {bound:.2e}) {'ok' if ok else 'FAIL'}")
            if variants:
                worst_variant = max(rel(v) for v in variants.values())
                inside = rel(ours) <= 3 * worst_variant
                print(f"{net:16s} PyTorch float32 spread: " +
                      ", ".join(f"{k} {rel(v):.2e}" for k, v in variants.items()) +
                      f"; cudaseg {'inside' if inside else 'outside'} 3x the worst variant")
            if not ok:
                failed.append(net)
            layers = fork_layers(config)
            if not layers:
                continue
            with torch.no_grad():
                fork64 = fork_outputs(model, config, x.double())  # the model is float64 here
                fork32 = fork_outputs(model.float(), config, x)
            if len(fork64) != len(layers):
                print(f"{net:16s} fork: upstream returns {len(fork64)} features, the tool maps {len(layers)} FAIL")
                failed.append(net + " fork")
                continue
            worst = []
            for k, (layer, r64, r32) in enumerate(zip(layers, fork64, fork32)):
                if layer is LOGITS:
                    got = ours
                else:
                    zout = os.path.join(tmp, f"{net}_fork{k}.npy")
                    subprocess.run([os.path.join(args.build, "rtseg_infer"), "--weights", out, "--input-tensor", xin,
                                    "--dump-layer", layer, "--dump-layer-out", zout],
                                   check=True, capture_output=True, text=True)
                    got = as_reference_layout(torch.from_numpy(np.load(zout)), r64)
                den = r64.double().norm()
                e_ours = float((got.double() - r64.double()).norm() / den) if got.shape == r64.shape else float("inf")
                e_f32 = float((r32.double() - r64.double()).norm() / den)
                fbound = max(3 * e_f32, 1e-5)
                fok = e_ours <= fbound
                worst.append((e_ours / fbound, k, layer, e_ours, e_f32))
                if not fok:
                    failed.append(f"{net} fork.{k} ({layer})")
            r, k, layer, e_ours, e_f32 = max(worst)
            print(f"{net:16s} fork: {len(worst)} features, worst fork.{k} ({layer or 'logits'}): rel L2 "
                  f"{e_ours:.2e} (PyTorch float32 {e_f32:.2e}, {r:.2f} of the bound) {'ok' if r <= 1 else 'FAIL'}")
    if failed:
        print("failed:", " ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
