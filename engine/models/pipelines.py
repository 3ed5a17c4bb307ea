"""The two published inference pipelines on the network side: how stride-8 score maps are brought to pixel size and
how multi-scale (MSC) inputs are made and fused. Each checkpoint runs the way its authors ran it (issue 13):

- ``caffe``: DeepLab's own Caffe test nets (v1 LargeFOV and v2 ResNet-101 test.prototxt). Every resize is Caffe's
  Interp layer (src/caffe/layers/interp_layer.cpp sizes, src/caffe/util/interp.cpp values); the score map is zoomed
  by 8 to ((h-1)*8+1, (w-1)*8+1) and then cropped; MSC inputs are Interp'd by the prototxt's shrink/zoom factors
  (0.5 = shrink 2, 0.75 = shrink 4 then zoom 3), the per-scale scores Interp'd back to the 1x score size, MAX fused.
- ``kazuto``: kazuto1011/deeplab-pytorch (libs/models/msc.py, main.py test): MSC inputs by
  ``F.interpolate(x, scale_factor=s, align_corners=False)``, scores back to the 1x size with align_corners=False,
  max fused; logits to the input size with bilinear, align_corners=False.

Image-side steps (mean subtraction, padding to the crop size, shrinking large images) belong to engine.models.preprocess.
"""
from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn.functional as F

PIPELINES = {
    "caffe": "DeepLab's Caffe test protocol: pad to the crop size with the mean, Caffe Interp zoom x8 then crop",
    "kazuto": "kazuto1011/deeplab-pytorch: the image as it is, bilinear align_corners=False",
}
# Project checkpoints saved before the spec had a pipeline: they were trained and run by this project's PyTorch code
# on unpadded images, which is what the kazuto pipeline does (see docs/models.md).
DEFAULT_PIPELINE = "kazuto"
OUTPUT_STRIDE = 8


def check_pipeline(name: str) -> str:
    """The name itself if known, else ValueError naming the known ones."""
    if name not in PIPELINES:
        raise ValueError(f"unknown inference pipeline {name!r}; known: {sorted(PIPELINES)}")
    return name


# ---- Caffe's Interp layer -------------------------------------------------------------------------------------
def interp_size(n: int, zoom: int = 1, shrink: int = 1) -> int:
    """Output length of Caffe's Interp for one axis (interp_layer.cpp Reshape, no padding): shrink first,
    (n-1)/shrink+1 with C integer division, then zoom, n+(n-1)*(zoom-1)."""
    if n < 1 or zoom < 1 or shrink < 1:
        raise ValueError(f"Interp needs positive sizes and factors, got n={n} zoom={zoom} shrink={shrink}")
    n = (n - 1) // shrink + 1
    return n + (n - 1) * (zoom - 1)


def caffe_interp(x: torch.Tensor, size) -> torch.Tensor:
    """Caffe's caffe_cpu_interp2 from x's size to ``size``: the source row of output row i is i*(h1-1)/(h2-1) in
    float32, truncated, with weights 1-l and l, which is torch's bilinear with align_corners=True (same ratio,
    index and weight arithmetic; equal sizes copy)."""
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def scale_factors(scale: float) -> tuple[int, int]:
    """(zoom, shrink) of the Interp that makes a scale's input: 0.5 -> (1, 2), 0.75 -> (3, 4) as in the DeepLab v2
    test.prototxt (data_res05 shrink 2; data_res075 shrink 4, zoom 3); other scales by their simplest fraction."""
    frac = Fraction(float(scale)).limit_denominator(64)
    if frac <= 0:
        raise ValueError(f"MSC scales must be positive, got {scale}")
    return frac.numerator, frac.denominator


def zoom_then_crop(score: torch.Tensor, size, zoom: int = OUTPUT_STRIDE) -> torch.Tensor:
    """Caffe's fc8_interp / fc1_interp (zoom 8) followed by the crop to the valid size. A ResNet input of a size
    other than 8k+1 (Caffe always feeds 513) zooms one row short; that row repeats the last one."""
    h, w = score.shape[-2:]
    zh, zw = interp_size(h, zoom=zoom), interp_size(w, zoom=zoom)
    out = caffe_interp(score, (zh, zw))
    H, W = int(size[0]), int(size[1])
    if zh < H or zw < W:
        out = F.pad(out, (0, max(0, W - zw), 0, max(0, H - zh)), mode="replicate")
    return out[..., :H, :W]


# ---- per pipeline ---------------------------------------------------------------------------------------------
def upsample_logits(score: torch.Tensor, size, pipeline: str) -> torch.Tensor:
    """Stride-8 logits -> logits at the network input size ``size`` by the pipeline's own upsampling."""
    if pipeline == "caffe":
        return zoom_then_crop(score, size)
    return F.interpolate(score, size=tuple(int(s) for s in size), mode="bilinear", align_corners=False)


def msc_input(x: torch.Tensor, scale: float, pipeline: str) -> torch.Tensor:
    """The network input of one MSC branch."""
    if pipeline == "caffe":
        zoom, shrink = scale_factors(scale)
        h, w = x.shape[-2:]
        return caffe_interp(x, (interp_size(h, zoom, shrink), interp_size(w, zoom, shrink)))
    h, w = x.shape[-2:]
    if int(h * scale) < 1 or int(w * scale) < 1:   # a strip: torch refuses a side of zero pixels, keep one
        return F.interpolate(x, size=(max(1, int(h * scale)), max(1, int(w * scale))), mode="bilinear",
                             align_corners=False)
    return F.interpolate(x, scale_factor=float(scale), mode="bilinear", align_corners=False)


def msc_to_score_size(score: torch.Tensor, size, pipeline: str) -> torch.Tensor:
    """One branch's stride-8 logits at the 1x score size. caffe: one Interp to that size, which is what the
    prototxt's fc1_res05_interp (zoom 2) and fc1_res075_interp (shrink 3, zoom 4) compute for a 513 input (one
    interpolation 33 -> 65 and 49 -> 65); kazuto: bilinear, align_corners=False."""
    if pipeline == "caffe":
        return caffe_interp(score, size)
    return F.interpolate(score, size=tuple(int(s) for s in size), mode="bilinear", align_corners=False)
