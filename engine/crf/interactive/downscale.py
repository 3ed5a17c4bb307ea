"""Slider previews at any image size: the CRF on a copy scaled down to at most PREVIEW_PIXELS.

Why: an exact run costs seconds at 6 MP, so while a slider moves the window shows this instead, then the exact
result replaces it. The copy's kernels are scaled with it (xy stds times the scale; colour stds and weights
unchanged), so the preview shows what the settings do at the image's scale. Probabilities are area-averaged
(each pixel's still sums to one), locks become locked where most of a small pixel was locked, and the labels
come back up nearest-neighbour with the full-resolution locks enforced, so a stroke always shows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..constraints import enforce_locks
from ..params import CRFParams

PREVIEW_PIXELS = 250_000  # the budget: at most 0.25 MP


def preview_scale(height: int, width: int, budget: int | None = None) -> float:
    """Linear scale (<= 1) that brings an image within `budget` pixels (PREVIEW_PIXELS by default)."""
    budget = PREVIEW_PIXELS if budget is None else budget
    pixels = height * width
    return 1.0 if pixels <= budget else math.sqrt(budget / pixels)


@dataclass(frozen=True)
class Downscaled:
    """Geometry of one preview copy: full (H, W) and small (h, w) sizes."""

    full: tuple[int, int]
    small: tuple[int, int]

    @classmethod
    def for_image(cls, height: int, width: int, budget: int | None = None) -> "Downscaled":
        s = preview_scale(height, width, budget)
        h = max(1, min(height, int(math.floor(height * s))))
        w = max(1, min(width, int(math.floor(width * s))))
        return cls((height, width), (h, w))

    @property
    def scale(self) -> float:
        return math.sqrt(self.small[0] * self.small[1] / (self.full[0] * self.full[1]))

    @property
    def is_identity(self) -> bool:
        return self.small == self.full

    @property
    def text(self) -> str:
        """'preview 1/4 resolution' (linear), what the window says while it shows one."""
        return f"preview 1/{max(2, round(1 / self.scale))} resolution"

    def _size(self):
        return (self.small[1], self.small[0])  # cv2 wants (w, h)

    def image(self, image_rgb: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(cv2.resize(image_rgb, self._size(), interpolation=cv2.INTER_AREA))

    def probs(self, probs: np.ndarray) -> np.ndarray:
        """(C,H,W) -> (C,h,w) float32, area-averaged class by class (sums stay one)."""
        out = np.empty((probs.shape[0],) + self.small, np.float32)
        plane = None
        for c in range(probs.shape[0]):
            src = probs[c]
            if src.dtype != np.float32:   # (numpy's astype runs on one core: 146 of 230 ms at 12 MP x 5 classes)
                from ..fast.convert import converted
                plane = converted(src, np.float32, plane)
                src = plane
            out[c] = cv2.resize(src, self._size(), interpolation=cv2.INTER_AREA)
        return out

    def locks(self, locks) -> tuple[np.ndarray, np.ndarray] | None:
        """(labels, locked) at the small size: a small pixel is locked when most of it is, with the nearest label."""
        if locks is None:
            return None
        labels, locked = locks
        share = cv2.resize(np.asarray(locked, np.float32), self._size(), interpolation=cv2.INTER_AREA)
        small_labels = cv2.resize(np.asarray(labels, np.uint8), self._size(), interpolation=cv2.INTER_NEAREST)
        return np.ascontiguousarray(small_labels), share > 0.5

    def params(self, params: CRFParams) -> CRFParams:
        """The same settings at the small scale: xy stds shrink with the image (to 0.5 px at least, the panel's
        smallest value; below a pixel a kernel hardly smooths anyway)."""
        s = self.scale
        return params.replace(pos_xy_std=max(0.5, params.pos_xy_std * s), bi_xy_std=max(0.5, params.bi_xy_std * s))

    def upscale_labels(self, labels_small: np.ndarray, locks=None) -> np.ndarray:
        """(h,w) labels -> (H,W) uint8 nearest-neighbour, with the full-resolution locks enforced."""
        full = cv2.resize(labels_small, (self.full[1], self.full[0]), interpolation=cv2.INTER_NEAREST)
        return full if locks is None else enforce_locks(full, *locks)
