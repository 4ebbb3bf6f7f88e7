#!/usr/bin/python3
"""Writes the fixtures of tests/weights/layouts_test.cpp into tests/data/layouts/:
checkpoints in the layouts rtseg_convert --from reads, each small.

  hf_segformer_tiny.safetensors, hf_segformer_tiny.bin
      a Hugging Face transformers SegformerForSemanticSegmentation built from
      a tiny config, random weights, saved as save_pretrained writes them
  mmseg_mit_tiny.pth
      mmseg 1.x MixVisionTransformer names in {'meta', 'state_dict',
      'optimizer', 'message_hub'}, whose meta holds what mmcv/mmengine write
      (class tuple, palette, strings, a NumPy scalar) and an object
  ppliteseg_tiny_p2.pdparams, ppliteseg_tiny_p4.pdparams
      PaddleSeg PP-LiteSeg names (BatchNorm _mean/_variance), a pickle of
      NumPy arrays as paddle.save writes it (protocol 2 and 4), with its
      StructuredToParameterName@@ table
  malicious.pdparams
      a NumPy pickle that would create MARKER if anything in it ran

expected.json gives, per file, the layout auto-detection must find and, per
mapped tensor, its shape and the source pieces it is made of
([source name, first row, end row] concatenated by rows), so the test checks
the mapping against the file's own tensors byte for byte.

Run with a Python that has transformers (tools/check_layout_parity.py says how
to make one): /work/venv-hf/bin/python tools/make_layout_fixtures.py
"""
import collections
import json
import os
import pickle
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "layouts")
MARKER = "/tmp/cudaseg_pth_fixture_was_executed"


def path(name):
    return os.path.join(OUT, name)


def whole(name, t):
    return {"shape": list(t.shape), "pieces": [[name, 0, int(t.shape[0]) if t.dim() else 1]]}


def hf_fixture(expected):
    from safetensors.torch import save_file
    from transformers import SegformerConfig, SegformerForSemanticSegmentation
    torch.manual_seed(21)
    config = SegformerConfig(hidden_sizes=[4, 4, 8, 8], num_attention_heads=[1, 1, 2, 2], depths=[1, 1, 1, 1],
                             sr_ratios=[8, 4, 2, 1], decoder_hidden_size=4, num_labels=2)
    model = SegformerForSemanticSegmentation(config)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape))
    state = collections.OrderedDict((k, v.contiguous()) for k, v in model.state_dict().items())
    save_file(state, path("hf_segformer_tiny.safetensors"), metadata={"format": "pt"})
    torch.save(state, path("hf_segformer_tiny.bin"))
    mapped = {}
    for name, t in state.items():
        parts = name.split(".")
        if name.startswith("segformer.encoder.patch_embeddings."):
            stage, layer = int(parts[3]) + 1, {"proj": "proj", "layer_norm": "norm"}[parts[4]]
            mapped[f"backbone.patch_embed{stage}.{layer}.{parts[5]}"] = whole(name, t)
        elif name.startswith("segformer.encoder.block."):
            stage, block, rest = int(parts[3]) + 1, parts[4], ".".join(parts[5:])
            prefix = f"backbone.block{stage}.{block}."
            if ".key." in name:
                value = name.replace(".key.", ".value.")
                mapped[prefix + "attn.kv." + parts[-1]] = {
                    "shape": [2 * t.shape[0]] + list(t.shape[1:]),
                    "pieces": [[name, 0, t.shape[0]], [value, 0, t.shape[0]]]}
                continue
            if ".value." in name:
                continue
            for theirs, ours in (("layer_norm_1.", "norm1."), ("layer_norm_2.", "norm2."),
                                 ("attention.self.query.", "attn.q."), ("attention.self.sr.", "attn.sr."),
                                 ("attention.self.layer_norm.", "attn.norm."), ("attention.output.dense.", "attn.proj."),
                                 ("mlp.dense1.", "mlp.fc1."), ("mlp.dwconv.dwconv.", "mlp.dwconv.dwconv."),
                                 ("mlp.dense2.", "mlp.fc2.")):
                if rest.startswith(theirs):
                    mapped[prefix + ours + rest[len(theirs):]] = whole(name, t)
        elif name.startswith("segformer.encoder.layer_norm."):
            mapped[f"backbone.norm{int(parts[3]) + 1}.{parts[4]}"] = whole(name, t)
        elif name.startswith("decode_head.linear_c."):
            mapped[f"decode_head.linear_c{int(parts[2]) + 1}.proj.{parts[4]}"] = whole(name, t)
        elif name.startswith("decode_head.linear_fuse."):
            mapped["decode_head.linear_fuse.conv." + parts[-1]] = whole(name, t)
        elif name.startswith("decode_head.batch_norm."):
            mapped["decode_head.linear_fuse.bn." + parts[-1]] = whole(name, t)
        elif name.startswith("decode_head.classifier."):
            mapped["decode_head.linear_pred." + parts[-1]] = whole(name, t)
        else:
            raise ValueError(name)
    assert len(mapped) == len(state) - 8, "one kv per key/value pair: 4 blocks, weight and bias"
    for f in ("hf_segformer_tiny.safetensors", "hf_segformer_tiny.bin"):
        expected[f] = {"layout": "hf", "tensors": mapped}


class HistoryBuffer:
    """Stands in for mmengine's logging objects in a checkpoint's message_hub."""

    def __init__(self):
        self.values = np.arange(4, dtype=np.float64)


def mmseg_fixture(expected):
    g = torch.Generator().manual_seed(5)
    c, hidden = 4, 16
    state = collections.OrderedDict()
    mapped = {}

    def add(name, shape, ours=None, ours_shape=None):
        t = torch.randn(shape, generator=g)
        state[name] = t
        if ours is not None:
            mapped[ours] = {"shape": ours_shape or list(shape), "pieces": [[name, 0, shape[0]]]}
        return t
    for i in range(2):
        cin = 3 if i == 0 else c
        add(f"backbone.layers.{i}.0.projection.weight", [c, cin, 3, 3], f"backbone.patch_embed{i + 1}.proj.weight")
        add(f"backbone.layers.{i}.0.projection.bias", [c], f"backbone.patch_embed{i + 1}.proj.bias")
        add(f"backbone.layers.{i}.0.norm.weight", [c], f"backbone.patch_embed{i + 1}.norm.weight")
        add(f"backbone.layers.{i}.0.norm.bias", [c], f"backbone.patch_embed{i + 1}.norm.bias")
        b, o = f"backbone.layers.{i}.1.0.", f"backbone.block{i + 1}.0."
        add(b + "norm1.weight", [c], o + "norm1.weight")
        add(b + "norm1.bias", [c], o + "norm1.bias")
        for p, shape in (("weight", [3 * c, c]), ("bias", [3 * c])):
            name = b + "attn.attn.in_proj_" + p
            add(name, shape)
            mapped[o + "attn.q." + p] = {"shape": [c] + shape[1:], "pieces": [[name, 0, c]]}
            mapped[o + "attn.kv." + p] = {"shape": [2 * c] + shape[1:], "pieces": [[name, c, 3 * c]]}
        add(b + "attn.attn.out_proj.weight", [c, c], o + "attn.proj.weight")
        add(b + "attn.attn.out_proj.bias", [c], o + "attn.proj.bias")
        add(b + "attn.sr.weight", [c, c, 2, 2], o + "attn.sr.weight")
        add(b + "attn.sr.bias", [c], o + "attn.sr.bias")
        add(b + "attn.norm.weight", [c], o + "attn.norm.weight")
        add(b + "attn.norm.bias", [c], o + "attn.norm.bias")
        add(b + "norm2.weight", [c], o + "norm2.weight")
        add(b + "norm2.bias", [c], o + "norm2.bias")
        add(b + "ffn.layers.0.weight", [hidden, c, 1, 1], o + "mlp.fc1.weight", ours_shape=[hidden, c])
        add(b + "ffn.layers.0.bias", [hidden], o + "mlp.fc1.bias")
        add(b + "ffn.layers.1.weight", [hidden, 1, 3, 3], o + "mlp.dwconv.dwconv.weight")
        add(b + "ffn.layers.1.bias", [hidden], o + "mlp.dwconv.dwconv.bias")
        add(b + "ffn.layers.4.weight", [c, hidden, 1, 1], o + "mlp.fc2.weight", ours_shape=[c, hidden])
        add(b + "ffn.layers.4.bias", [c], o + "mlp.fc2.bias")
        add(f"backbone.layers.{i}.2.weight", [c], f"backbone.norm{i + 1}.weight")
        add(f"backbone.layers.{i}.2.bias", [c], f"backbone.norm{i + 1}.bias")
    add("decode_head.conv_seg.weight", [2, c, 1, 1], "decode_head.conv_seg.weight")
    add("decode_head.conv_seg.bias", [2], "decode_head.conv_seg.bias")
    meta = {"mmseg_version": "1.2.2", "time": "20260101_000000", "seed": np.int64(42), "epoch": 0, "iter": 160000,
            "dataset_meta": {"classes": ("road", "sidewalk"), "palette": [[128, 64, 128], [244, 35, 232]]},
            "env_info": "sys.platform: linux\nPython: 3.8", "cfg": "model = dict(type='EncoderDecoder')",
            "hook_msgs": {"best_score": np.float64(0.5)}}
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=6e-5)
    torch.save({"meta": meta, "state_dict": state, "optimizer": opt.state_dict(),
                "message_hub": {"log_scalars": {"train/loss": HistoryBuffer()}}}, path("mmseg_mit_tiny.pth"))
    expected["mmseg_mit_tiny.pth"] = {"layout": "mmseg", "tensors": mapped,
                                      "warnings": ["skipped 'meta'", "skipped 'message_hub'",
                                                   "4 in_proj tensors split"]}


def paddle_fixture(expected):
    rng = np.random.default_rng(7)
    arrays = collections.OrderedDict()
    mapped = {}

    def add(name, array, ours=None):
        arrays[name] = array
        ours = ours or name
        mapped[ours] = {"shape": list(array.shape), "pieces": [[name, 0, array.shape[0] if array.ndim else 1]]}
    add("backbone.features.0.conv.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    for p in ("weight", "bias"):
        add("backbone.features.0.bn." + p, rng.standard_normal(4).astype(np.float32))
    add("backbone.features.0.bn._mean", rng.standard_normal(4).astype(np.float32), "backbone.features.0.bn.running_mean")
    add("backbone.features.0.bn._variance", rng.random(4).astype(np.float32) + 0.5,
        "backbone.features.0.bn.running_var")
    add("backbone.features.2.conv_list.0.conv.weight",
        np.asfortranarray(rng.standard_normal((4, 4, 1, 1)).astype(np.float32)))
    add("ppseg_head.cm.stages.0.1.conv.weight", rng.standard_normal((2, 4, 1, 1)).astype(np.float64))
    add("ppseg_head.arm_list.0._scale", np.ones(1, dtype=np.float32))
    add("seg_heads.0.conv_out.conv.weight", rng.standard_normal((2, 2, 1, 1)).astype(np.float32))
    add("seg_heads.0.step", np.array([12], dtype=np.int64))
    table = {name: "param_%d" % i for i, name in enumerate(arrays)}
    for protocol in (2, 4):
        name = "ppliteseg_tiny_p%d.pdparams" % protocol
        saved = collections.OrderedDict(arrays)
        saved["StructuredToParameterName@@"] = table
        with open(path(name), "wb") as f:
            pickle.dump(dict(saved), f, protocol=protocol)
        expected[name] = {"layout": "paddle", "tensors": mapped, "warnings": ["StructuredToParameterName@@"]}

    class RunsCommand:
        def __reduce__(self):
            return (os.system, ("touch " + MARKER,))
    with open(path("malicious.pdparams"), "wb") as f:
        pickle.dump({"w": np.zeros(2, dtype=np.float32), "payload": RunsCommand()}, f, protocol=4)
    expected["malicious.pdparams"] = {"error": "refusing to load global 'posix.system'"}


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    hf_fixture(expected)
    mmseg_fixture(expected)
    paddle_fixture(expected)
    with open(path("expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    sizes = sum(os.path.getsize(path(n)) for n in os.listdir(OUT))
    print("wrote", len(expected), "fixtures,", sizes, "bytes, to", os.path.normpath(OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
