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

    def predict(self, image_rgb: np.ndarray, should_cancel=None, on_progress: ProgressFn = None) -> np.ndarray:
        """(H,W,3) uint8 RGB -> (C,H,W) float32 softmax probabilities."""
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
                logits = self._predict_scaled(image_rgb, report)
            else:
                logits = self._predict_tiled(image_rgb, should_cancel, report)
            check_cancel(should_cancel)
            report("softmax", 0.95)
            probs = torch.softmax(logits[0].float(), dim=0).cpu().numpy()
        report("done", 1.0)
        if not np.isfinite(probs.sum(dtype=np.float64)):  # one pass; NaN/inf anywhere make the sum non-finite
            raise EngineError(f"the model {self.spec.name or self.spec.arch} produced NaN or infinite scores for "
                              f"this image: its weights are broken (or overflow); load another checkpoint")
        return np.ascontiguousarray(probs, dtype=np.float32)

    def _predict_scaled(self, image_rgb, report) -> torch.Tensor:
        h, w = image_rgb.shape[:2]
        s = self.max_side / max(h, w)
        small = torch.from_numpy(np.array(image_rgb)).permute(2, 0, 1)[None].float()
        small = F.interpolate(small, size=(max(1, round(h * s)), max(1, round(w * s))), mode="bilinear",
                              align_corners=False, antialias=True)
        small = small[0].permute(1, 2, 0).clamp(0, 255).round().to(torch.uint8).numpy()
        report("network (scaled)", 0.0)
        return self._logits(self._to_tensor(small), (h, w))

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


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / step) + 1
    return sorted({min(i * step, length - tile) for i in range(n)})


def _tent(h: int, w: int, device) -> torch.Tensor:
    wy = 1.0 - torch.abs(torch.linspace(-1, 1, h, device=device)) * 0.9
    wx = 1.0 - torch.abs(torch.linspace(-1, 1, w, device=device)) * 0.9
    return (wy[:, None] * wx[None, :])[None, None]
