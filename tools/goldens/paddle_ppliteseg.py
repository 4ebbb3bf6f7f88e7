"""PaddleSeg's PP-LiteSeg re-stated in PyTorch, for goldens and the .pdparams fixture.

No Paddle framework is installed here, so this module restates the semantics
of PaddleSeg's release code (paddleseg/models/pp_liteseg.py PPLiteSeg,
PPLiteSegHead, PPContextModule, SegHead; layers/tensor_fusion.py
UAFM_SpAtten; layers/tensor_fusion_helper.py avg_max_reduce_channel;
layers/layer_libs.py ConvBNReLU/ConvBN; backbones/stdcnet.py STDCNet,
CatBottleneck, ConvBNRelu) with Paddle's module names, written from reading
that code (nothing imported from it). The Paddle semantics that differ from
PyTorch's defaults, kept here:

  * nn.AvgPool2D excludes the padding from the average (exclusive=True):
    STDC's skip pool is AvgPool2d(3, 2, 1, count_include_pad=False).
  * nn.Conv2D has a bias unless bias_attr=False: the context module's convs
    (ppseg_head.cm.*) have one, every other conv has none.
  * nn.BatchNorm2D keeps weight, bias, _mean, _variance (no batch counter);
    the module here names the statistics running_mean/running_var, as
    rtseg_convert --from paddle maps them, and keeps no num_batches_tracked.
    Training updates the running variance with the unbiased batch variance
    (PyTorch's rule; Paddle's cuDNN path does the same).
  * F.interpolate(mode='bilinear') defaults to align_corners=False,
    align_mode=0: PyTorch's half-pixel bilinear.
  * UAFM_SpAtten's `_scale` is a frozen parameter (stop_gradient): a
    Parameter with requires_grad False here.

Config (cudaseg's registry `model` object for "ppliteseg_paddle"):
  backbone "STDC1" | "STDC2", base (STDCNet's, 64), cm_bin_sizes [1, 2, 4],
  cm_out_ch 128, arm_out_chs [64, 96, 128], seg_head_inter_chs [64, 64, 64].
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULTS = {"backbone": "STDC2", "base": 64, "cm_bin_sizes": [1, 2, 4], "cm_out_ch": 128,
            "arm_out_chs": [64, 96, 128], "seg_head_inter_chs": [64, 64, 64]}
STDC_LAYERS = {"STDC1": [2, 2, 2], "STDC2": [4, 5, 3]}


class BatchNorm2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training, 0.1, 1e-5)


class ConvBNRelu(nn.Module):  # stdcnet.py's
    def __init__(self, cin, cout, k=3, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn = BatchNorm2D(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class CatBottleneck(nn.Module):  # block_num 4
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.conv_list = nn.ModuleList()
        if stride == 2:
            self.avd_layer = nn.Sequential(nn.Conv2d(cout // 2, cout // 2, 3, 2, 1, groups=cout // 2, bias=False),
                                           BatchNorm2D(cout // 2))
            self.skip = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
        self.conv_list.append(ConvBNRelu(cin, cout // 2, 1))
        self.conv_list.append(ConvBNRelu(cout // 2, cout // 4))
        self.conv_list.append(ConvBNRelu(cout // 4, cout // 8))
        self.conv_list.append(ConvBNRelu(cout // 8, cout // 8))

    def forward(self, x):
        out1 = self.conv_list[0](x)
        out = self.conv_list[1](self.avd_layer(out1) if self.stride == 2 else out1)
        outs = [out]
        for conv in self.conv_list[2:]:
            out = conv(out)
            outs.append(out)
        if self.stride == 2:
            out1 = self.skip(out1)
        return torch.cat([out1] + outs, 1)


class STDCNet(nn.Module):
    def __init__(self, base, layers):
        super().__init__()
        self.layers = layers
        self.feat_channels = [base // 2, base, base * 4, base * 8, base * 16]
        feats = [ConvBNRelu(3, base // 2, 3, 2), ConvBNRelu(base // 2, base, 3, 2)]
        for i, n in enumerate(layers):
            for j in range(n):
                cout = base * 2 ** (i + 2)
                cin = (base if i == 0 else base * 2 ** (i + 1)) if j == 0 else cout
                feats.append(CatBottleneck(cin, cout, 2 if j == 0 else 1))
        self.features = nn.Sequential(*feats)

    def forward(self, x):
        outs = []
        x = self.features[1](self.features[0](x))
        outs += [None, x]
        ends = [2 + sum(self.layers[:k + 1]) for k in range(3)]
        begin = 2
        for end in ends:
            for i in range(begin, end):
                x = self.features[i](x)
            outs.append(x)
            begin = end
        return outs


class ConvBNReLU(nn.Module):  # layer_libs.py's: _conv, _batch_norm, relu
    def __init__(self, cin, cout, k, padding, bias, relu=True):
        super().__init__()
        self._conv = nn.Conv2d(cin, cout, k, 1, padding, bias=bias)
        self._batch_norm = BatchNorm2D(cout)
        self.relu = relu

    def forward(self, x):
        x = self._batch_norm(self._conv(x))
        return F.relu(x) if self.relu else x


def bilinear(x, size):
    return F.interpolate(x, size, mode="bilinear", align_corners=False)


class PPContextModule(nn.Module):
    def __init__(self, cin, inter, cout, bins):
        super().__init__()
        self.stages = nn.ModuleList([nn.Sequential(nn.AdaptiveAvgPool2d(b), ConvBNReLU(cin, inter, 1, 0, True))
                                     for b in bins])
        self.conv_out = ConvBNReLU(inter, cout, 3, 1, True)

    def forward(self, x):
        out = None
        for stage in self.stages:
            y = bilinear(stage(x), x.shape[2:])
            out = y if out is None else out + y
        return self.conv_out(out)


class UAFM_SpAtten(nn.Module):
    def __init__(self, x_ch, y_ch, out_ch):
        super().__init__()
        self.conv_x = ConvBNReLU(x_ch, y_ch, 3, 1, False)
        self.conv_out = ConvBNReLU(y_ch, out_ch, 3, 1, False)
        self.conv_xy_atten = nn.Sequential(ConvBNReLU(4, 2, 3, 1, False), ConvBNReLU(2, 1, 3, 1, False, relu=False))
        self._scale = nn.Parameter(torch.ones(1), requires_grad=False)

    def forward(self, x, y):
        x = self.conv_x(x)
        y = bilinear(y, x.shape[2:])
        atten = torch.cat([x.mean(1, keepdim=True), x.max(1, keepdim=True)[0],
                           y.mean(1, keepdim=True), y.max(1, keepdim=True)[0]], 1)
        atten = torch.sigmoid(self.conv_xy_atten(atten))
        return self.conv_out(x * atten + y * (self._scale - atten))


class PPLiteSegHead(nn.Module):
    def __init__(self, backbone_out_chs, arm_out_chs, bins, cm_out_ch):
        super().__init__()
        self.cm = PPContextModule(backbone_out_chs[-1], cm_out_ch, cm_out_ch, bins)
        self.arm_list = nn.ModuleList()
        for i, low in enumerate(backbone_out_chs):
            high = cm_out_ch if i == len(backbone_out_chs) - 1 else arm_out_chs[i + 1]
            self.arm_list.append(UAFM_SpAtten(low, high, arm_out_chs[i]))

    def forward(self, feats):
        high = self.cm(feats[-1])
        outs = []
        for i in reversed(range(len(feats))):
            high = self.arm_list[i](feats[i], high)
            outs.insert(0, high)
        return outs


class SegHead(nn.Module):
    def __init__(self, cin, mid, n):
        super().__init__()
        self.conv = ConvBNReLU(cin, mid, 3, 1, False)
        self.conv_out = nn.Conv2d(mid, n, 1, bias=False)

    def forward(self, x):
        return self.conv_out(self.conv(x))


class PPLiteSeg(nn.Module):
    def __init__(self, num_classes, backbone="STDC2", base=64, cm_bin_sizes=(1, 2, 4), cm_out_ch=128,
                 arm_out_chs=(64, 96, 128), seg_head_inter_chs=(64, 64, 64)):
        super().__init__()
        self.backbone = STDCNet(base, STDC_LAYERS[backbone])
        self.backbone_indices = [2, 3, 4]
        chs = [self.backbone.feat_channels[i] for i in self.backbone_indices]
        self.ppseg_head = PPLiteSegHead(chs, list(arm_out_chs), list(cm_bin_sizes), cm_out_ch)
        self.seg_heads = nn.ModuleList([SegHead(c, m, num_classes) for c, m in zip(arm_out_chs, seg_head_inter_chs)])

    def forward(self, x):
        """The logit list: eval [head 0], training [head 0, 1, 2], all bilinear to the input size."""
        feats = self.backbone(x)
        heads = self.ppseg_head([feats[i] for i in self.backbone_indices])
        n = len(heads) if self.training else 1
        return [bilinear(self.seg_heads[i](heads[i]), x.shape[2:]) for i in range(n)]


def build(config):
    kwargs = {k: config.get(k, v) for k, v in DEFAULTS.items()}
    model = PPLiteSeg(config["num_classes"], **kwargs)
    info = {"class": "paddleseg.models.PPLiteSeg (restated in PyTorch: tools/goldens/paddle_ppliteseg.py)",
            "ctor_kwargs": kwargs}
    return model, info


def paddle_state(model):
    """The model's state as paddle.save writes it: NumPy arrays under Paddle's names."""
    out = {}
    for name, t in model.state_dict().items():
        if name.endswith(".running_mean"):
            name = name[:-len("running_mean")] + "_mean"
        elif name.endswith(".running_var"):
            name = name[:-len("running_var")] + "_variance"
        out[name] = t.detach().cpu().numpy()
    return out
