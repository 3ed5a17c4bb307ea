"""Predictor: RGB image -> per-class probabilities at image size, on the chosen device, cancellable between stages.

Each checkpoint runs by its pipeline (spec.pipeline, engine.models.pipelines + engine.models.preprocess): caffe pads the
image to the crop size and zooms + crops the logits as DeepLab's Caffe test nets do; kazuto feeds the image as it is.
Images larger than the model's input_size are either shrunk (default; cv2 INTER_LINEAR to the long side, the
logits resized back with bilinear align_corners=False) or tiled with overlap, so memory stays bounded.

The pipeline is split at the classifier so that engine.learn can adapt the head without rerunning the backbone:
extract_features (image -> the classifier's stride-8 inputs, one map per scale) + head_logits (any head -> fused
stride-8 logits) + probs_from_features (the same upsampling, crop, resize and softmax as predict). For the default
strategy, probs_from_features(extract_features(image)) is predict(image).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from engine.crf.base import labels_from_probs
from engine.models import preprocess
from engine.models.device import pick_device
from engine.models.folder_head import NetworkClassifier, cell_mean_colour, pixel_colour, with_colour
from engine.uncertainty import margin_and_labels, uncertainty_map

from .errors import EngineError, check_cancel
from .models.registry import DEFAULT_MEAN_BGR

ProgressFn = Optional[Callable[[str, float], None]]


@dataclass(frozen=True)
class FeatureSet:
    """One image's classifier inputs and the geometry that turns stride-8 logits back into image-size maps.

    maps: per scale (1x first), (1, Cf + N_COLOUR, h_s, w_s) float tensors on the predictor's device, no grad: the
    classifier's inputs and the cell colour (engine.models.folder_head.with_colour).
    geometry: the pipeline, the image size, the size the network saw it at (input_hw, after any shrinking) and the
    network input's size (net_hw, with the caffe pipeline's padding).
    pixels: (1, 3, *input_hw) the network input's colour per pixel (engine.models.folder_head.pixel_colour), for a
    head's pixel term.
    """
    maps: tuple
    geometry: preprocess.Geometry
    pixels: torch.Tensor | None = None

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.geometry.input_hw

    @property
    def image_hw(self) -> tuple[int, int]:
        return self.geometry.image_hw

    @property
    def net_hw(self) -> tuple[int, int]:
        return self.geometry.net_hw

    @property
    def cells_hw(self) -> tuple[int, int]:
        """(h, w) of the fused stride-8 grid (the 1x map)."""
        return tuple(self.maps[0].shape[-2:])

    @property
    def cells_in_image(self) -> tuple[int, int]:
        """Leading rows/columns of the stride-8 grid whose logit shows inside the image (the caffe pipeline's
        padding holds the rest)."""
        return preprocess.cells_in_image(self.geometry, self.cells_hw)

    @property
    def nbytes(self) -> int:
        extra = () if self.pixels is None else (self.pixels,)
        return sum(int(m.numel() * m.element_size()) for m in (*self.maps, *extra))


# RGBA images. Fully transparent pixels (alpha 0) hold no content, so they are void in every model result (the
# annotator can still paint them); the colour of the rest is composited onto the model's mean for the network, the
# CRF and the screen. Onto white, the demo models called a cut-out's transparent surround "paper" (99 %); onto the
# mean, v1 still called 98 % of it "plastic bag" (v2: 96 % belt): no background colour is neutral, hence void.

def alpha_background(spec=None) -> tuple[int, int, int]:
    """RGB that transparent pixels are composited onto before ``spec``'s network sees them (engine.io.read_image's
    ``background``): the model's mean colour, so the mean-subtracted input is zero there. None (no model yet):
    the DeepLab/Caffe mean."""
    mean = DEFAULT_MEAN_BGR if spec is None else spec.mean_bgr
    return tuple(int(round(float(c))) for c in mean[::-1])


def transparent_mask(alpha: np.ndarray | None) -> np.ndarray | None:
    """(H, W) bool of the fully transparent pixels (alpha 0), which are void in the labels; None if there are none."""
    if alpha is None:
        return None
    mask = np.asarray(alpha) == 0
    return mask if mask.any() else None


class Predictor:
    """Wraps a LoadedModel; `predict` may be called from a worker thread."""

    def __init__(self, loaded, device: str | None = None, strategy: str = "scale", max_side: int | None = None):
        if strategy not in ("scale", "tile"):
            raise EngineError(f"unknown large-image strategy {strategy!r} (use 'scale' or 'tile')")
        self.loaded = loaded
        self.spec = loaded.spec
        self.device = pick_device(device)
        self.strategy = strategy
        self.max_side = int(max_side or self.spec.input_size)
        self.model = loaded.model.to(self.device).eval()

    @property
    def n_classes(self) -> int:
        return self.spec.n_classes

    @property
    def pipeline(self) -> str:
        """The inference pipeline the network runs by (its checkpoint's: "caffe" or "kazuto")."""
        return getattr(self.model, "pipeline", self.spec.pipeline)

    def _network_input(self, image_rgb: np.ndarray):
        """(1,3,h,w) network input on the device and its Geometry (shrunk to max_side if larger; caffe: padded)."""
        return preprocess.network_input(image_rgb, self.spec.mean_bgr, self.pipeline, self.max_side, self.device)

    def scale_note(self, height: int, width: int) -> str | None:
        """What to tell the user when the network input leaves too few pixels across an image it had to shrink
        (a 100000x1000 line scan is seen at 4104x41: five stride-8 cells; preprocess.input_scale keeps narrower
        panoramas 256 px across); None otherwise, and when tiling."""
        scale = preprocess.input_scale(height, width, self.max_side)
        if self.strategy != "scale" or scale >= 1.0:
            return None
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        if min(h, w) >= preprocess.narrow_side(self.max_side):
            return None
        return (f"the network sees this {width}x{height} image scaled to {w}x{h}, too narrow to recognise much: "
                "cut it into pieces, or predict it tiled at full resolution (predict --tile, slower)")

    def _cropped_logits(self, score: torch.Tensor, geometry: preprocess.Geometry) -> torch.Tensor:
        """Fused stride-8 logits -> logits at the size the network saw the image: the network's own upsampling to
        its input size (model(x)) and the crop of the padding. The resize back when the image was shrunk
        (preprocess.image_logits' second step) is _probabilities', chunked so large images never hold every
        class at full size in float32."""
        return preprocess.crop_logits(self.model.upsample_logits(score, geometry.net_hw), geometry)

    def _with_pixel_term(self, head, maps, logits: torch.Tensor, pixels: torch.Tensor, geometry) -> torch.Tensor:
        """``logits`` (at the size the network saw the image) plus ``head``'s pixel term, if it has one
        (engine.models.folder_head): the colour's detail inside each cell, gated as the head's cells are."""
        if not getattr(head, "has_pixel_term", False) or pixels is None:
            return logits
        mean = self._cropped_logits(cell_mean_colour(maps[0]), geometry)   # maps[0] is at the fused score size
        gates = [head.cell_gate(m) for m in maps]
        gate = None if gates[0] is None else self._cropped_logits(self.model.fuse(gates), geometry)
        return head.add_pixel_term(logits.contiguous(), pixels - mean, gate)

    # ---- the classifier seam ----
    def extract_features(self, image_rgb: np.ndarray, should_cancel=None) -> FeatureSet:
        """(H,W,3) uint8 RGB -> FeatureSet: the classifier inputs of the default (scaled) pipeline."""
        _check_rgb(image_rgb)
        check_cancel(should_cancel)
        x, geometry = self._network_input(image_rgb)
        with torch.inference_mode():
            maps = with_colour(self.model.classifier_inputs(x), x)   # the cell colour too (models.folder_head)
            pixels = _input_pixels(x, geometry)
        check_cancel(should_cancel)
        # inference tensors cannot be used in autograd: clone them out of inference mode for training a head
        maps = tuple(m.clone() for m in maps)
        return FeatureSet(maps=maps, geometry=geometry, pixels=pixels.clone())

    def head_logits(self, features: FeatureSet, head=None) -> torch.Tensor:
        """Fused stride-8 logits (1,C,h,w) of ``head`` (default: the model's classifier) on the cached features.
        Differentiable in the head's parameters when called with grad enabled."""
        head = NetworkClassifier(self.model.classifier if head is None else head)
        return self.model.fuse([head(m) for m in features.maps])

    def probs_from_features(self, features: FeatureSet, head=None, dtype=np.float32) -> np.ndarray:
        """(C,H,W) softmax probabilities at image size from the cached features (predict's upsampling), float32 or
        float16 (large images)."""
        head = self.model.classifier if head is None else head
        with torch.inference_mode():
            logits = self._cropped_logits(self.head_logits(features, head), features.geometry)
            logits = self._with_pixel_term(head, features.maps, logits, features.pixels, features.geometry)
            return _probabilities(logits, tuple(features.image_hw), np.dtype(dtype))

    def cell_centres(self, features: FeatureSet) -> tuple[np.ndarray, np.ndarray]:
        """Image-pixel rows (h,) and columns (w,) where each fused stride-8 cell's logit shows after the
        pipeline's upsampling, crop and resize, as int64 indices rounded and clipped to the image, so labels can
        be sampled onto the grid. Cells in the caffe pipeline's padding clip to the last row/column:
        features.cells_in_image says how many lie inside."""
        return preprocess.cell_centres(features.geometry, features.cells_hw)

    def predict(self, image_rgb: np.ndarray, should_cancel=None, on_progress: ProgressFn = None,
                dtype=np.float32) -> np.ndarray:
        """(H,W,3) uint8 RGB -> (C,H,W) softmax probabilities, float32 (or float16 when asked: half the memory
        for large images, computed in float32 and rounded once)."""
        _check_rgb(image_rgb)
        h, w = image_rgb.shape[:2]
        report = on_progress or (lambda stage, frac: None)
        check_cancel(should_cancel)
        with torch.inference_mode():
            if max(h, w) <= self.max_side or self.strategy == "scale":
                report("network" if max(h, w) <= self.max_side else "network (scaled)", 0.0)
                logits = self._logits(image_rgb)  # at the size the network saw: resized in _probabilities
            else:
                logits = self._predict_tiled(image_rgb, should_cancel, report)
            check_cancel(should_cancel)
            report("softmax", 0.95)
            probs = _probabilities(logits, (h, w), np.dtype(dtype))
        report("done", 1.0)
        if not np.isfinite(probs.sum(dtype=np.float64)):  # one pass; NaN/inf anywhere make the sum non-finite
            raise EngineError(f"the model {self.spec.name or self.spec.arch} produced NaN or infinite scores for "
                              f"this image: its weights are broken (or overflow); load another checkpoint")
        return probs

    def _logits(self, image_rgb: np.ndarray) -> torch.Tensor:
        """The pipeline on one image (shrunk if larger than max_side): (1,C,h,w) logits at the size the network
        saw it (the caffe padding cropped); _probabilities resizes them back to the image, a few classes at a time."""
        x, geometry = self._network_input(image_rgb)
        head = self.model.classifier
        if not getattr(head, "has_pixel_term", False):
            return self._cropped_logits(self.model.score_map(x), geometry)
        # an exported adapted model whose head has a pixel term: the same steps as probs_from_features
        maps = with_colour(self.model.classifier_inputs(x), x)
        logits = self._cropped_logits(self.model.fuse([head(m) for m in maps]), geometry)
        return self._with_pixel_term(head, maps, logits, _input_pixels(x, geometry), geometry)

    def _predict_tiled(self, image_rgb, should_cancel, report) -> torch.Tensor:
        """Overlapping max_side tiles at full resolution, each through the pipeline; logits averaged with a tent
        weight so seams do not show."""
        h, w = image_rgb.shape[:2]
        t = self.max_side
        step = max(1, (t * 3) // 4)
        ys = _starts(h, t, step)
        xs = _starts(w, t, step)
        acc = torch.zeros((1, self.n_classes, h, w), device=self.device)
        weight = torch.zeros((1, 1, h, w), device=self.device)
        done, total = 0, len(ys) * len(xs)
        for y in ys:
            for x in xs:
                check_cancel(should_cancel)
                report(f"tile {done + 1}/{total}", done / total)
                tile = image_rgb[y:y + t, x:x + t]
                th, tw = tile.shape[:2]
                win = _tent(th, tw, self.device)
                acc[..., y:y + th, x:x + tw] += self._logits(tile) * win
                weight[..., y:y + th, x:x + tw] += win
                done += 1
        return acc / weight.clamp_min(1e-6)


def _input_pixels(x: torch.Tensor, geometry) -> torch.Tensor:
    """The network input's colour per pixel, its padding cropped: (1, 3, *input_hw)."""
    return preprocess.crop_logits(pixel_colour(x), geometry)


def _check_rgb(image_rgb: np.ndarray) -> None:
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise EngineError(f"predict needs an (H,W,3) uint8 RGB image, got {image_rgb.shape} {image_rgb.dtype}")


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / step) + 1
    return sorted({min(i * step, length - tile) for i in range(n)})


def _tent(h: int, w: int, device) -> torch.Tensor:
    wy = 1.0 - torch.abs(torch.linspace(-1, 1, h, device=device)) * 0.9
    wx = 1.0 - torch.abs(torch.linspace(-1, 1, w, device=device)) * 0.9
    return (wy[:, None] * wx[None, :])[None, None]


UPSAMPLE_CHUNK = 64 << 20  # bytes of full-size logits upsampled at a time


def _probabilities(logits: torch.Tensor, size: tuple[int, int], dtype=np.dtype(np.float32)) -> np.ndarray:
    """(1,C,h,w) logits -> (C,H,W) softmax probabilities (float32 or float16) in an array numpy owns.

    Why not torch.softmax(F.interpolate(...)): at 12 MP x 21 classes each full-size tensor is 1 GB and that kept
    two or three alive at once. Here classes are upsampled (bilinear, align_corners=False, per class as before)
    a few at a time straight into the result, then the softmax runs in place, a band of rows at a time.
    """
    if dtype == np.float16:
        return _half_probabilities(logits, size)
    c = logits.shape[1]
    h, w = size
    out = np.empty((c, h, w), np.float32)
    target = torch.from_numpy(out)
    if tuple(logits.shape[-2:]) == (h, w):
        target.copy_(logits[0])
    else:
        k = max(1, min(c, UPSAMPLE_CHUNK // max(1, h * w * 4)))
        for c0 in range(0, c, k):
            part = F.interpolate(logits[:, c0:c0 + k].float(), size=size, mode="bilinear", align_corners=False)
            target[c0:c0 + k] = part[0]
            del part
    rows = max(1, UPSAMPLE_CHUNK // max(1, c * w * 4))
    for y0 in range(0, h, rows):
        band = target[:, y0:y0 + rows]
        band.sub_(band.amax(dim=0, keepdim=True))
        band.exp_()
        band.div_(band.sum(dim=0, keepdim=True))
    return out


def _half_probabilities(logits: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """_probabilities as float16 without a float32 copy of the whole: the classes are upsampled twice (for the
    maximum, then for exp(l - max) and its sum), a few at a time, in float32; the result is rounded once."""
    c = logits.shape[1]
    h, w = size
    k = max(1, min(c, UPSAMPLE_CHUNK // max(1, h * w * 4)))

    def upsampled(c0):
        return F.interpolate(logits[:, c0:c0 + k].float(), size=size, mode="bilinear", align_corners=False)[0]

    def over_classes(part, reduce):   # (a single class: itself, not a reduced copy of it)
        return part[0] if part.shape[0] == 1 else reduce(part, dim=0)

    top = torch.full((h, w), -float("inf"))
    for c0 in range(0, c, k):
        torch.maximum(top, over_classes(upsampled(c0).cpu(), torch.amax), out=top)
    out = np.empty((c, h, w), np.float16)
    target = torch.from_numpy(out)
    total = torch.zeros((h, w))
    for c0 in range(0, c, k):
        e = upsampled(c0).cpu().sub_(top).exp_()
        total += over_classes(e, torch.sum)
        target[c0:c0 + k] = e
    inv = total.reciprocal_()
    for c0 in range(c):
        target[c0] = target[c0].float().mul_(inv)
    return out


@dataclass(frozen=True)
class Prediction:
    """One image's network output as the window uses it: the probabilities (C, H, W), their uncertainty (H, W)
    and argmax labels (H, W), and what adaptation keeps of the forward pass (``extra``: features and head, or
    None). Built once, by ``from_probs``, in a worker thread: at 12 MP the uncertainty and argmax take seconds."""
    probs: np.ndarray
    unc: np.ndarray
    labels: np.ndarray
    extra: object = None

    @classmethod
    def from_probs(cls, probs: np.ndarray, extra=None) -> "Prediction":
        probs = np.require(probs, requirements=["C", "O"])  # our own memory (ImageState freezes it)
        if probs.dtype in (np.float16, np.float32):
            unc, labels = margin_and_labels(probs)
        else:
            unc, labels = uncertainty_map(probs), labels_from_probs(probs)
        return cls(probs, unc, labels, extra)
