"""Builds the upstream PyTorch models that cudaseg's nets must reproduce.

Upstream code is never copied into cudaseg: it is imported from a checkout
given on the command line (--upstream DIR). DIR is either a checkout of
zh320/realtime-semantic-segmentation-pytorch (the nets of ZH320_CLASSES, and
net smp: zh320's models/smp_wrapper.py, which builds segmentation-models-
pytorch's models; see build_smp), of NVlabs/SegFormer (net segformer), of
XuJiacong/PIDNet (net pidnet: models/pidnet.py's PIDNet; see build_pidnet
and forward), of lxtGH/SFSegNets (net sfnet; see build_sfnet), of xl-alt/SEKD
(nets sekd_student, sekd_teacher; see build_sekd) or of
caixiongjiang/FastSegFormer (nets fastsegformer and swin_t_att_unet; see
build_fastsegformer and build_swin_t_att_unet), of MichaelFan01/STDC-Seg
(net stdcseg: models/model_stages.py's BiSeNet; see build_stdcseg), or holds mmsegmentation's
projects/pp_mobileseg files (net pp_mobileseg; see upstream_mmseg.py).
Net ppliteseg_paddle (PaddleSeg's PP-LiteSeg) needs no checkout: no Paddle framework
runs here, so paddle_ppliteseg.py restates PaddleSeg's release code in PyTorch.

Shims (imports only, no numerics changed):
  * zh320: models/__init__.py imports every model, and fanet.py does
    `from torchvision.models.resnet import BasicBlock` at import time. When
    torchvision is missing (Debian's torch 1.13 here) a stub package provides
    that name; none of the nets built here touches it.
  * NVlabs SegFormer: mix_transformer.py and segformer_head.py are loaded
    straight from their files with stub modules for their imports:
    timm (DropPath -- timm's drop_path, identity at drop_prob 0 or in eval --
    to_2tuple, trunc_normal_, register_model, _cfg), mmseg builder registries,
    get_root_logger, mmcv.runner.load_checkpoint, mmseg.ops.resize
    (= F.interpolate, as in mmseg), mmcv.cnn.ConvModule (conv without bias when
    a norm follows, `bn` BatchNorm2d for SyncBN, `activate` ReLU; order
    conv-norm-act, the mmcv names and maths) and a BaseDecodeHead that keeps
    mmseg's attributes (conv_seg, dropout = Dropout2d(dropout_ratio),
    _transform_inputs for 'multiple_select'). The model is wrapped as mmseg's
    EncoderDecoder (`backbone.*`, `decode_head.*` keys, as in NVlabs
    checkpoints); its forward is EncoderDecoder.encode_decode: head logits at
    1/4 resized bilinearly (align_corners=False) to the input size.
  * zh320 nets whose forward adds in place into an output that autograd saved
    (a ReLU's: ADSCNet's `x += x1` after up2, FPENet's cumulative group sums
    and residual adds, MiniNetv2's `x_dw += x_ddw` and `x += x_ref`, DFANet's
    XceptionBlock `x_right += x_left`, FANet's `y += residual` on
    FastAttention.conv_fuse's ReLU output, RegSeg's decoder `x_d8 += x_d16`)
    cannot run backward upstream ("modified by an inplace operation"). A forward hook
    returns a clone of the outputs of the modules OUTPUT_CLONES names (regular
    expressions over module names, whole match), so the sums are the same and
    the train step is the one of the intended out-of-place adds.
  * zh320 nets with torchvision backbones (models/backbone.py: ResNet calls
    torchvision's resnet18..resnet152(pretrained=True), Mobilenetv2
    mobilenet_v2(pretrained=True)) would download ImageNet weights. When
    torchvision is installed, those builders in torchvision.models are
    replaced by wrappers that drop the `pretrained`/`weights` argument and
    build with weights=None (torchvision's random init, overwritten by
    detparams anyway): arguments only, the modules and their numerics are
    torchvision's. backbone.py imports the builders inside __init__, so the
    wrappers are the ones it gets. icnet.py's own ResNet wrapper imports
    them the same way, so it builds without downloading too.
  * PIDNet: utils/criterion.py (BondaryLoss, the training step's boundary
    loss) does `from configs import config`, which needs yacs; a stub
    `configs` module with config = None stands in (BondaryLoss never reads it).

  * lxtGH/SFSegNets (net sfnet, network/sfnet_resnet.py AlignNetResNet; see
    build_sfnet): network/nn/mynn.py imports apex for its amp.float_function
    decorator, config.py imports apex too; a stub apex gives an identity
    float_function and an empty apex.parallel. cfg.MODEL.BNFUNC is set to
    torch.nn.BatchNorm2d as config.assert_and_infer_cfg does without syncbn.
    resnet_d.resnet18/50/101 default to pretrained=True (a torch.load of
    ./pretrained_models/...): AlignNetResNet gets wrappers passing
    pretrained=False (arguments only). The criterion is a stand-in returning
    the predictions as CriterionSFNet (loss.py) sees them before its loss:
    with fpn_dsn the head logits and each dsn output resized to the labels
    (bilinear, align_corners=True); without, the main output as is.
  * xl-alt/SEKD: train/models/Segformer4EmbeddingKD.py (student) and
    Segformer4EmbeddingKD_teacher.py (teacher; the same code) and
    train/knowledge_distillation.py (FEF/FEA) are loaded straight from their
    files with the SegFormer stubs above for timm.models.layers and
    mmcv.cnn.ConvModule, plus a `thop` stub (profile, imported and unused).
    The models' modules are the top level of the state_dict (no wrapper);
    forward() of this file gives upstream's 1/4 logits resized bilinearly
    (align_corners=False) to the input as the main output, the 1/4 logits as
    the train "head" output, and eval_extras() the KD outputs (features and
    patch embeddings, FEF-fused and projected for the student).
  * caixiongjiang/FastSegFormer: nets/UNet/swinTS_Att_Unet.py imports its
    swin_transformer.py (plain torch) and convnext.py, which needs
    timm.models.layers (trunc_normal_, DropPath) and
    timm.models.registry.register_model: the SegFormer timm stubs above. The
    checkout root goes on sys.path (the file imports `nets.UNet.*`).
  * FastSegFormer: nets/FastSegFormer/{efficientformer_v2,poolformer}.py import
    timm names only: timm.data IMAGENET_DEFAULT_MEAN/STD (ImageNet constants,
    used by the unused _cfg), timm.models.layers DropPath (timm's, as above)
    and trunc_normal_ (nn.init's), timm.models.layers.helpers to_2tuple,
    timm.models.registry register_model (identity). fast_segformer.py also
    imports nets/UNet/swin_transformer.py, which needs nothing extra. With
    fork_feat the forward returns upstream's feature list; the last entry is
    the logits (main), the others the extra outputs ("fork").

Model configs are cudaseg's registry `model` objects: the upstream
constructor arguments, except that the class count is `num_classes`.
"""

import importlib.util
import math
import os
import re
import subprocess
import sys
import types
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

ZH320_CLASSES = {
    "stdc": ("stdc", "STDC"),
    "ppliteseg": ("pp_liteseg", "PPLiteSeg"),
    "bisenetv2": ("bisenetv2", "BiSeNetv2"),
    "fastscnn": ("fastscnn", "FastSCNN"),
    "ddrnet": ("ddrnet", "DDRNet"),
    "enet": ("enet", "ENet"),
    "adscnet": ("adscnet", "ADSCNet"),
    "aglnet": ("aglnet", "AGLNet"),
    "cfpnet": ("cfpnet", "CFPNet"),
    "cgnet": ("cgnet", "CGNet"),
    "dabnet": ("dabnet", "DABNet"),
    "edanet": ("edanet", "EDANet"),
    "erfnet": ("erfnet", "ERFNet"),
    "esnet": ("esnet", "ESNet"),
    "espnet": ("espnet", "ESPNet"),
    "espnetv2": ("espnetv2", "ESPNetv2"),
    "fddwnet": ("fddwnet", "FDDWNet"),
    "fpenet": ("fpenet", "FPENet"),
    "fssnet": ("fssnet", "FSSNet"),
    "lednet": ("lednet", "LEDNet"),
    "mininet": ("mininet", "MiniNet"),
    "mininetv2": ("mininetv2", "MiniNetv2"),
    "linknet": ("linknet", "LinkNet"),
    "swiftnet": ("swiftnet", "SwiftNet"),
    "bisenetv1": ("bisenetv1", "BiSeNetv1"),
    "contextnet": ("contextnet", "ContextNet"),
    "sqnet": ("sqnet", "SQNet"),
    "segnet": ("segnet", "SegNet"),
    "regseg": ("regseg", "RegSeg"),
    "dfanet": ("dfanet", "DFANet"),
    "litehrnet": ("lite_hrnet", "LiteHRNet"),
    "canet": ("canet", "CANet"),
    "fanet": ("fanet", "FANet"),
    "icnet": ("icnet", "ICNet"),
    "farseenet": ("farseenet", "FarSeeNet"),
    "liteseg": ("liteseg", "LiteSeg"),
    "shelfnet": ("shelfnet", "ShelfNet"),
}

# zh320's smp_wrapper.decoder_hub keys (the registry's "decoder" choices).
SMP_DECODERS = ("deeplabv3", "deeplabv3p", "fpn", "linknet", "manet", "pan", "pspnet", "unet", "unetpp")

# The golden sets: file stem -> registry config.
NETS = {
    "stdc1_aux": {"name": "stdc", "encoder_type": "stdc1", "num_classes": 19, "use_aux": True,
                  "use_detail_head": False},
    "stdc2_aux": {"name": "stdc", "encoder_type": "stdc2", "num_classes": 19, "use_aux": True,
                  "use_detail_head": False},
    "stdc1_detail": {"name": "stdc", "encoder_type": "stdc1", "num_classes": 19, "use_aux": False,
                     "use_detail_head": True},
    "stdc2_detail": {"name": "stdc", "encoder_type": "stdc2", "num_classes": 19, "use_aux": False,
                     "use_detail_head": True},
    "ppliteseg_stdc1": {"name": "ppliteseg", "encoder_type": "stdc1", "num_classes": 19},
    "ppliteseg_stdc2": {"name": "ppliteseg", "encoder_type": "stdc2", "num_classes": 19},
    "bisenetv2_aux": {"name": "bisenetv2", "num_classes": 19, "use_aux": True},
    "fastscnn": {"name": "fastscnn", "num_classes": 19},
    "ddrnet23slim_aux": {"name": "ddrnet", "arch_type": "DDRNet-23-slim", "num_classes": 19, "use_aux": True},
    "ddrnet23_aux": {"name": "ddrnet", "arch_type": "DDRNet-23", "num_classes": 19, "use_aux": True},
    "enet": {"name": "enet", "num_classes": 19},
    "segformer_b0": {"name": "segformer", "backbone": "mit_b0", "num_classes": 19},
    "adscnet": {"name": "adscnet", "num_classes": 19},
    "aglnet": {"name": "aglnet", "num_classes": 19},
    "cfpnet": {"name": "cfpnet", "num_classes": 19},
    "cgnet": {"name": "cgnet", "num_classes": 19},
    "dabnet": {"name": "dabnet", "num_classes": 19},
    "edanet": {"name": "edanet", "num_classes": 19},
    "erfnet": {"name": "erfnet", "num_classes": 19},
    "esnet": {"name": "esnet", "num_classes": 19},
    "espnet": {"name": "espnet", "num_classes": 19},
    "espnetv2": {"name": "espnetv2", "num_classes": 19},
    "fddwnet": {"name": "fddwnet", "num_classes": 19},
    "fpenet": {"name": "fpenet", "num_classes": 19},
    "fssnet": {"name": "fssnet", "num_classes": 19},
    "lednet": {"name": "lednet", "num_classes": 19},
    "mininet": {"name": "mininet", "num_classes": 19},
    "mininetv2": {"name": "mininetv2", "num_classes": 19},
    "linknet": {"name": "linknet", "num_classes": 19},
    "linknet_resnet50": {"name": "linknet", "backbone_type": "resnet50", "num_classes": 19},
    "swiftnet": {"name": "swiftnet", "num_classes": 19},
    "swiftnet_mobilenet_v2": {"name": "swiftnet", "backbone_type": "mobilenet_v2", "num_classes": 19},
    "bisenetv1": {"name": "bisenetv1", "num_classes": 19},
    "bisenetv1_resnet50": {"name": "bisenetv1", "backbone_type": "resnet50", "num_classes": 19},
    "contextnet": {"name": "contextnet", "num_classes": 19},
    "sqnet": {"name": "sqnet", "num_classes": 19},
    "segnet": {"name": "segnet", "num_classes": 19},
    "regseg": {"name": "regseg", "num_classes": 19},
    "dfanet": {"name": "dfanet", "num_classes": 19},
    "litehrnet": {"name": "litehrnet", "num_classes": 19},
    "litehrnet30": {"name": "litehrnet", "arch_type": "litehrnet30", "num_classes": 19},
    "canet": {"name": "canet", "num_classes": 19},
    "canet_resnet18": {"name": "canet", "backbone_type": "resnet18", "num_classes": 19},
    "fanet": {"name": "fanet", "num_classes": 19},
    "icnet_aux": {"name": "icnet", "num_classes": 19, "use_aux": True},
    "icnet_resnet50": {"name": "icnet", "backbone_type": "resnet50", "num_classes": 19, "use_aux": False},
    "farseenet": {"name": "farseenet", "num_classes": 19},
    "liteseg": {"name": "liteseg", "num_classes": 19},
    "liteseg_resnet18": {"name": "liteseg", "backbone_type": "resnet18", "num_classes": 19},
    "shelfnet": {"name": "shelfnet", "num_classes": 19},
    "sekd_student_b0": {"name": "sekd_student", "backbone": "mit_b0", "num_classes": 3},
    "sekd_student_b1": {"name": "sekd_student", "backbone": "mit_b1", "num_classes": 3},
    "sekd_teacher_b0": {"name": "sekd_teacher", "backbone": "mit_b0", "num_classes": 3},
    "sekd_teacher_b1": {"name": "sekd_teacher", "backbone": "mit_b1", "num_classes": 3},
    "sekd_teacher_b2": {"name": "sekd_teacher", "backbone": "mit_b2", "num_classes": 3},
    "sekd_teacher_b3": {"name": "sekd_teacher", "backbone": "mit_b3", "num_classes": 3},
    "swin_t_att_unet": {"name": "swin_t_att_unet", "num_classes": 4},
    "fastsegformer_e": {"name": "fastsegformer", "backbone": "efficientformerV2_s0", "Pyramid": "multiscale",
                        "cnn_branch": True, "num_classes": 4},
    "fastsegformer_e_fork": {"name": "fastsegformer", "backbone": "efficientformerV2_s0", "Pyramid": "pooling",
                             "fork_feat": True, "num_classes": 4},
    "fastsegformer_p": {"name": "fastsegformer", "backbone": "poolformer_s12", "Pyramid": "multiscale",
                        "cnn_branch": True, "num_classes": 4},
    "fastsegformer_p_fork": {"name": "fastsegformer", "backbone": "poolformer_s12", "Pyramid": "pooling",
                             "fork_feat": True, "num_classes": 4},
}
NETS["pidnet_s"] = {"name": "pidnet", "arch_type": "pidnet_s", "num_classes": 19}
NETS["pidnet_l"] = {"name": "pidnet", "arch_type": "pidnet_l", "num_classes": 19}
for _decoder in SMP_DECODERS:
    NETS[f"smp_{_decoder}_resnet18"] = {"name": "smp", "decoder": _decoder, "encoder": "resnet18", "num_classes": 19}
NETS["sfnet_r18"] = {"name": "sfnet", "trunk": "resnet-18-deep", "num_classes": 19}
NETS["sfnet_lite_r18"] = {"name": "sfnet", "trunk": "resnet-18-deep", "head_type": "v2", "fpn_dsn": True,
                          "fa_type": "spatial_atten", "num_classes": 19}
NETS["stdcseg_stdc1"] = {"name": "stdcseg", "backbone": "STDCNet813", "use_boundary_8": True, "num_classes": 19}
NETS["stdcseg_stdc2"] = {"name": "stdcseg", "backbone": "STDCNet1446", "use_boundary_2": True, "use_boundary_4": True,
                         "use_boundary_8": True, "num_classes": 19}
NETS["pp_mobileseg_base"] = {"name": "pp_mobileseg", "variant": "base", "num_classes": 150}
NETS["pp_mobileseg_tiny"] = {"name": "pp_mobileseg", "variant": "tiny", "num_classes": 150}
# PaddleSeg's PP-LiteSeg-T and -B, restated in PyTorch (paddle_ppliteseg.py; --upstream is not read)
NETS["ppliteseg_paddle_t"] = {"name": "ppliteseg_paddle", "backbone": "STDC1", "arm_out_chs": [32, 64, 128],
                              "seg_head_inter_chs": [32, 64, 64], "num_classes": 19}
NETS["ppliteseg_paddle_b"] = {"name": "ppliteseg_paddle", "backbone": "STDC2", "num_classes": 19}
NETS["smp_deeplabv3p_resnet50"] = {"name": "smp", "decoder": "deeplabv3p", "encoder": "resnet50", "num_classes": 19}


# net -> modules whose output the forward then modifies in place (docstring)
OUTPUT_CLONES = {
    "adscnet": [r"up2"],
    "fpenet": [r".*\.layers\.\d+", r".*\.conv_last"],
    "mininetv2": [r".*\.dw_conv", r"up1"],
    "regseg": [r"decoder\.conv_d8_stage1"],
    "dfanet": [r"backbone\d\.enc\d\.conv\.\d+\.conv"],
    "fanet": [r"fast_attention\.\d+\.conv_fuse"],
}


def git_commit(path):
    try:
        return subprocess.check_output(["git", "-C", path, "rev-parse", "HEAD"], text=True).strip()
    except Exception:
        return None


def git_remote(path):
    try:
        return subprocess.check_output(["git", "-C", path, "config", "--get", "remote.origin.url"], text=True).strip()
    except Exception:
        return None


def _stub(name, **attrs):
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


def _ensure_torchvision_stub():
    try:
        import torchvision  # noqa: F401
        return False
    except ImportError:
        pass

    class _Missing(nn.Module):
        def __init__(self, *a, **k):
            raise RuntimeError("torchvision stub: not available in this environment")

    _stub("torchvision")
    _stub("torchvision.models", resnet18=_Missing, resnet34=_Missing, resnet50=_Missing, resnet101=_Missing,
          resnet152=_Missing, mobilenet_v2=_Missing)
    _stub("torchvision.models.resnet", BasicBlock=_Missing)
    return True


TORCHVISION_BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2")


def _torchvision_without_download():
    import torchvision.models as tvm
    for name in TORCHVISION_BACKBONES:
        builder = getattr(tvm, name)
        if getattr(builder, "cudaseg_no_download", False):
            continue

        def random_init(*args, _builder=builder, pretrained=False, weights=None, **kwargs):
            return _builder(*args, weights=None, **kwargs)

        random_init.cudaseg_no_download = True
        setattr(tvm, name, random_init)


def build_zh320(upstream, config):
    if not _ensure_torchvision_stub():
        _torchvision_without_download()
    if upstream not in sys.path:
        sys.path.insert(0, upstream)
    import models  # noqa: F401  (zh320's package; registers every model)
    name = config["name"]
    modfile, cls_name = ZH320_CLASSES[name]
    mod = importlib.import_module(f"models.{modfile}")
    cls = getattr(mod, cls_name)
    kwargs = {k: v for k, v in config.items() if k not in ("name", "num_classes")}
    kwargs["num_class"] = config["num_classes"]
    model = cls(**kwargs)
    clone_patterns = [re.compile(p) for p in OUTPUT_CLONES.get(name, [])]
    for module_name, module in model.named_modules():
        if any(p.fullmatch(module_name) for p in clone_patterns):
            module.register_forward_hook(lambda m, inp, out: out.clone())
    info = {"class": f"models.{modfile}.{cls_name}", "ctor_kwargs": kwargs}
    return model, info


# ---------------------------------------------------------------- SegFormer shim
def _drop_path(x, drop_prob=0.0, training=False):
    # timm.models.layers.drop_path
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)
    random_tensor.floor_()
    return x.div(keep_prob) * random_tensor


class DropPath(nn.Module):
    def __init__(self, drop_prob=None):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        return _drop_path(x, self.drop_prob, self.training)


def _to_2tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x, x)


class _Registry:
    def register_module(self, *a, **k):
        return lambda cls: cls


class ConvModule(nn.Module):
    """mmcv.cnn.ConvModule restricted to what SegFormerHead uses (2d conv, BN, ReLU)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias="auto", conv_cfg=None, norm_cfg=None, act_cfg=dict(type="ReLU"), inplace=True,
                 order=("conv", "norm", "act")):
        super().__init__()
        assert conv_cfg is None and tuple(order) == ("conv", "norm", "act")
        with_norm = norm_cfg is not None
        if bias == "auto":
            bias = not with_norm
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=bias)
        self.with_norm = with_norm
        if with_norm:
            assert norm_cfg["type"] in ("BN", "SyncBN"), norm_cfg
            self.bn = nn.BatchNorm2d(out_channels)  # mmcv names BN/SyncBN layers 'bn'; eps 1e-5, momentum 0.1
        self.with_activation = act_cfg is not None
        if self.with_activation:
            assert act_cfg["type"] == "ReLU"
            self.activate = nn.ReLU(inplace=inplace)

    def forward(self, x):
        x = self.conv(x)
        if self.with_norm:
            x = self.bn(x)
        if self.with_activation:
            x = self.activate(x)
        return x


def _resize(input, size=None, scale_factor=None, mode="nearest", align_corners=None, warning=True):
    # mmseg.ops.resize: only warns, then F.interpolate
    if isinstance(size, torch.Size):
        size = tuple(int(x) for x in size)
    return F.interpolate(input, size, scale_factor, mode, align_corners)


class BaseDecodeHead(nn.Module):
    """mmseg BaseDecodeHead: the attributes and input selection SegFormerHead uses."""

    def __init__(self, in_channels, channels, *, num_classes, dropout_ratio=0.1, conv_cfg=None, norm_cfg=None,
                 act_cfg=dict(type="ReLU"), in_index=-1, input_transform=None, loss_decode=None,
                 ignore_index=255, sampler=None, align_corners=False, **kwargs):
        super().__init__()
        assert input_transform == "multiple_select"
        self.in_channels = in_channels
        self.channels = channels
        self.num_classes = num_classes
        self.dropout_ratio = dropout_ratio
        self.norm_cfg = norm_cfg
        self.in_index = in_index
        self.input_transform = input_transform
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        self.conv_seg = nn.Conv2d(channels, num_classes, kernel_size=1)  # built by mmseg, unused by SegFormerHead
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else None

    def _transform_inputs(self, inputs):
        return [inputs[i] for i in self.in_index]


def _load_file(modname, path):
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod


def _install_segformer_stubs():
    _stub("timm")
    _stub("timm.models")
    _stub("timm.models.layers", DropPath=DropPath, to_2tuple=_to_2tuple, trunc_normal_=nn.init.trunc_normal_)
    _stub("timm.models.registry", register_model=lambda f: f)
    _stub("timm.models.vision_transformer", _cfg=lambda **k: k)
    mmseg = _stub("mmseg")
    mmseg.__path__ = []
    _stub("mmseg.models").__path__ = []
    _stub("mmseg.models.builder", BACKBONES=_Registry(), HEADS=_Registry())
    _stub("mmseg.models.backbones").__path__ = []
    _stub("mmseg.models.decode_heads").__path__ = []
    _stub("mmseg.models.decode_heads.decode_head", BaseDecodeHead=BaseDecodeHead)
    _stub("mmseg.models.utils")
    _stub("mmseg.utils", get_root_logger=lambda *a, **k: None)
    _stub("mmseg.ops", resize=_resize)
    _stub("mmcv")
    _stub("mmcv.runner", load_checkpoint=lambda *a, **k: None)
    _stub("mmcv.cnn", ConvModule=ConvModule, DepthwiseSeparableConvModule=None)
    _stub("attr")
    _stub("IPython", embed=lambda *a, **k: None)


class EncoderDecoder(nn.Module):
    """mmseg EncoderDecoder.encode_decode: backbone -> decode head -> resize to the input (ac=False)."""

    def __init__(self, backbone, decode_head):
        super().__init__()
        self.backbone = backbone
        self.decode_head = decode_head

    def forward(self, x, is_training=False):
        feats = self.backbone(x)
        head = self.decode_head(feats)
        out = _resize(head, size=x.shape[2:], mode="bilinear", align_corners=self.decode_head.align_corners)
        if is_training:
            return out, (head,)
        return out


SEGFORMER_HEADS = {  # local_configs/segformer/B0/segformer.b0.512x1024.city.160k.py
    "mit_b0": dict(in_channels=[32, 64, 160, 256], in_index=[0, 1, 2, 3], feature_strides=[4, 8, 16, 32],
                   channels=128, dropout_ratio=0.1, norm_cfg=dict(type="SyncBN", requires_grad=True),
                   align_corners=False, decoder_params=dict(embed_dim=256)),
}


def build_segformer(upstream, config):
    _install_segformer_stubs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mt = _load_file("mmseg.models.backbones.mix_transformer",
                        os.path.join(upstream, "mmseg/models/backbones/mix_transformer.py"))
        sh = _load_file("mmseg.models.decode_heads.segformer_head",
                        os.path.join(upstream, "mmseg/models/decode_heads/segformer_head.py"))
    bb = config.get("backbone", "mit_b0")
    backbone = getattr(mt, bb)()
    head_kwargs = dict(SEGFORMER_HEADS[bb], num_classes=config["num_classes"])
    head = sh.SegFormerHead(**head_kwargs)
    info = {"class": f"mmseg EncoderDecoder(backbone=mix_transformer.{bb}, decode_head=SegFormerHead)",
            "ctor_kwargs": {"backbone": bb, "decode_head": head_kwargs}}
    return EncoderDecoder(backbone, head), info


# ---------------------------------------------------------------- SEKD
def build_sekd(upstream, config):
    """SEKD's mit_bX(num_classes) of Segformer4EmbeddingKD[_teacher].py; the
    student wrapped as train_sekd.py does, FEF(model, embed, in_channels, out_channels).

    Upstream's mit_b1 ignores num_classes (it keeps the class default 3): a
    config asking for another count is refused rather than silently changed.
    """
    _install_segformer_stubs()
    _stub("thop", profile=None)
    student = config["name"] == "sekd_student"
    fname = "Segformer4EmbeddingKD.py" if student else "Segformer4EmbeddingKD_teacher.py"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mod = _load_file("sekd_" + fname[:-3], os.path.join(upstream, "train/models", fname))
    bb = config.get("backbone", "mit_b0")
    model = getattr(mod, bb)(num_classes=config["num_classes"])
    if model.linear_pred.out_channels != config["num_classes"]:
        raise SystemExit(f"SEKD {bb} builds {model.linear_pred.out_channels} classes, not {config['num_classes']}")
    cls = f"train/models/{fname[:-3]}.{bb}"
    kwargs = {"num_classes": config["num_classes"]}
    if student:
        kd = _load_file("sekd_knowledge_distillation", os.path.join(upstream, "train/knowledge_distillation.py"))
        dims = model.linear_c4.proj.in_features, model.linear_c3.proj.in_features, \
            model.linear_c2.proj.in_features, model.linear_c1.proj.in_features
        in_channels = config.get("in_channels") or [dims[3], dims[2], dims[1], dims[0]]
        out_channels = config.get("out_channels", [64, 128, 320, 512])
        embed = config.get("embed", 5)
        model = kd.FEF(model, embed, in_channels=in_channels, out_channels=out_channels)
        cls = f"train/knowledge_distillation.FEF({cls}, embed, in_channels, out_channels)"
        kwargs.update(embed=embed, in_channels=in_channels, out_channels=out_channels)
    return model, {"class": cls, "ctor_kwargs": kwargs}


def sekd_outputs(model, x):
    """(features, logits at 1/4, embeds) of upstream's forward (FEA: fused and projected)."""
    out = model(x)
    return out[0], out[1], (out[2] if len(out) > 2 else [])


def eval_extras(model, config, x):
    """Named eval-mode outputs beyond the logits that a golden records (SEKD's KD outputs,
    the Swin-T-Att-UNet's fork_feat list)."""
    if config["name"] == "swin_t_att_unet":
        fork, model.fork_feat = model.fork_feat, True
        outs = model(x.to(next(model.parameters()).dtype))
        model.fork_feat = fork
        return {f"fork.{i}": t for i, t in enumerate(outs)}
    if not config["name"].startswith("sekd_"):
        return {}
    feats, logits, embeds = sekd_outputs(model, x.to(next(model.parameters()).dtype))
    named = {"kd.logits": logits}
    named.update({f"kd.features.{i}": f for i, f in enumerate(feats)})
    named.update({f"kd.embeds.{i}": e for i, e in enumerate(embeds)})
    return named


# ---------------------------------------------------------------- FastSegFormer's teacher
def build_swin_t_att_unet(upstream, config):
    """swinTS_Att_Unet(num_classes, pretrained, backbone, embed_dim, base, fork_feat) of nets/UNet/swinTS_Att_Unet.py."""
    _install_segformer_stubs()
    if upstream not in sys.path:
        sys.path.insert(0, upstream)
    from nets.UNet.swinTS_Att_Unet import swinTS_Att_Unet  # FastSegFormer's
    kwargs = {"num_classes": config["num_classes"], "pretrained": config.get("pretrained", False),
              "backbone": config.get("backbone", "swin_T_224"), "embed_dim": config.get("embed_dim", 96),
              "base": config.get("base", 64), "fork_feat": config.get("fork_feat", False)}
    return swinTS_Att_Unet(**kwargs), {"class": "nets.UNet.swinTS_Att_Unet.swinTS_Att_Unet", "ctor_kwargs": kwargs}


# ---------------------------------------------------------------- FastSegFormer
FASTSEGFORMER_ARGS = ("backbone", "Pyramid", "fork_feat", "cnn_branch")


def _install_timm_stubs():
    _stub("timm")
    _stub("timm.data", IMAGENET_DEFAULT_MEAN=(0.485, 0.456, 0.406), IMAGENET_DEFAULT_STD=(0.229, 0.224, 0.225))
    _stub("timm.models")
    _stub("timm.models.layers", DropPath=DropPath, to_2tuple=_to_2tuple, trunc_normal_=nn.init.trunc_normal_)
    _stub("timm.models.layers.helpers", to_2tuple=_to_2tuple)
    _stub("timm.models.registry", register_model=lambda f: f)


def build_fastsegformer(upstream, config):
    _install_timm_stubs()
    if upstream not in sys.path:
        sys.path.insert(0, upstream)
    from nets.FastSegFormer.fast_segformer import FastSegFormer  # caixiongjiang's
    kwargs = {k: config[k] for k in FASTSEGFORMER_ARGS if k in config}
    kwargs["num_classes"] = config["num_classes"]
    info = {"class": "nets.FastSegFormer.fast_segformer.FastSegFormer", "ctor_kwargs": kwargs}
    return FastSegFormer(**kwargs), info


def build_zh320_backbone(upstream, backbone_type):
    """zh320's models/backbone.py wrapper: ResNet(backbone_type) or Mobilenetv2(), random init."""
    if not _ensure_torchvision_stub():
        _torchvision_without_download()
    if upstream not in sys.path:
        sys.path.insert(0, upstream)
    from models import backbone  # zh320's
    if backbone_type == "mobilenet_v2":
        return backbone.Mobilenetv2(), "models.backbone.Mobilenetv2"
    return backbone.ResNet(backbone_type), f"models.backbone.ResNet('{backbone_type}')"


def build_smp(upstream, config):
    """zh320's teacher: models/smp_wrapper.get_smp_model(encoder, decoder, None, num_class).

    segmentation-models-pytorch is not in Debian: run the generators with a
    Python that has it (tests/goldens/README.md, "smp"). encoder_weights None
    builds the encoder with torchvision's random init (never a download);
    every other argument is smp's default, as zh320 passes none.
    """
    try:
        import segmentation_models_pytorch as smp
    except ImportError as e:
        raise SystemExit(f"net smp needs segmentation-models-pytorch in this Python ({sys.executable}): {e}")
    if upstream not in sys.path:
        sys.path.insert(0, upstream)
    from models.smp_wrapper import decoder_hub, get_smp_model  # zh320's
    model = get_smp_model(config["encoder"], config["decoder"], None, config["num_classes"])
    kwargs = {"encoder_name": config["encoder"], "encoder_weights": None, "in_channels": 3,
              "classes": config["num_classes"]}
    cls = decoder_hub[config["decoder"]].__name__
    info = {"class": f"segmentation_models_pytorch {smp.__version__} {cls} (models.smp_wrapper.get_smp_model)",
            "ctor_kwargs": kwargs}
    return model, info


# PIDNet's get_pred_model presets: m, n, planes, ppm_planes, head_planes.
PIDNET_PRESETS = {"pidnet_s": (2, 3, 32, 96, 128), "pidnet_m": (2, 3, 64, 96, 128), "pidnet_l": (3, 4, 64, 112, 256)}


def build_pidnet(upstream, config):
    """XuJiacong/PIDNet's models.pidnet.PIDNet, with the preset of arch_type or the given arguments."""
    if upstream not in sys.path:
        sys.path.insert(0, upstream)
    if "yacs" not in sys.modules and importlib.util.find_spec("yacs") is None:
        _stub("configs", config=None)
    mod = importlib.import_module("models.pidnet")
    keys = ("m", "n", "planes", "ppm_planes", "head_planes")
    arch = config.get("arch_type", "")
    kwargs = dict(zip(keys, PIDNET_PRESETS[arch])) if arch else {k: config[k] for k in keys if k in config}
    kwargs["num_classes"] = config["num_classes"]
    kwargs["augment"] = config.get("augment", True)
    return mod.PIDNet(**kwargs), {"class": "models.pidnet.PIDNet", "ctor_kwargs": kwargs}
# The sfnet registry defaults (tests/goldens/README.md; nets/sfnet.cpp): upstream's,
# except trunk, whose upstream default 'resnet-101' AlignNetResNet rejects.
SFNET_DEFAULTS = {"trunk": "resnet-18-deep", "variant": "D", "head_type": "v1", "skip": "m1", "skip_num": 48,
                  "fpn_dsn": False, "fa_type": "spatial", "global_context": "ppm"}


def _sfnet_criterion(preds, gts):
    if isinstance(preds, tuple):
        main, aux = preds
        size = gts.shape[1:]
        up = lambda t: F.interpolate(t, size=size, mode="bilinear", align_corners=True)
        return up(main), [up(a) for a in aux]
    return preds


def build_sfnet(upstream, config):
    """lxtGH/SFSegNets network/sfnet_resnet.py AlignNetResNet (shims in the module docstring)."""
    apex = _stub("apex", amp=types.SimpleNamespace(float_function=lambda f: f))
    apex.parallel = _stub("apex.parallel")
    _stub("apex.amp", float_function=lambda f: f)
    if upstream not in sys.path:
        sys.path.insert(0, upstream)
    from config import cfg  # SFSegNets'
    cfg.MODEL.BNFUNC = torch.nn.BatchNorm2d
    from network import resnet_d, sfnet_resnet
    for n in ("resnet18", "resnet50", "resnet101"):
        original = getattr(resnet_d, "_cudaseg_" + n, None) or getattr(resnet_d, n)
        setattr(resnet_d, "_cudaseg_" + n, original)
        setattr(resnet_d, n, lambda pretrained=True, _f=original, **kw: _f(pretrained=False, **kw))
    kwargs = {k: config.get(k, v) for k, v in SFNET_DEFAULTS.items()}
    model = sfnet_resnet.AlignNetResNet(config["num_classes"], criterion=_sfnet_criterion, **kwargs)
    info = {"class": "network.sfnet_resnet.AlignNetResNet", "ctor_kwargs": dict(kwargs, criterion=None)}
    return model, info


class _InPlaceABNSync(nn.Module):
    """STDC-Seg's modules.bn.InPlaceABNSync (ABN's parameters and buffers: no num_batches_tracked) with
    ABN's pure-PyTorch forward; the CUDA extension computes the same (unbiased running variance)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, activation="leaky_relu", slope=0.01):
        super().__init__()
        if not affine or activation != "none":
            raise NotImplementedError("STDC-Seg builds InPlaceABNSync with affine and activation='none' only")
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                            self.momentum, self.eps)


STDCSEG_ALIASES = ("x2", "x4", "x8", "x16", "x32")


def build_stdcseg(upstream, config):
    """MichaelFan01/STDC-Seg models/model_stages.py BiSeNet. Shims: modules/bn.py builds a CUDA extension at
    import, so a stub modules.bn gives _InPlaceABNSync; torchvision (imported, unused) and cv2 (imported by
    loss/detail_loss.py, unused by the loss) are stubbed when missing. The backbone's x2..x32 are Sequentials
    over slices of `features` (the same modules): their state_dict entries are aliases, listed in
    info["state_dict_aliases"] as [alias prefix, original prefix] and left out of state_dict() by a hook, so
    detparams fills each tensor by its `features` name (cudaseg registers `features` only); set
    model.cudaseg_keep_aliases = True for upstream's full state_dict (what its checkpoints hold)."""
    if upstream not in sys.path:
        sys.path.insert(0, upstream)
    _ensure_torchvision_stub()
    if "cv2" not in sys.modules and importlib.util.find_spec("cv2") is None:
        _stub("cv2")
    _stub("modules", __path__=[])
    _stub("modules.bn", InPlaceABNSync=_InPlaceABNSync)
    mod = importlib.import_module("models.model_stages")
    kwargs = {k: config.get(k, False) for k in ("use_boundary_2", "use_boundary_4", "use_boundary_8",
                                               "use_boundary_16", "use_conv_last")}
    kwargs["backbone"] = config.get("backbone", "STDCNet813")
    model = mod.BiSeNet(n_classes=config["num_classes"], **kwargs)
    backbone = model.cp.backbone
    index = {id(m): i for i, m in enumerate(backbone.features)}
    # a slice of a Sequential keeps its children's keys: x8 = Sequential(features[2:4]) holds x8.0.2, x8.0.3
    aliases = [[f"cp.backbone.{a}.0.{key}.", f"cp.backbone.features.{index[id(m)]}."]
               for a in STDCSEG_ALIASES for key, m in getattr(backbone, a)[0].named_children()]

    def drop_aliases(module, state, prefix, local_metadata):
        if getattr(model, "cudaseg_keep_aliases", False):
            return
        for k in [k for k in state if k[len(prefix):].split(".")[0] in STDCSEG_ALIASES]:
            del state[k]

    backbone._register_state_dict_hook(drop_aliases)
    info = {"class": "models.model_stages.BiSeNet", "ctor_kwargs": kwargs, "state_dict_aliases": aliases}
    return model, info


def stdcseg_detail_terms(detail_logits, labels):
    """loss/detail_loss.py DetailAggregateLoss (upstream's, run on the CPU): (bce, dice) of one detail output.
    It casts through torch.cuda.FloatTensor; that name is pointed at the CPU tensor type of the logits' dtype
    while it is built and run."""
    from loss.detail_loss import DetailAggregateLoss  # STDC-Seg's, on sys.path
    saved = torch.cuda.FloatTensor
    torch.cuda.FloatTensor = torch.DoubleTensor if detail_logits.dtype == torch.float64 else torch.FloatTensor
    try:
        return DetailAggregateLoss()(detail_logits, labels)
    finally:
        torch.cuda.FloatTensor = saved


def build(upstream, config):
    """Returns (model, info) where info holds the class, constructor args and upstream commit."""
    upstream = os.path.abspath(upstream)
    if config["name"] == "segformer":
        model, info = build_segformer(upstream, config)
    elif config["name"] == "smp":
        model, info = build_smp(upstream, config)
    elif config["name"] == "pidnet":
        model, info = build_pidnet(upstream, config)
    elif config["name"] == "sfnet":
        model, info = build_sfnet(upstream, config)
    elif config["name"].startswith("sekd_"):
        model, info = build_sekd(upstream, config)
    elif config["name"] == "swin_t_att_unet":
        model, info = build_swin_t_att_unet(upstream, config)
    elif config["name"] == "fastsegformer":
        model, info = build_fastsegformer(upstream, config)
    elif config["name"] == "stdcseg":
        model, info = build_stdcseg(upstream, config)
    elif config["name"] == "pp_mobileseg":
        import upstream_mmseg  # mmsegmentation's projects/pp_mobileseg files and their mmcv stand-ins
        model, info = upstream_mmseg.build_pp_mobileseg(upstream, config, DropPath)
    elif config["name"] == "ppliteseg_paddle":
        import paddle_ppliteseg  # PaddleSeg's PP-LiteSeg restated in PyTorch (no Paddle here)
        model, info = paddle_ppliteseg.build(config)
    else:
        model, info = build_zh320(upstream, config)
    info["upstream_path_commit"] = git_commit(upstream)
    info["upstream_remote"] = git_remote(upstream)
    return model, info


def forward(model, config, x, training):
    """The upstream forward: (main, [extra outputs]) with the upstream return structure."""
    name = config["name"]
    if name == "pidnet":
        # augment: [P aux, 1/8 logits, D boundary]; the caller resizes the logits (ac=False)
        out = model(x)
        extra = []
        if isinstance(out, list):
            extra = [out[0], out[2]]
            out = out[1]
        out = F.interpolate(out, size=x.shape[2:], mode="bilinear", align_corners=False)
        return out, (extra if training else [])
    if name == "stdcseg":
        # (out, out16, out32[, sp2][, sp4][, sp8]) in every mode
        out = model(x)
        return out[0], (list(out[1:]) if training else [])
    if name == "ppliteseg_paddle":
        # eval [head 0]; training [head 0, 1, 2], all at the input size
        out = model(x)
        return out[0], out[1:]
    if name.startswith("sekd_"):
        _, head, _ = sekd_outputs(model, x)
        main = F.interpolate(head, size=x.shape[2:], mode="bilinear", align_corners=False)
        return main, ([head] if training else [])
    if name in ("stdc", "bisenetv2", "ddrnet", "segformer", "icnet"):
        out = model(x, is_training=training)
    elif name == "sfnet" and training:
        out = model(x, gts=torch.zeros(x.shape[0], x.shape[2], x.shape[3], dtype=torch.long))
    else:
        out = model(x)
    if name == "fastsegformer" and isinstance(out, list):
        return out[-1], out[:-1]
    if isinstance(out, tuple):
        main, extra = out
        extra = list(extra) if isinstance(extra, (tuple, list)) else [extra]
        return main, extra
    return out, []


def extra_kind(config):
    """What the extra outputs of a train forward are: 'aux', 'detail', 'head' or None."""
    if config["name"] == "segformer" or config["name"].startswith("sekd_"):
        return "head"
    if config["name"] == "pidnet":
        return "aux" if config.get("augment", True) else None
    if config["name"] == "sfnet":
        return "aux" if config.get("fpn_dsn") and config.get("head_type", "v1") == "v1" else None
    if config["name"] == "stdcseg":
        return "aux"  # out16, out32, then the detail logits
    if config["name"] == "ppliteseg_paddle":
        return "aux"  # seg heads 1 and 2, at the input size (PaddleSeg's loss coef [1, 1, 1])
    if config["name"] == "fastsegformer" and config.get("fork_feat"):
        return "fork"
    if config.get("use_detail_head"):
        return "detail"
    if config.get("use_aux"):
        return "aux"
    return None


def disable_dropout(model):
    """Train mode with stochastic layers off (p = 0), so a training step is reproducible elsewhere."""
    n = 0
    for m in model.modules():
        if isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)):
            if m.p > 0:
                m.p = 0.0
                n += 1
        if type(m).__name__ == "DropPath" and getattr(m, "drop_prob", 0):
            m.drop_prob = 0.0
            n += 1
    return n


def pidnet_boundary_targets(labels):
    """cudaseg's stand-in for PIDNet's Canny edges (nets/pidnet.h): 1 where the 3x3 Laplacian of the labels is non-zero."""
    k = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]).view(1, 1, 3, 3)
    lap = F.conv2d(labels.unsqueeze(1).float(), k, padding=1)
    return (lap != 0).float()
