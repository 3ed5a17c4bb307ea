"""DeepLab v2 ResNet-101 + ASPP forward pass, in two flavours that share one geometry table.

Geometry sources (both agree, checked layer by layer; see README.md):
- Caffe: talent518/deeplab-public-ver2 ``exper/voc12/config/resnet101/test.prototxt`` (= mitmul's
  ``deeplab/voc12/config/deeplab_ResNet101/test.prototxt``): conv1 64 k7 s2 p3 no bias (l.55-70), bn_conv1 +
  scale_conv1 + ReLU, pool1 MAX k3 s2 p1 (l.119-130); res{2..5}{a,b..}: branch1 (1x1 projection, first block),
  branch2a 1x1 (carries the stride: res3a s2), branch2b 3x3 (res4: pad 2 dilation 2, res5: pad 4 dilation 4, in
  every block incl. the first), branch2c 1x1; each conv -> BatchNorm(use_global_stats) -> Scale(bias); Eltwise
  SUM then ReLU; ASPP fc1_${EXP}_c0..c3 = 3x3 convs with bias, pad = dilation = 6/12/18/24 (l.21474-21548),
  summed by Eltwise SUM (l.21551-21562).
- kazuto1011/deeplab-pytorch ``libs/models/resnet.py`` (_ConvBnReLU l.26-46, _Bottleneck l.49-71: stride on
  ``reduce``, ``h += shortcut(x)`` then ReLU; _ResLayer l.74-98; _Stem l.101-110: MaxPool2d(3, 2, 1,
  ceil_mode=True)), ``libs/models/deeplabv2.py`` (layer2 s1 d1, layer3 s2 d1, layer4 s1 d2, layer5 s1 d4,
  l.47-52; _ASPP l.17-35: ``sum`` of c0..c3).

``resnet_score_map_caffe`` reads Caffe layer blobs (BatchNorm: mean*s, var*s, s; its own eps; Scale: gamma,
beta) and computes like Caffe (caffe_layers.caffe_batch_norm_scale, Caffe pooling). ``resnet_score_map_kazuto``
reads kazuto's state dict and calls exactly the torch functions his modules call (F.conv2d, F.batch_norm with
eps 1e-5, F.max_pool2d ceil_mode), so it is bit-identical to his code (checked; see README.md).
Widths and block counts come from the weights, so narrow variants run through the same geometry.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tests.support.pipeline_reference.caffe_layers import caffe_batch_norm_scale, max_pool

STAGES = (2, 3, 4, 5)
STAGE_STRIDE = {2: 1, 3: 2, 4: 1, 5: 1}  # res3a_branch1/res3a_branch2a stride 2; kazuto layer3 stride 2
STAGE_DILATION = {2: 1, 3: 1, 4: 2, 5: 4}  # every 3x3 of res4 / res5 (kazuto layer4 / layer5)
ASPP_RATES = (6, 12, 18, 24)
BRANCHES = (("branch2a", "reduce"), ("branch2b", "conv3x3"), ("branch2c", "increase"))


def caffe_block_suffixes(stage: int, n_blocks: int) -> list[str]:
    """Block letters as in the ResNet-101 prototxt: res2/res5 use a, b, c; res3/res4 use a, b1, b2, ...
    (kazuto's convert.py translate_layer_name reads both forms: 'a'/'b'/'c' -> 1/2/3, 'b<k>' -> k+1)."""
    if stage in (3, 4):
        return ["a"] + [f"b{k}" for k in range(1, n_blocks)]
    return [chr(ord("a") + k) for k in range(n_blocks)]


@dataclass(frozen=True)
class ConvSpec:
    """One conv (+ BN + Scale) of the ResNet in prototxt order, named in both schemes."""
    caffe_conv: str  # e.g. res3a_branch2a
    caffe_bn: str  # bn3a_branch2a
    caffe_scale: str  # scale3a_branch2a
    kazuto: str  # base.layer3.block1.reduce  (+ .conv / .bn)
    kernel: int
    stride: int
    pad: int
    dilation: int
    relu: bool


def resnet_layout(n_blocks: tuple[int, int, int, int]) -> list[list[ConvSpec]]:
    """Stem + bottleneck blocks as a list of groups: [stem], then per block [branch1?, 2a, 2b, 2c]."""
    groups = [[ConvSpec("conv1", "bn_conv1", "scale_conv1", "base.layer1.conv1", 7, 2, 3, 1, True)]]
    for stage, count in zip(STAGES, n_blocks):
        for i, suffix in enumerate(caffe_block_suffixes(stage, count)):
            stride = STAGE_STRIDE[stage] if i == 0 else 1
            dil = STAGE_DILATION[stage]
            kz = f"base.layer{stage}.block{i + 1}"
            cf = f"{stage}{suffix}"
            group = []
            if i == 0:
                group.append(ConvSpec(f"res{cf}_branch1", f"bn{cf}_branch1", f"scale{cf}_branch1",
                                      f"{kz}.shortcut", 1, stride, 0, 1, False))
            group.append(ConvSpec(f"res{cf}_branch2a", f"bn{cf}_branch2a", f"scale{cf}_branch2a",
                                  f"{kz}.reduce", 1, stride, 0, 1, True))
            group.append(ConvSpec(f"res{cf}_branch2b", f"bn{cf}_branch2b", f"scale{cf}_branch2b",
                                  f"{kz}.conv3x3", 3, 1, dil, dil, True))
            group.append(ConvSpec(f"res{cf}_branch2c", f"bn{cf}_branch2c", f"scale{cf}_branch2c",
                                  f"{kz}.increase", 1, 1, 0, 1, False))
            groups.append(group)
    return groups


def _forward(layout, conv_bn, aspp, stem_pool, x: torch.Tensor) -> torch.Tensor:
    """Stem -> pool1 -> bottlenecks (branch2a/2b/2c + branch1 or identity, Eltwise SUM, ReLU) -> ASPP, the order of
    the prototxt's resolution-1 branch and of kazuto's nn.Sequential."""
    stem, blocks = layout[0][0], layout[1:]
    h = stem_pool(conv_bn(stem, x))
    for group in blocks:
        if group[0].caffe_conv.endswith("branch1"):
            shortcut, main = conv_bn(group[0], h), group[1:]
        else:
            shortcut, main = h, group
        y = h
        for spec in main:
            y = conv_bn(spec, y)
        h = F.relu(y + shortcut)  # Eltwise SUM + ReLU (kazuto: h += shortcut(x); F.relu(h))
    return aspp(h)


@dataclass(frozen=True)
class CaffeBN:
    """A BatchNorm layer as stored in a caffemodel (blobs) plus its batch_norm_param.eps."""
    mean_s: np.ndarray
    var_s: np.ndarray
    s: float
    eps: float


def resnet_score_map_caffe(convs: dict[str, np.ndarray], bns: dict[str, CaffeBN],
                           scales: dict[str, tuple[np.ndarray, np.ndarray]],
                           aspp: list[tuple[np.ndarray, np.ndarray]], n_blocks, x: torch.Tensor) -> torch.Tensor:
    """Score map (stride 8) of the resolution-1 branch of the v2 test.prototxt, from Caffe blobs."""

    def conv_bn(spec: ConvSpec, h):
        w = torch.from_numpy(np.ascontiguousarray(convs[spec.caffe_conv], dtype=np.float32))
        h = F.conv2d(h, w, None, spec.stride, spec.pad, spec.dilation)  # bias_term: false
        bn = bns[spec.caffe_bn]
        gamma, beta = scales[spec.caffe_scale]
        h = caffe_batch_norm_scale(h, bn.mean_s, bn.var_s, bn.s, bn.eps, gamma, beta)
        return F.relu(h) if spec.relu else h

    def head(h):
        out = None
        for (w, b), rate in zip(aspp, ASPP_RATES):  # Eltwise SUM, bottoms c0, c1, c2, c3 in order
            y = F.conv2d(h, torch.from_numpy(np.ascontiguousarray(w, np.float32)),
                         torch.from_numpy(np.asarray(b, np.float32).reshape(-1)), 1, rate, rate)
            out = y if out is None else out + y
        return out

    return _forward(resnet_layout(tuple(n_blocks)), conv_bn, head, lambda h: max_pool(h, 3, 2, 1), x)


def kazuto_n_blocks(state_dict: dict[str, torch.Tensor]) -> tuple[int, int, int, int]:
    """Block counts from kazuto keys ``base.layer{S}.block{i}.*``."""
    counts = []
    for stage in STAGES:
        prefix = f"base.layer{stage}.block"
        counts.append(len({k[len(prefix):].split(".")[0] for k in state_dict if k.startswith(prefix)}))
    return tuple(counts)


def resnet_score_map_kazuto(state_dict: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """kazuto's ``DeepLabV2.forward`` (nn.Sequential of layer1..layer5, aspp) with the same torch calls."""
    sd = state_dict

    def conv_bn(spec: ConvSpec, h):
        h = F.conv2d(h, sd[f"{spec.kazuto}.conv.weight"], None, spec.stride, spec.pad, spec.dilation, 1)
        p = f"{spec.kazuto}.bn"
        # nn.BatchNorm2d(eps=1e-5, momentum=1-0.999).eval() -> F.batch_norm(training=False)
        h = F.batch_norm(h, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"],
                         sd[f"{p}.bias"], False, 1 - 0.999, 1e-5)
        return F.relu(h) if spec.relu else h

    def head(h):
        outs = [F.conv2d(h, sd[f"base.aspp.c{i}.weight"], sd[f"base.aspp.c{i}.bias"], 1, r, r, 1)
                for i, r in enumerate(ASPP_RATES)]
        return sum(outs)  # _ASPP.forward: sum([stage(x) for stage in self.children()])

    return _forward(resnet_layout(kazuto_n_blocks(sd)), conv_bn, head,
                    lambda h: F.max_pool2d(h, 3, 2, 1, ceil_mode=True), x)
