"""PP-MobileSeg as mmsegmentation's project defines it, run from the original files.

--upstream DIR holds mmsegmentation's projects/pp_mobileseg files at their
upstream paths below DIR (backbones/strideformer.py,
decode_head/pp_mobileseg_head.py; the repository is too large to check out
here, so they are copied file by file). They import mmcv 2, mmengine and
mmseg names; this module stands in for exactly those (imports only, mmcv's
maths and names):

  * mmcv.cnn.ConvModule: conv (bias 'auto' = no bias when a norm follows),
    norm `bn` (BatchNorm2d for BN/SyncBN; eps 1e-5, momentum 0.1), activation
    `activate`, in the given `order`; the norm takes the conv's output channels
    when it follows the conv, its input channels otherwise; the activation gets
    mmcv's inplace=True except for the types mmcv exempts.
  * mmcv.cnn.build_activation_layer: ReLU, ReLU6 (torch's), HSwish
    (nn.Hardswish, as mmcv registers it for torch >= 1.7), HSigmoid (mmcv's:
    clamp((x + 3) / 6, 0, 1)), Sigmoid, and the types registered in
    mmseg.registry.MODELS (strideformer.py's own Hardsigmoid).
  * mmcv.cnn.build_conv_layer (type Conv: nn.Conv2d), mmcv's build_dropout
    (Dropout: nn.Dropout(drop_prob); DropPath: timm's drop_path, as in
    upstream.py), mmengine's BaseModule (nn.Module keeping init_cfg),
    print_log, CheckpointLoader/load_state_dict (never called), and a MODELS
    registry.

The model is wrapped as mmseg's EncoderDecoder (`backbone.*`,
`decode_head.*` keys, as mmseg checkpoints): its forward is
encode_decode, the head's output (already at the input size) as is; the
resize to the input that EncoderDecoder then applies is the identity.
"""

import importlib.util
import os
import sys
import types

import torch.nn as nn

# mmseg's configs: configs/_base_/models/pp_mobile.py (base) and
# configs/pp_mobileseg/pp_mobileseg_mobilenetv3_2x16_80k_ade20k_512x512_tiny.py.
PP_MOBILESEG = {
    "base": dict(
        mobileV3_cfg=[
            [[3, 16, 16, True, "ReLU", 1], [3, 64, 32, False, "ReLU", 2], [3, 96, 32, False, "ReLU", 1]],
            [[5, 128, 64, True, "HSwish", 2], [5, 240, 64, True, "HSwish", 1]],
            [[5, 384, 128, True, "HSwish", 2], [5, 384, 128, True, "HSwish", 1]],
            [[5, 768, 192, True, "HSwish", 2], [5, 768, 192, True, "HSwish", 1]],
        ],
        channels=[16, 32, 64, 128, 192], depths=[3, 3], embed_dims=[128, 192], num_heads=8,
        inj_type="AAMSx8", out_feat_chs=[64, 128, 192], act_cfg=dict(type="ReLU6")),
    "tiny": dict(
        mobileV3_cfg=[
            [[3, 16, 16, True, "ReLU", 1], [3, 64, 32, False, "ReLU", 2], [3, 48, 24, False, "ReLU", 1]],
            [[5, 96, 32, True, "HSwish", 2], [5, 96, 32, True, "HSwish", 1]],
            [[5, 160, 64, True, "HSwish", 2], [5, 160, 64, True, "HSwish", 1]],
            [[3, 384, 128, True, "HSwish", 2], [3, 384, 128, True, "HSwish", 1]],
        ],
        channels=[16, 24, 32, 64, 128], depths=[2, 2], embed_dims=[64, 128], num_heads=4,
        inj_type="AAM", out_feat_chs=[32, 64, 128], act_cfg=dict(type="ReLU6")),
}


# The files' commits in open-mmlab/mmsegmentation (the copies are not a checkout).
UPSTREAM_FILES = {"backbones/strideformer.py": "73e979baa2ec129a8dc02fd7a406e48a1899d2e0",
                  "decode_head/pp_mobileseg_head.py": "c97ceed900e00df720192d11940a1c33a81675e9"}


class _Registry:
    def __init__(self):
        self.modules = {}

    def register_module(self, name=None, module=None, force=False):
        def add(cls):
            self.modules[name or cls.__name__] = cls
            return cls
        return add(module) if module is not None else add

    def get(self, name):
        return self.modules.get(name)


MODELS = _Registry()


class HSigmoid(nn.Module):
    """mmcv.cnn.bricks.hsigmoid.HSigmoid (defaults since mmcv 1.4.4)."""

    def __init__(self, bias=3.0, divisor=6.0, min_value=0.0, max_value=1.0):
        super().__init__()
        self.bias, self.divisor, self.min_value, self.max_value = bias, divisor, min_value, max_value

    def forward(self, x):
        x = (x + self.bias) / self.divisor
        return x.clamp_(self.min_value, self.max_value)


_ACTIVATIONS = {"ReLU": nn.ReLU, "ReLU6": nn.ReLU6, "HSwish": nn.Hardswish, "HSigmoid": HSigmoid,
                "Sigmoid": nn.Sigmoid}


def build_activation_layer(cfg):
    cfg = dict(cfg)
    kind = cfg.pop("type")
    cls = _ACTIVATIONS.get(kind) or MODELS.get(kind)
    if cls is None:
        raise KeyError(f"activation {kind} is not in the mmcv stand-in")
    return cls(**cfg)


def build_conv_layer(cfg, *args, **kwargs):
    assert cfg is None or cfg.get("type") == "Conv", cfg
    return nn.Conv2d(*args, **kwargs)


class ConvModule(nn.Module):
    """mmcv.cnn.ConvModule for 2d conv, BN/SyncBN and an activation, in any order."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias="auto", conv_cfg=None, norm_cfg=None, act_cfg=dict(type="ReLU"), inplace=True,
                 with_spectral_norm=False, padding_mode="zeros", order=("conv", "norm", "act")):
        super().__init__()
        assert conv_cfg is None and not with_spectral_norm and padding_mode == "zeros"
        self.order = tuple(order)
        assert set(self.order) == {"conv", "norm", "act"}
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        if bias == "auto":
            bias = not self.with_norm
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=bias)
        if self.with_norm:
            assert norm_cfg["type"] in ("BN", "SyncBN"), norm_cfg
            channels = out_channels if self.order.index("norm") > self.order.index("conv") else in_channels
            self.bn = nn.BatchNorm2d(channels)
        if self.with_activation:
            act = dict(act_cfg)
            if act["type"] not in ("Tanh", "PReLU", "Sigmoid", "HSigmoid", "Swish", "GELU"):
                act.setdefault("inplace", inplace)
            self.activate = build_activation_layer(act)

    def forward(self, x):
        for layer in self.order:
            if layer == "conv":
                x = self.conv(x)
            elif layer == "norm" and self.with_norm:
                x = self.bn(x)
            elif layer == "act" and self.with_activation:
                x = self.activate(x)
        return x


class Dropout(nn.Dropout):
    """mmcv.cnn.bricks.drop.Dropout: nn.Dropout with mmcv's argument name."""

    def __init__(self, drop_prob=0.5, inplace=False):
        super().__init__(p=drop_prob, inplace=inplace)


class BaseModule(nn.Module):
    def __init__(self, init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg


def _stub(name, **attrs):
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    mod.__path__ = []
    sys.modules[name] = mod
    return mod


def _install_stubs(drop_path_cls):
    def build_dropout(cfg):
        cfg = dict(cfg)
        kind = cfg.pop("type")
        if kind == "Dropout":
            return Dropout(**cfg)
        if kind == "DropPath":
            return drop_path_cls(cfg.get("drop_prob", 0.1))
        raise KeyError(f"dropout {kind} is not in the mmcv stand-in")

    def never(*a, **k):
        raise RuntimeError("mmcv stand-in: checkpoint loading is not part of a golden")

    _stub("mmcv")
    _stub("mmcv.cnn", ConvModule=ConvModule, build_activation_layer=build_activation_layer,
          build_conv_layer=build_conv_layer)
    _stub("mmcv.cnn.bricks")
    _stub("mmcv.cnn.bricks.transformer", build_dropout=build_dropout)
    _stub("mmengine")
    _stub("mmengine.logging", print_log=lambda *a, **k: None)
    _stub("mmengine.model", BaseModule=BaseModule)
    _stub("mmengine.runner")
    _stub("mmengine.runner.checkpoint", CheckpointLoader=types.SimpleNamespace(load_checkpoint=never),
          load_state_dict=never)
    _stub("mmseg")
    _stub("mmseg.registry", MODELS=MODELS)


def _load_file(modname, path):
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod


class EncoderDecoder(nn.Module):
    """mmseg EncoderDecoder.encode_decode with the head's output already at the input size."""

    def __init__(self, backbone, decode_head):
        super().__init__()
        self.backbone = backbone
        self.decode_head = decode_head

    def forward(self, x):
        return self.decode_head(self.backbone(x))[0]


def build_pp_mobileseg(upstream, config, drop_path_cls):
    """StrideFormer(**config of the variant) + PPMobileSegHead(num_classes, in_channels=256, ...)."""
    _install_stubs(drop_path_cls)
    sf = _load_file("pp_mobileseg_strideformer", os.path.join(upstream, "backbones/strideformer.py"))
    hd = _load_file("pp_mobileseg_head", os.path.join(upstream, "decode_head/pp_mobileseg_head.py"))
    variant = config.get("variant", "base")
    bb_kwargs = dict(PP_MOBILESEG[variant])
    for key in ("inj_type", "drop_path_rate", "stride_attention"):
        if key in config:
            bb_kwargs[key] = config[key]
    head_kwargs = dict(num_classes=config["num_classes"], in_channels=256, dropout_ratio=0.1, use_dw=True,
                       act_cfg=dict(type="ReLU"), align_corners=False,
                       upsample=config.get("upsample", "intepolate"))
    model = EncoderDecoder(sf.StrideFormer(**bb_kwargs), hd.PPMobileSegHead(**head_kwargs))
    info = {"class": "mmseg EncoderDecoder(backbone=StrideFormer, decode_head=PPMobileSegHead) of "
                     "open-mmlab/mmsegmentation projects/pp_mobileseg "
                     + ", ".join(f"{f}@{c[:7]}" for f, c in UPSTREAM_FILES.items()),
            "ctor_kwargs": {"backbone": bb_kwargs, "decode_head": head_kwargs}}
    return model, info
