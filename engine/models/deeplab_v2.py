"""DeepLab v2 ResNet-101 + ASPP + multi-scale (MSC), in kazuto1011/deeplab-pytorch's module tree.

The tree (MSC.base = DeepLabV2: layer1 stem .. layer5, aspp.c0..c3) makes kazuto's released
.pth files load without renaming (keys like base.layer2.block1.reduce.conv.weight) and gives
Caffe names a one-rule mapping. Faithful to the Caffe prototxt (reference §2/§3): stride on the
first 1x1 of a block, every layer4 3x3 dilated 2 and every layer5 3x3 dilated 4, frozen BN
(eval mode, no grad) unless freeze_bn=False (narrow demo models trained from scratch). BN eps is 1e-5 (Caffe's
and kazuto's default) unless the checkpoint says otherwise (bn_eps: one value, or one per BN layer in module order,
as read from a .caffemodel's batch_norm_param). MSC fuses the 1x, 0.75x and 0.5x stride-8 score maps by element-wise
max; how the scaled inputs are made and the scores brought back is the checkpoint's pipeline (engine.models.pipelines).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models import folder_head, pipelines

RESNET101_BLOCKS = (3, 4, 23, 3)
ASPP_RATES = (6, 12, 18, 24)


class _ConvBnReLU(nn.Sequential):
    """conv (no bias) -> BatchNorm (eps 1e-5, Caffe momentum .999) -> optional ReLU."""

    def __init__(self, in_ch, out_ch, kernel, stride, padding, dilation, relu=True):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_ch, out_ch, kernel, stride, padding, dilation,
                                          bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_ch, eps=1e-5, momentum=1 - 0.999))
        if relu:
            self.add_module("relu", nn.ReLU())


class _Bottleneck(nn.Module):
    """Caffe ResNet bottleneck: the stride sits on the first 1x1 ('reduce')."""

    def __init__(self, in_ch, out_ch, stride, dilation, downsample):
        super().__init__()
        mid = out_ch // 4
        self.reduce = _ConvBnReLU(in_ch, mid, 1, stride, 0, 1)
        self.conv3x3 = _ConvBnReLU(mid, mid, 3, 1, dilation, dilation)
        self.increase = _ConvBnReLU(mid, out_ch, 1, 1, 0, 1, relu=False)
        self.shortcut = (_ConvBnReLU(in_ch, out_ch, 1, stride, 0, 1, relu=False)
                         if downsample else nn.Identity())

    def forward(self, x):
        return F.relu(self.increase(self.conv3x3(self.reduce(x))) + self.shortcut(x))


class _ResLayer(nn.Sequential):
    """n_blocks bottlenecks named block1..blockN; every block gets the stage's dilation."""

    def __init__(self, n_blocks, in_ch, out_ch, stride, dilation):
        super().__init__()
        for i in range(n_blocks):
            self.add_module(f"block{i + 1}", _Bottleneck(
                in_ch if i == 0 else out_ch, out_ch,
                stride if i == 0 else 1, dilation, downsample=(i == 0)))


class _Stem(nn.Sequential):
    """conv1 7x7/2 + BN + ReLU, then ceil-mode 3x3/2 max pool (Caffe rounding)."""

    def __init__(self, out_ch):
        super().__init__()
        self.add_module("conv1", _ConvBnReLU(3, out_ch, 7, 2, 3, 1))
        self.add_module("pool", nn.MaxPool2d(3, 2, 1, ceil_mode=True))


class _ASPP(nn.Module):
    """Four parallel dilated 3x3 convolutions with bias, summed (Caffe Eltwise SUM)."""

    def __init__(self, in_ch, out_ch, rates):
        super().__init__()
        for i, rate in enumerate(rates):
            self.add_module(f"c{i}", nn.Conv2d(in_ch, out_ch, 3, 1, padding=rate,
                                               dilation=rate, bias=True))

    def forward(self, x):
        return sum(stage(x) for stage in self.children())


class DeepLabV2(nn.Sequential):
    """ResNet backbone + head; returns stride-8 logits. head='fc' is the COCO-init 1x1 layout."""

    def __init__(self, n_classes, blocks=RESNET101_BLOCKS, base_channels=64, rates=ASPP_RATES,
                 head="aspp", bn_eps=1e-5):
        super().__init__()
        b = int(base_channels)
        blocks = tuple(int(n) for n in blocks)
        if len(blocks) != 4:
            raise ValueError(f"blocks must have 4 entries (res2..res5), got {blocks}")
        self.add_module("layer1", _Stem(b))
        self.add_module("layer2", _ResLayer(blocks[0], b, 4 * b, 1, 1))
        self.add_module("layer3", _ResLayer(blocks[1], 4 * b, 8 * b, 2, 1))
        self.add_module("layer4", _ResLayer(blocks[2], 8 * b, 16 * b, 1, 2))
        self.add_module("layer5", _ResLayer(blocks[3], 16 * b, 32 * b, 1, 4))
        if head == "aspp":
            self.add_module("aspp", _ASPP(32 * b, n_classes, tuple(rates)))
        elif head == "fc":
            self.add_module("fc", nn.Conv2d(32 * b, n_classes, 1))
        else:
            raise ValueError(f"head must be 'aspp' or 'fc', got {head!r}")
        _set_bn_eps(self, bn_eps)

    @property
    def classifier(self) -> nn.Module:
        """The head (ASPP, or the 1x1 'fc' of the COCO-init layout): res5 features -> stride-8 logits."""
        return self.aspp if hasattr(self, "aspp") else self.fc

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """res5 activations (N,32*base,h,w) at stride 8: the classifier's input."""
        for name in ("layer1", "layer2", "layer3", "layer4", "layer5"):
            x = getattr(self, name)(x)
        return x


def _set_bn_eps(net: nn.Module, bn_eps) -> None:
    """One eps for every BatchNorm, or one per BatchNorm in module order (a .caffemodel stores it per layer)."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    values = list(bn_eps) if isinstance(bn_eps, (tuple, list)) else [bn_eps] * len(bns)
    if len(values) != len(bns):
        raise ValueError(f"bn_eps has {len(values)} values but the network has {len(bns)} BatchNorm layers")
    for m, eps in zip(bns, values):
        if not float(eps) > 0:
            raise ValueError(f"BatchNorm eps must be positive, got {eps}")
        m.eps = float(eps)


class MSC(nn.Module):
    """Multi-scale wrapper: runs `base` at 1x and each scale, max-fuses at the 1x score size."""

    def __init__(self, base: nn.Module, scales=(), freeze_bn: bool = True,
                 pipeline: str = pipelines.DEFAULT_PIPELINE):
        super().__init__()
        self.base = base
        self.scales = tuple(float(s) for s in scales)
        self.pipeline = pipelines.check_pipeline(pipeline)
        self.freeze_bn = bool(freeze_bn)
        if self.freeze_bn:
            for m in self._batch_norms():
                for p in m.parameters():
                    p.requires_grad_(False)
            self.train(self.training)

    def _batch_norms(self):
        return [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def train(self, mode: bool = True):
        """Like nn.Module.train, but frozen BN stays in eval mode (Caffe use_global_stats)."""
        super().train(mode)
        if self.freeze_bn:
            for m in self._batch_norms():
                m.eval()
        return self

    # ---- the classifier seam (engine.learn adapts the head on cached classifier inputs) ----
    @property
    def classifier(self) -> nn.Module:
        """The head shared by every scale: res5 features -> stride-8 logits; an exported adapted model's folder
        head (engine.models.folder_head) when one is attached."""
        head = self._modules.get("folder_head")
        return self.base.classifier if head is None else head

    def _head_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """What the classifier reads: its inputs, with the cell colour when a folder head is attached."""
        maps = self.classifier_inputs(x)
        return maps if self._modules.get("folder_head") is None else folder_head.with_colour(maps, x)

    def classifier_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """res5 features of the 1x input, then of each scaled input (made by the pipeline's MSC resize)."""
        feats = [self.base.features(x)]
        for s in self.scales:
            feats.append(self.base.features(pipelines.msc_input(x, s, self.pipeline)))
        return feats

    def fuse(self, logits: list[torch.Tensor]) -> torch.Tensor:
        """Per-scale stride-8 logits -> max over scales at the 1x score size."""
        return self.fuse_pyramid(logits)[-1]

    def fuse_pyramid(self, logits: list[torch.Tensor]) -> list[torch.Tensor]:
        """[1x, each scale at the 1x size..., max-fused] from per-scale logits (for MSC losses)."""
        if len(logits) == 1:
            return [logits[0]]
        size = logits[0].shape[-2:]
        maps = [logits[0]] + [pipelines.msc_to_score_size(m, size, self.pipeline) for m in logits[1:]]
        maps.append(torch.stack(maps).amax(dim=0))
        return maps

    def score_pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[1x, each scale..., max-fused] stride-8 logits, all at the 1x score size (for MSC losses)."""
        return self.fuse_pyramid([self.classifier(f) for f in self._head_inputs(x)])

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """Stride-8 fused logits (N,C,h,w)."""
        return self.fuse([self.classifier(f) for f in self._head_inputs(x)])

    def upsample_logits(self, score: torch.Tensor, size) -> torch.Tensor:
        """Stride-8 logits -> logits at the network input size, by the pipeline (caffe: Interp zoom 8, crop)."""
        return pipelines.upsample_logits(score, size, self.pipeline)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N,C,H,W) at the input size (see upsample_logits)."""
        return self.upsample_logits(self.score_map(x), x.shape[-2:])


def build_deeplab_v2(n_classes: int, msc_scales=(), freeze_bn: bool = True,
                     pipeline: str = pipelines.DEFAULT_PIPELINE, **arch_kwargs) -> MSC:
    """Registry builder: MSC(DeepLabV2(...)), so state-dict keys are kazuto's base.*."""
    return MSC(DeepLabV2(n_classes, **arch_kwargs), scales=msc_scales, freeze_bn=freeze_bn, pipeline=pipeline)
