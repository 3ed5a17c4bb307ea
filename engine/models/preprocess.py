"""The image side of the published pipelines: what the network is fed, and where its logits land on the image.

- Images larger than ``max_side`` (the checkpoint's input_size, 513 for DeepLab) are shrunk as kazuto's demo.py
  does, for both pipelines: ``cv2.resize(image, None, fx=s, fy=s)`` (INTER_LINEAR) with s = max_side / long side.
  Not a narrow one (input_scale): a 12000x1000 panorama would be seen at 513x43, about five stride-8 cells across,
  so it keeps NARROW_INPUT px across instead, within LONG_MAX max_sides along (the same resize, another factor).
- ``caffe`` (data_transformer.cpp, TEST phase): BGR float minus the mean in float32, padded at the bottom/right to
  max_side x max_side with the mean (exactly 0 after the subtraction). Logits are cropped back to the image.
- ``kazuto`` (libs/datasets/base.py): BGR float32 ``-=`` the float64 mean; no padding.
- Logits at the network-input size are resized to the image size, when it was shrunk, with bilinear,
  align_corners=False, before the softmax.
- Training batches (the demo recipe and train-on-saved-labels) go through ``to_input``: BGR float32 minus the mean,
  the caffe arithmetic, no resizing or padding (the crops are already the network's input).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.models.pipelines import OUTPUT_STRIDE

INPUT_STD = 60.0  # rough spread of mean-subtracted 0-255 pixels: scales the first layer's init and learning rate


@dataclass(frozen=True)
class Geometry:
    """image_hw: the image (H, W); input_hw: the image as the network sees it (shrunk when larger than max_side),
    net_hw: the network input including the caffe pipeline's padding (= input_hw for kazuto)."""
    pipeline: str
    image_hw: tuple[int, int]
    input_hw: tuple[int, int]
    net_hw: tuple[int, int]

    @property
    def resized(self) -> bool:
        return self.input_hw != self.image_hw


NARROW = 3 / 16      # of max_side: px across the long-side-shrunk input below which an image is narrow (96 at 513:
#                      12 stride-8 cells)
NARROW_INPUT = 1 / 2  # of max_side: px across a narrow image's input instead (256 at 513; never enlarged)
LONG_MAX = 8          # max_sides along a narrow image's input at most (its features stay bounded: 4104x256 at 513)


def narrow_side(max_side: int) -> float:
    """px across the network input below which an image counts as narrow."""
    return max_side * NARROW


def input_scale(height: int, width: int, max_side: int) -> float:
    """The factor the network input is resized by (1: the image as it is): max_side / long side for an image
    larger than max_side, as kazuto's demo.py; for a narrow one (that factor leaves under narrow_side px across),
    the factor that keeps max_side * NARROW_INPUT px across (or the whole short side), at most LONG_MAX * max_side
    along."""
    long, short = max(height, width), min(height, width)
    if long <= max_side:
        return 1.0
    scale = max_side / long
    if short * scale >= narrow_side(max_side):
        return scale
    return max(scale, min(1.0, int(max_side * NARROW_INPUT) / short, LONG_MAX * max_side / long))


def shrink_to(image_rgb: np.ndarray, max_side: int) -> np.ndarray:
    """(H,W,3) uint8 with its long side shrunk to max_side by cv2.resize(fx=fy=max_side/long side, INTER_LINEAR),
    kazuto's demo.py preprocessing."""
    h, w = image_rgb.shape[:2]
    return resize_by(image_rgb, max_side / max(h, w))


def resize_by(image_rgb: np.ndarray, scale: float) -> np.ndarray:
    """(H,W,3) uint8 resized by cv2.resize(fx=fy=scale, INTER_LINEAR) (OpenCV maps pixels by that factor, not by
    the rounded output size). A side that factor would take to zero pixels (a 65535x1 strip) is kept at one:
    OpenCV refuses an empty size."""
    h, w = image_rgb.shape[:2]
    image = np.ascontiguousarray(image_rgb)
    if round(h * scale) < 1 or round(w * scale) < 1:   # OpenCV rounds fx * width half to even, as round() does
        dsize = (max(1, round(w * scale)), max(1, round(h * scale)))
        return cv2.resize(image, dsize, interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, dsize=None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)


def subtract_mean(image_rgb: np.ndarray, mean_bgr, pipeline: str) -> np.ndarray:
    """(H,W,3) uint8 RGB -> (H,W,3) float32 BGR minus the mean, with each source's arithmetic: Caffe subtracts its
    float mean_value in float32; kazuto's numpy ``float32 -= float64 mean`` rounds the float64 difference."""
    bgr = image_rgb[..., ::-1]
    if pipeline == "caffe":
        return bgr.astype(np.float32) - np.asarray(mean_bgr, dtype=np.float32)
    return (bgr.astype(np.float64) - np.asarray(mean_bgr, dtype=np.float64)).astype(np.float32)


def to_input(images_rgb: np.ndarray, mean_bgr) -> torch.Tensor:
    """(N,H,W,3) uint8 RGB -> (N,3,H,W) float32 BGR minus mean, 0-255 scale: what the models (and Predictor) use."""
    bgr = images_rgb[..., ::-1].astype(np.float32) - np.asarray(mean_bgr, np.float32)
    return torch.from_numpy(np.ascontiguousarray(bgr.transpose(0, 3, 1, 2)))


def network_input(image_rgb: np.ndarray, mean_bgr, pipeline: str, max_side: int, device="cpu"):
    """(H,W,3) uint8 RGB -> ((1,3,h,w) float32 tensor on device, Geometry) as the pipeline feeds its network."""
    H, W = image_rgb.shape[:2]
    scale = input_scale(H, W, max_side)
    small = image_rgb if scale == 1.0 else resize_by(image_rgb, scale)
    h, w = small.shape[:2]
    x = subtract_mean(small, mean_bgr, pipeline)
    net_hw = (h, w)
    if pipeline == "caffe":
        net_hw = (max(h, max_side), max(w, max_side))
        x = np.pad(x, ((0, net_hw[0] - h), (0, net_hw[1] - w), (0, 0)))  # the mean pixel, 0 after subtraction
    tensor = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(device)
    return tensor, Geometry(pipeline, (H, W), (h, w), net_hw)


def crop_logits(logits_net: torch.Tensor, geometry: Geometry) -> torch.Tensor:
    """Logits at the network-input size (model(x)) -> at the size the network saw the image (the padding cropped)."""
    h, w = geometry.input_hw
    return logits_net[..., :h, :w]


def image_logits(logits_net: torch.Tensor, geometry: Geometry) -> torch.Tensor:
    """Logits at the network-input size (model(x)) -> logits at the image size: crop the padding, then (when the
    image was shrunk) bilinear with align_corners=False."""
    logits = crop_logits(logits_net, geometry)
    if geometry.resized:
        logits = F.interpolate(logits, size=geometry.image_hw, mode="bilinear", align_corners=False)
    return logits


def _cell_positions(n_cells: int, n_net: int, pipeline: str) -> np.ndarray:
    """Network-input pixel (float) where each stride-8 cell's logit shows after the pipeline's upsampling."""
    i = np.arange(n_cells, dtype=np.float64)
    if pipeline == "caffe":
        return i * OUTPUT_STRIDE  # zoom x8 with align_corners semantics: cell i is output pixel 8i, exactly
    return (i + 0.5) * (n_net / n_cells) - 0.5  # align_corners=False: src = (dst + 0.5) * n_cells / n_net - 0.5


def cell_coordinate(pos: np.ndarray, n_cells: int, n_net: int, pipeline: str) -> np.ndarray:
    """Network-input pixel -> fractional stride-8 cell coordinate (float32, clipped to the grid): the inverse of
    _cell_positions, where a pixel falls between the cells whose logits the upsampling blends."""
    if pipeline == "caffe":
        src = pos / float(OUTPUT_STRIDE)
    else:
        src = (pos + 0.5) * (n_cells / n_net) - 0.5
    return np.clip(src, 0, n_cells - 1).astype(np.float32)


def cell_centres(geometry: Geometry, cells_hw) -> tuple[np.ndarray, np.ndarray]:
    """Image rows (h,) and columns (w,) where each stride-8 cell's logit shows, int64, rounded and clipped to the
    image (cells in the caffe pipeline's padding clip to the last row/column; see cells_in_image)."""
    def axis(n_cells, n_net, n_in, n_img):
        pos = _cell_positions(n_cells, n_net, geometry.pipeline)
        if n_in != n_img:  # the logits were resized from n_in to n_img with align_corners=False
            pos = (pos + 0.5) * (n_img / n_in) - 0.5
        return np.clip(np.rint(pos), 0, n_img - 1).astype(np.int64)
    (h8, w8), (hn, wn), (hi, wi), (H, W) = cells_hw, geometry.net_hw, geometry.input_hw, geometry.image_hw
    return axis(h8, hn, hi, H), axis(w8, wn, wi, W)


def cells_in_image(geometry: Geometry, cells_hw) -> tuple[int, int]:
    """How many leading cell rows and columns show inside the image; the rest lie in the caffe padding."""
    def count(n_cells, n_net, n_in):
        return int((_cell_positions(n_cells, n_net, geometry.pipeline) <= n_in - 1).sum())
    (h8, w8), (hn, wn), (hi, wi) = cells_hw, geometry.net_hw, geometry.input_hw
    return count(h8, hn, hi), count(w8, wn, wi)
