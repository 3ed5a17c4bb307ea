"""Kernel features exactly as pydensecrf's DenseCRF2D builds them (reference dense_crf.md §1.3).

Order is (x, y[, c0, c1, c2]) with x the column, pixel index y*W+x, and each value `int / float32(sigma)`
computed in float32. Swapping x and y or dividing in float64 changes the lattice and ~0.2 % of labels.
"""
from __future__ import annotations

import numpy as np

from ...errors import EngineError


def _sigma(value: float, name: str) -> np.float32:
    s = np.float32(value)
    if not np.isfinite(s) or s <= 0:
        raise EngineError(f"CRF {name} must be a positive finite number, got {value!r}")
    return s


def gaussian_features(height: int, width: int, sxy: float) -> np.ndarray:
    """(H*W, 2) float32 features (x/sxy, y/sxy) of the smoothness kernel."""
    s = _sigma(sxy, "Gaussian xy std")
    xs = np.arange(width, dtype=np.float32) / s
    ys = np.arange(height, dtype=np.float32) / s
    f = np.empty((height, width, 2), np.float32)
    f[:, :, 0] = xs[None, :]
    f[:, :, 1] = ys[:, None]
    return f.reshape(-1, 2)


def bilateral_features(image_rgb: np.ndarray, sxy: float, srgb: float) -> np.ndarray:
    """(H*W, 5) float32 features (x/sxy, y/sxy, r/srgb, g/srgb, b/srgb) of the appearance kernel."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise EngineError(f"CRF image must be (H,W,3) uint8, got {image_rgb.shape} {image_rgb.dtype}")
    h, w = image_rgb.shape[:2]
    s = _sigma(srgb, "bilateral rgb std")
    sxy = _sigma(sxy, "bilateral xy std")
    f = np.empty((h, w, 5), np.float32)
    f[:, :, 0] = np.arange(w, dtype=np.float32)[None, :] / sxy   # (written in place: no (H, W, 2) and (H, W, 3)
    f[:, :, 1] = np.arange(h, dtype=np.float32)[:, None] / sxy   # temporaries, 0.24 -> 0.1 s at 12 MP)
    np.divide(image_rgb, s, out=f[:, :, 2:], dtype=np.float32)
    return f.reshape(-1, 5)
