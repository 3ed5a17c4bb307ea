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


def _xy_into(f: np.ndarray, sxy: np.float32) -> None:
    """f[..., 0] = x / sxy, f[..., 1] = y / sxy for an (H, W, k) float32 array (written in place)."""
    f[:, :, 0] = np.arange(f.shape[1], dtype=np.float32)[None, :] / sxy
    f[:, :, 1] = np.arange(f.shape[0], dtype=np.float32)[:, None] / sxy


def gaussian_features(height: int, width: int, sxy: float) -> np.ndarray:
    """(H*W, 2) float32 features (x/sxy, y/sxy) of the smoothness kernel."""
    f = np.empty((height, width, 2), np.float32)
    _xy_into(f, _sigma(sxy, "Gaussian xy std"))
    return f.reshape(-1, 2)


def bilateral_features(image_rgb: np.ndarray, sxy: float, srgb: float) -> np.ndarray:
    """(H*W, 5) float32 features (x/sxy, y/sxy, r/srgb, g/srgb, b/srgb) of the appearance kernel, written in
    place (no (H, W, 2) and (H, W, 3) temporaries: 0.26 -> 0.14 s at 12 MP)."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise EngineError(f"CRF image must be (H,W,3) uint8, got {image_rgb.shape} {image_rgb.dtype}")
    h, w = image_rgb.shape[:2]
    s = _sigma(srgb, "bilateral rgb std")
    f = np.empty((h, w, 5), np.float32)
    _xy_into(f, _sigma(sxy, "bilateral xy std"))
    np.divide(image_rgb, s, out=f[:, :, 2:], dtype=np.float32)
    return f.reshape(-1, 5)
