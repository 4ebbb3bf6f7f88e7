"""Writes tests/goldens/distill_upstream.json: the upstream distillation losses
of FastSegFormer (utils/distillation_loss.py) and SEKD
(train/knowledge_distillation.py) on small fixed tensors, for
tests/autograd/test_distill.cpp.

    /usr/bin/python3 tools/goldens/make_distill_goldens.py \
        --fastsegformer /tmp/upstream/fastsegformer --sekd /tmp/upstream/sekd \
        --out tests/goldens/distill_upstream.json

Upstream code is imported from the given checkouts, never copied. Inputs are
float32 (SEKD's Gaussian kernel is float32, so upstream's texture loss cannot
take float64) drawn from a seeded generator and stored in the file, with the
loss value upstream returns and, where the loss is differentiable, the
gradient with respect to the student's first tensor.
"""
import argparse
import importlib.util
import json
import os

import torch


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tensor_json(t):
    return {"shape": list(t.shape), "values": [float(v) for v in t.detach().reshape(-1).tolist()]}


def case(name, students, teachers, fn, note=""):
    students = [s.clone().requires_grad_(True) for s in students]
    value = fn(students, teachers)
    value.backward()
    return {
        "name": name,
        "note": note,
        "student": [tensor_json(s) for s in students],
        "teacher": [tensor_json(t) for t in teachers],
        "value": float(value),
        "grad0": tensor_json(students[0].grad),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fastsegformer", required=True)
    p.add_argument("--sekd", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    fsf = load(os.path.join(args.fastsegformer, "utils", "distillation_loss.py"), "fsf_distillation_loss")
    kd = load(os.path.join(args.sekd, "train", "knowledge_distillation.py"), "sekd_knowledge_distillation")

    g = torch.Generator().manual_seed(18)

    def rnd(*shape):
        return torch.randn(*shape, generator=g)

    cases = []
    # P&KL. alpha = 1 isolates the KL term, which follows the paper; alpha = 0
    # the MSE term, which upstream divides by W*H once more than the paper.
    for alpha in (1.0, 0.0, 0.5):
        s, t = rnd(2, 4, 6, 5), rnd(2, 4, 6, 5)
        cases.append(case(f"pkl_alpha{alpha:g}", [s], [t],
                          lambda ss, tt, a=alpha: fsf.kl_pixel_loss(tt[0], ss[0], alpha=a, temperature=2),
                          "teacher and student at one size"))
    # Multi-resolution: the teacher logits resized to the student's size.
    s, t = rnd(2, 4, 5, 5), rnd(2, 4, 9, 9)
    cases.append(case("pkl_resize_alpha1", [s], [t],
                      lambda ss, tt: fsf.kl_pixel_loss(tt[0], ss[0], alpha=1.0, temperature=2)))
    # NFD at equal channel counts (no random projection) and sizes: upstream's
    # value is the un-normalised Frobenius norm / (W*H).
    s, t = rnd(2, 3, 6, 7), rnd(2, 3, 6, 7)
    crit = fsf.NFD_loss_after_conv1x1(3, 3)
    cases.append(case("nfd_unnormalised", [s], [t], lambda ss, tt: crit(tt[0], ss[0]),
                      "upstream never applies Normal()"))
    # SEKD context alignment, texture, alignment: four stages / levels.
    shapes = [(2, 4, 8, 8), (2, 6, 4, 4), (2, 5, 6, 6), (2, 3, 5, 5)]
    ss = [rnd(*sh) for sh in shapes]
    tt = [rnd(*sh) for sh in shapes]
    mscad = kd.MultiScaleContextAlignmentDistillationLoss()
    cases.append(case("sekd_context", ss, tt, lambda a, b: mscad(a, b)))
    tex = kd.TextureDistillationLoss()
    tokens = lambda xs: [x.flatten(2).transpose(1, 2) for x in xs]  # [B, N, C] as upstream receives them
    tex_shapes = [(2, 4, 8, 8), (2, 6, 6, 6), (2, 3, 4, 4)]
    ts = [rnd(*sh) for sh in tex_shapes]
    tt2 = [rnd(*sh) for sh in tex_shapes]
    cases.append(case("sekd_texture", ts, tt2, lambda a, b: tex(tokens(b), tokens(a)),
                      "maps given as [B, C, H, W]; upstream received them as [B, H*W, C] tokens"))
    align = kd.FeatureAlignmentLoss()
    al_shapes = [(2, 3, 8, 8), (2, 2, 12, 8)]
    sa = [rnd(*sh) for sh in al_shapes]
    ta = [rnd(*sh) for sh in al_shapes]
    cases.append(case("sekd_alignment", sa, ta, lambda a, b: align(a, b)))
    # Reconstruction: replay upstream's torch.randint draws to record the starts.
    ssl = kd.SelfSupervisedDistillationLoss()
    torch.manual_seed(5)
    starts = []
    for sh in shapes:
        h, w = sh[2], sh[3]
        mh, mw = int(h * 0.3), int(w * 0.3)
        hs = torch.randint(0, h - mh, (sh[0],))
        ws = torch.randint(0, w - mw, (sh[0],))
        starts.append([[int(a), int(b)] for a, b in zip(hs, ws)])
    torch.manual_seed(5)
    rec = case("sekd_reconstruction", ss, tt, lambda a, b: ssl(a, b))
    rec["starts"] = starts
    cases.append(rec)

    with open(args.out, "w") as f:
        json.dump({"source": "tools/goldens/make_distill_goldens.py", "torch": torch.__version__, "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
