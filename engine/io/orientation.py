"""The EXIF/TIFF Orientation tag (1-8) applied to an array, as Pillow's ImageOps.exif_transpose applies it to an
image: for samples Pillow cannot hold (16-bit colour, float, many bands), so every reader returns upright pixels."""
from __future__ import annotations

import numpy as np


def orient(arr: np.ndarray, code: int) -> np.ndarray:
    """``arr`` (H,W,...) turned upright for Orientation ``code`` (1 or unknown: unchanged); a view where possible."""
    if code == 2:
        return arr[:, ::-1]                       # mirrored left-right
    if code == 3:
        return arr[::-1, ::-1]                    # rotated 180
    if code == 4:
        return arr[::-1]                          # mirrored top-bottom
    if code == 5:
        return np.swapaxes(arr, 0, 1)             # transposed
    if code == 6:
        return np.rot90(arr, -1)                  # rotated 90 clockwise to be upright
    if code == 7:
        return np.swapaxes(arr, 0, 1)[::-1, ::-1]  # transversed
    if code == 8:
        return np.rot90(arr, 1)                   # rotated 90 counter-clockwise to be upright
    return arr
