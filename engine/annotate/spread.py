"""How far a correction on a saved or pre-labelled image spreads: only near itself, and only its own class.

Labels read from disk are someone's accepted work, so a new model or CRF result must not rewrite them wholesale
(engine.annotate.state). A correction there (a locked pixel whose label differs from the file's) still teaches the
head and spreads as on any image, but only to the pixels around it that the model now gives its class: those of
the model's region of that class that touches the correction, inside a window of ``reach`` pixels around it. Every
other pixel keeps the file's label. The result is a function of the locks and the model's labels alone, so undoing
the correction takes its spread back with it.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.boxes import grow_clip, mask_box
from engine.labels import VOID

REACH_SHARE = 0.15   # the window around a correction: this share of the image's longer side...
MIN_REACH = 24       # ...and at least this many pixels


def reach_for(height: int, width: int) -> int:
    """The spread's reach in pixels for an image of this size."""
    return max(MIN_REACH, int(round(REACH_SHARE * max(height, width))))


def corrections(labels: np.ndarray, locked: np.ndarray, base: np.ndarray) -> np.ndarray:
    """(H,W) bool: the locked pixels whose class differs from ``base`` (the file's labels): the corrections.
    Void and pixels that only confirm the file's label do not spread."""
    return locked & (labels != base) & (labels != VOID)


def spread_mask(labels: np.ndarray, seeds: np.ndarray, model: np.ndarray, locked: np.ndarray,
                reach: int) -> np.ndarray:
    """(H,W) bool: the unlocked pixels that take the model's label because of the corrections ``seeds``: per
    corrected class c, the pixels within ``reach`` of a c correction where ``model`` says c, 8-connected to it."""
    out = np.zeros(labels.shape, dtype=bool)
    box = mask_box(seeds)
    if box is None:
        return out
    x0, y0, x1, y1 = grow_clip(box, reach, labels.shape)
    sl = np.s_[y0:y1, x0:x1]
    seeds_w, labels_w, model_w, free_w = seeds[sl], labels[sl], model[sl], ~locked[sl]
    for c in np.unique(labels_w[seeds_w]):
        seed = seeds_w & (labels_w == c)
        # the square window around the seed: chessboard distance, linear in pixels (a 1201 px dilation is not)
        near = cv2.distanceTransform((~seed).astype(np.uint8), cv2.DIST_C, 3) <= reach
        candidate = near & (model_w == c) & free_w
        n, comp = cv2.connectedComponents((candidate | seed).astype(np.uint8), connectivity=8)
        if n <= 1:
            continue
        touching = np.unique(comp[seed])
        out[sl] |= candidate & np.isin(comp, touching[touching > 0])
    return out
