"""Predictor: RGB image -> per-class probabilities at image size, on the chosen device, cancellable between stages.

Images larger than the model's comfortable size are either scaled down (default; like the DeepLab demos) or
tiled with overlap, so memory stays bounded whatever the image size.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .device import pick_device
from .errors import EngineError, check_cancel

ProgressFn = Optional[Callable[[str, float], None]]


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

    def _to_tensor(self, image_rgb: np.ndarray) -> torch.Tensor:
        """RGB uint8 -> (1,3,H,W) float BGR minus the mean, the input the published weights expect."""
        bgr = image_rgb[..., ::-1].astype(np.float32) - np.asarray(self.spec.mean_bgr, dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None].to(self.device)

    def _logits(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        logits = self.model(x)
        if tuple(logits.shape[-2:]) != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits

    def predict(self, image_rgb: np.ndarray, should_cancel=None, on_progress: ProgressFn = None,
                dtype=np.float32) -> np.ndarray:
        """(H,W,3) uint8 RGB -> (C,H,W) softmax probabilities, float32 (or float16 when asked: half the memory
        for large images, computed in float32 and rounded once)."""
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise EngineError(f"predict needs an (H,W,3) uint8 RGB image, got {image_rgb.shape} {image_rgb.dtype}")
        h, w = image_rgb.shape[:2]
        report = on_progress or (lambda stage, frac: None)
        check_cancel(should_cancel)
        with torch.inference_mode():
            if max(h, w) <= self.max_side:
                report("network", 0.0)
                logits = self._logits(self._to_tensor(image_rgb), (h, w))
            elif self.strategy == "scale":
                logits = self._predict_scaled(image_rgb, report)  # at the network's size: upsampled below
            else:
                logits = self._predict_tiled(image_rgb, should_cancel, report)
            check_cancel(should_cancel)
            report("softmax", 0.95)
            probs = _probabilities(logits, (h, w), np.dtype(dtype))
        report("done", 1.0)
        return probs

    def _predict_scaled(self, image_rgb, report) -> torch.Tensor:
        h, w = image_rgb.shape[:2]
        s = self.max_side / max(h, w)
        small = torch.from_numpy(np.array(image_rgb)).permute(2, 0, 1)[None].float()
        small = F.interpolate(small, size=(max(1, round(h * s)), max(1, round(w * s))), mode="bilinear",
                              align_corners=False, antialias=True)
        small = small[0].permute(1, 2, 0).clamp(0, 255).round().to(torch.uint8).numpy()
        report("network (scaled)", 0.0)
        return self.model(self._to_tensor(small))  # the network's own (stride 8) logits: one upsampling, below

    def _predict_tiled(self, image_rgb, should_cancel, report) -> torch.Tensor:
        """Overlapping tiles at full resolution; logits averaged with a tent weight so seams do not show."""
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
                acc[..., y:y + th, x:x + tw] += self._logits(self._to_tensor(tile), (th, tw)) * win
                weight[..., y:y + th, x:x + tw] += win
                done += 1
        return acc / weight.clamp_min(1e-6)


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

    top = torch.full((h, w), -float("inf"))
    for c0 in range(0, c, k):
        top = torch.maximum(top, upsampled(c0).amax(dim=0).cpu())
    out = np.empty((c, h, w), np.float16)
    target = torch.from_numpy(out)
    total = torch.zeros((h, w))
    for c0 in range(0, c, k):
        e = upsampled(c0).cpu().sub_(top).exp_()
        total += e.sum(dim=0)
        target[c0:c0 + k] = e
    inv = total.reciprocal_()
    for c0 in range(c):
        target[c0] = target[c0].float().mul_(inv)
    return out


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / step) + 1
    return sorted({min(i * step, length - tile) for i in range(n)})


def _tent(h: int, w: int, device) -> torch.Tensor:
    wy = 1.0 - torch.abs(torch.linspace(-1, 1, h, device=device)) * 0.9
    wx = 1.0 - torch.abs(torch.linspace(-1, 1, w, device=device)) * 0.9
    return (wy[:, None] * wx[None, :])[None, None]
