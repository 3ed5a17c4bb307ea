"""Natural-looking synthetic photos for the CRF tests and bench/crf.py: one generator, two parameter sets."""
from __future__ import annotations

import cv2
import numpy as np


def synthetic_photo(h: int, w: int, seed: int = 0, *, base: float = 100.0, blobs: int = 8,
                    extent: tuple[float, float] = (0.1, 0.4), blur: float = 1.0, texture: bool = False) -> np.ndarray:
    """(h,w,3) uint8: smooth shading, soft-edged coloured ellipses, optional coarse texture, sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([base + 60 * np.sin(xx / w * rng.uniform(1, 4) + rng.uniform(0, 6)) * np.cos(yy / h * 2)
                    for _ in range(3)], -1)
    lo, hi = extent
    for _ in range(blobs):
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (int(rng.uniform(0, w)), int(rng.uniform(0, h))),
                    (int(rng.uniform(lo, hi) * w), int(rng.uniform(lo, hi) * h)), rng.uniform(0, 180),
                    0, 360, 1, -1)
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), blur)[..., None]
        img = img * (1 - soft) + rng.uniform(0, 255, 3) * soft
    if texture:
        img = img + cv2.resize(rng.normal(0, 12, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float32), (w, h))
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
