"""Axis-aligned pixel boxes (x0, y0, x1, y1): x1 and y1 exclusive, so a box slices an (H, W) array as
``a[y0:y1, x0:x1]`` and (x1 - x0) * (y1 - y0) is its pixel count. None means "no box" (nothing changed).

Why one module: an edit's changed pixels, the labels a head adaptation changed and the window the CRF re-solves
after a stroke are all such boxes; each place had its own copy of these few lines. Qt-free, numpy only.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Box", "mask_box", "union", "grow_clip", "is_empty"]

Box = tuple[int, int, int, int]


def mask_box(mask: np.ndarray) -> Box | None:
    """The tight box of the True (non-zero) pixels of a 2-D mask, or None when there are none."""
    mask = np.asarray(mask)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def is_empty(box: Box | None) -> bool:
    """True for None and for a box with no pixels (x1 <= x0 or y1 <= y0)."""
    return box is None or box[2] <= box[0] or box[3] <= box[1]


def union(*boxes: Box | None) -> Box | None:
    """The smallest box holding every given box; None ones are skipped (None when all are None).

    Boxes with no pixels are not skipped (a caller that must ignore them filters with is_empty first)."""
    given = [b for b in boxes if b is not None]
    if not given:
        return None
    return (min(b[0] for b in given), min(b[1] for b in given), max(b[2] for b in given), max(b[3] for b in given))


def grow_clip(box: Box | None, margin, shape) -> Box | None:
    """The box grown by ``margin`` pixels on every side and clipped to an image of ``shape`` (H, W, ...); None
    stays None. Used for the context a change needs around it (CRF windows, adapted labels)."""
    if box is None:
        return None
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    return max(x0 - margin, 0), max(y0 - margin, 0), min(x1 + margin, w), min(y1 + margin, h)
