"""Deterministic random weights and test images for the pipeline comparisons (no published code here).

Weight scales are chosen so that a random net gives O(1..10) logits with spatial structure (so labels change
across the image and boundary placement shows any geometric error) and so that the BatchNorm eps matters:
running variances span 1e-3..2 and gamma is scaled by sqrt(var) to keep activations bounded.
"""
from __future__ import annotations

import numpy as np
import torch

from tests.support.pipeline_reference.pipelines import CaffeResNet
from tests.support.pipeline_reference.resnet_aspp import CaffeBN, resnet_layout
from tests.support.pipeline_reference.vgg_largefov import LAYERS as VGG_LAYERS

VGG_WIDTHS = {"conv1": 64, "conv2": 128, "conv3": 256, "conv4": 512, "conv5": 512, "fc6": 1024, "fc7": 1024}


def _he(rng: np.random.Generator, out_c: int, in_c: int, k: int, gain: float = 1.0) -> np.ndarray:
    std = gain * np.sqrt(2.0 / (in_c * k * k))
    return (rng.standard_normal((out_c, in_c, k, k)) * std).astype(np.float32)


def random_vgg_largefov(seed: int, *, width_div: int = 1, n_classes: int = 21) -> dict[str, tuple]:
    """Blobs {name: (weight, bias)} for every conv of LargeFOV; widths divided by ``width_div``."""
    rng = np.random.default_rng(seed)
    weights = {}
    in_c = 3
    for name, kind, k, *_ in VGG_LAYERS:
        if kind != "conv":
            continue
        out_c = n_classes if name == "fc8" else VGG_WIDTHS[name.split("_")[0]] // width_div
        gain = 1.0 / 40.0 if name == "conv1_1" else (4.0 if name == "fc8" else 1.0)  # input pixels are ~+-100
        w = _he(rng, out_c, in_c, k, gain)
        b = (rng.standard_normal(out_c) * (0.1 if name == "fc8" else 0.05)).astype(np.float32)
        weights[name] = (w, b)
        in_c = out_c
    return weights


def random_caffe_resnet(seed: int, *, base: int = 64, n_blocks=(3, 4, 23, 3), n_classes: int = 21,
                        eps=1e-5, bn_scale_s: float | None = None) -> CaffeResNet:
    """Blobs of a DeepLab v2 ResNet (widths base*{1,4} .. base*{8,32}) with random frozen-BN statistics.

    ``eps`` is one float for every BN layer, or a callable ``(layer_index) -> float`` for per-layer values.
    ``bn_scale_s``: the BatchNorm moving-average scale blob (blobs[2]); random in [1, 1000) by default.
    """
    rng = np.random.default_rng(seed)
    convs, bns, scales = {}, {}, {}
    widths = {2: (base, 4 * base), 3: (2 * base, 8 * base), 4: (4 * base, 16 * base), 5: (8 * base, 32 * base)}
    layer_index = 0
    for group in resnet_layout(tuple(n_blocks)):
        for spec in group:
            if spec.caffe_conv == "conv1":
                in_c, out_c = 3, base
            else:
                stage = int(spec.caffe_conv[3])
                mid, out = widths[stage]
                prev_out = base if stage == 2 else widths[stage - 1][1]
                first = spec.caffe_conv.split("_")[0].endswith("a")
                block_in = prev_out if first else out
                in_c, out_c = {"branch1": (block_in, out), "branch2a": (block_in, mid), "branch2b": (mid, mid),
                               "branch2c": (mid, out)}[spec.caffe_conv.split("_")[1]]
            gain = 1.0 / 40.0 if spec.caffe_conv == "conv1" else 1.0
            convs[spec.caffe_conv] = _he(rng, out_c, in_c, spec.kernel, gain)
            var = np.exp(rng.uniform(np.log(1e-3), np.log(2.0), out_c)).astype(np.float32)
            mean = (rng.standard_normal(out_c) * 0.1).astype(np.float32)
            s = np.float32(bn_scale_s if bn_scale_s is not None else rng.uniform(1.0, 1000.0))
            layer_eps = float(eps(layer_index) if callable(eps) else eps)
            bns[spec.caffe_bn] = CaffeBN((mean * s).astype(np.float32), (var * s).astype(np.float32), float(s),
                                         layer_eps)
            g_scale = 0.35 if spec.caffe_conv.endswith("branch2c") else 1.0
            gamma = (np.sqrt(var) * rng.uniform(0.8, 1.2, out_c) * g_scale).astype(np.float32)
            beta = (rng.standard_normal(out_c) * 0.1).astype(np.float32)
            scales[spec.caffe_scale] = (gamma, beta)
            layer_index += 1
    aspp = []
    for _ in range(4):
        w = (rng.standard_normal((n_classes, 32 * base, 3, 3)) * (0.6 / np.sqrt(32 * base * 9))).astype(np.float32)
        b = (rng.standard_normal(n_classes) * 0.1).astype(np.float32)
        aspp.append((w, b))
    return CaffeResNet(convs, bns, scales, aspp, tuple(n_blocks))


def kazuto_state_dict(net: CaffeResNet) -> dict[str, torch.Tensor]:
    """kazuto's MSC state dict (keys ``base.*``, with num_batches_tracked) for the same random weights:
    running_mean/var = blob / s as his convert.py does (``np.array(blobs[0].data) / blobs[2].data[0]``)."""
    sd = {}
    for group in resnet_layout(net.n_blocks):
        for spec in group:
            sd[f"{spec.kazuto}.conv.weight"] = torch.from_numpy(net.convs[spec.caffe_conv].copy())
            bn = net.bns[spec.caffe_bn]
            gamma, beta = net.scales[spec.caffe_scale]
            p = f"{spec.kazuto}.bn"
            sd[f"{p}.weight"] = torch.from_numpy(gamma.copy())
            sd[f"{p}.bias"] = torch.from_numpy(beta.copy())
            sd[f"{p}.running_mean"] = torch.tensor(np.asarray(bn.mean_s, np.float64) / bn.s, dtype=torch.float32)
            sd[f"{p}.running_var"] = torch.tensor(np.asarray(bn.var_s, np.float64) / bn.s, dtype=torch.float32)
            sd[f"{p}.num_batches_tracked"] = torch.tensor(0)
    for i, (w, b) in enumerate(net.aspp):
        sd[f"base.aspp.c{i}.weight"] = torch.from_numpy(w.copy())
        sd[f"base.aspp.c{i}.bias"] = torch.from_numpy(b.copy())
    return sd


def v1_state_dict(weights: dict[str, tuple], fc8_key: str = "fc8_voc12") -> dict[str, torch.Tensor]:
    """A v1 state dict with Caffe layer names (``conv1_1.weight`` ... ``fc8_voc12.weight``)."""
    sd = {}
    for name, (w, b) in weights.items():
        key = fc8_key if name == "fc8" else name
        sd[f"{key}.weight"] = torch.from_numpy(w.copy())
        sd[f"{key}.bias"] = torch.from_numpy(b.copy())
    return sd


def make_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """An RGB uint8 image with smooth colour fields, a few hard-edged shapes and mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        fy, fx, ph = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 6.3)
        img[..., c] = 128 + 80 * np.sin(2 * np.pi * (fy * yy / h + fx * xx / w) + ph)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.05, 0.25) * min(h, w)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[mask] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def center_v1_classes(weights: dict[str, tuple], size: int = 161) -> dict[str, tuple]:
    """Remove the image-independent per-class offset of a random VGG (fc8 bias -= mean score over a test image),
    so that random logits vary across the image instead of one class winning everywhere."""
    from tests.support.pipeline_reference.pipelines import caffe_net_input, caffe_v1_score_map

    x = torch.from_numpy(caffe_net_input(make_image(size, size, seed=99)))[:, :, :size, :size].contiguous()
    mean = caffe_v1_score_map(weights, x)[0].mean(axis=(1, 2))
    w, b = weights["fc8"]
    return {**weights, "fc8": (w, (b - mean).astype(np.float32))}


def center_resnet_classes(net: CaffeResNet, size: int = 161) -> CaffeResNet:
    """The same for a random ResNet: ASPP c0 bias -= the mean single-scale score over a test image."""
    from tests.support.pipeline_reference.pipelines import caffe_net_input
    from tests.support.pipeline_reference.resnet_aspp import resnet_score_map_caffe

    x = torch.from_numpy(caffe_net_input(make_image(size, size, seed=99)))[:, :, :size, :size].contiguous()
    with torch.no_grad():
        score = resnet_score_map_caffe(net.convs, net.bns, net.scales, net.aspp, net.n_blocks, x).numpy()
    mean = score[0].mean(axis=(1, 2))
    aspp = list(net.aspp)
    aspp[0] = (aspp[0][0], (aspp[0][1] - mean).astype(np.float32))
    return CaffeResNet(net.convs, net.bns, net.scales, aspp, net.n_blocks)


__all__ = ["random_vgg_largefov", "random_caffe_resnet", "kazuto_state_dict", "v1_state_dict", "make_image",
           "center_v1_classes", "center_resnet_classes"]
