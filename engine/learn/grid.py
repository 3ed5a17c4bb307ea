"""The annotator's locked pixels as training targets on the classifier's stride-8 grid, and the box a change covers.

A stroke is a few pixels wide while a cell covers 8 network pixels (more when the image was scaled down for the
network), so sampling only the cell centres would miss thin strokes. Each cell instead takes the majority class of
the locked pixels inside its footprint (the image pixels nearest to its centre, bounded half-way to its neighbours'
centres, from Predictor.cell_centres), weighted by the share of the footprint they cover. Void (255) is ignored.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..boxes import grow_clip, mask_box


@dataclass(frozen=True, eq=False)
class GridTargets:
    """target (h,w) int64 class per cell (-1 = none), weight (h,w) float32 in [0, 1] (share of the footprint painted
    with that class), free (h,w) bool: cells with no painted pixel at all (the regulariser's cells); painted:
    ((class, (h,w) int64 pixel counts), ...) per painted class, so a later set of locks can tell whether it only
    added to these; pixels: a sample of the locked pixels themselves (engine.learn.pixels.PixelTargets, or None),
    for a head's pixel term. Compared and hashed by identity (caches key on it)."""
    target: np.ndarray
    weight: np.ndarray
    free: np.ndarray
    painted: tuple = ()
    pixels: object = None

    def only_added_to(self, earlier: "GridTargets") -> bool:
        """True when no cell has fewer pixels of any class ``earlier`` had painted: strokes were added, nothing
        was erased or painted over with another class."""
        if earlier.target.shape != self.target.shape:
            return False
        now = dict(self.painted)
        return all(c in now and bool(np.all(now[c] >= counts)) for c, counts in earlier.painted)

    @property
    def n_locked(self) -> int:
        return int((self.target >= 0).sum())


def footprint_edges(centres: np.ndarray, length: int) -> np.ndarray:
    """(n+1,) int64 pixel boundaries of the cells whose centres are ``centres`` (sorted), covering [0, length)."""
    centres = np.asarray(centres, dtype=np.int64)
    mids = (centres[:-1] + centres[1:] + 1) // 2
    return np.concatenate([[0], mids, [length]]).astype(np.int64)


def footprint_sums(mask: np.ndarray, ey: np.ndarray, ex: np.ndarray) -> np.ndarray:
    """Sum of a (H,W) mask over each footprint (empty footprints give 0): an integral image of the cells around
    the mask's box only, read at their edges. Why the box: strokes cover little of an image, and the integral
    image of a whole 12 MP mask took 0.6 s of a stroke's learning step."""
    out = np.zeros((len(ey) - 1, len(ex) - 1), np.int64)
    box = mask_box(mask)
    if box is None:
        return out
    x0, y0, x1, y1 = box
    i0, i1 = np.searchsorted(ey, y0, side="right") - 1, np.searchsorted(ey, y1, side="left")   # cells i0..i1-1
    j0, j1 = np.searchsorted(ex, x0, side="right") - 1, np.searchsorted(ex, x1, side="left")
    sy, sx = ey[i0:i1 + 1], ex[j0:j1 + 1]
    part = mask[sy[0]:sy[-1], sx[0]:sx[-1]]
    sy, sx = sy - sy[0], sx - sx[0]
    integral = np.zeros((part.shape[0] + 1, part.shape[1] + 1), np.int64)
    np.cumsum(np.cumsum(part, axis=0, dtype=np.int64), axis=1, out=integral[1:, 1:])
    a = integral[np.ix_(sy[1:], sx[1:])] - integral[np.ix_(sy[:-1], sx[1:])]
    out[i0:i1, j0:j1] = a - integral[np.ix_(sy[1:], sx[:-1])] + integral[np.ix_(sy[:-1], sx[:-1])]
    return out


def grid_targets(labels: np.ndarray, locked: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                 n_classes: int) -> GridTargets:
    """labels (H,W) uint8 and locked (H,W) bool -> GridTargets on the (len(rows), len(cols)) grid whose cell centres
    are image rows ``rows`` and columns ``cols`` (Predictor.cell_centres)."""
    labels = np.asarray(labels)
    locked = np.asarray(locked, dtype=bool)
    if labels.shape != locked.shape or labels.ndim != 2:
        raise ValueError(f"labels {labels.shape} and locks {locked.shape} must be the same (H,W)")
    H, W = labels.shape
    ey, ex = footprint_edges(rows, H), footprint_edges(cols, W)
    area = np.maximum(np.diff(ey)[:, None] * np.diff(ex)[None, :], 1).astype(np.float32)
    painted = locked & (labels < n_classes)   # void, and values that are no class (kept until Save asks), teach nothing
    shape = (len(rows), len(cols))
    best = np.zeros(shape, np.int64)
    target = np.full(shape, -1, np.int64)
    per_class = []
    if painted.any():
        for c in np.unique(labels[painted]):
            counts = footprint_sums(painted & (labels == c), ey, ex)
            per_class.append((int(c), counts))
            better = counts > best
            best[better], target[better] = counts[better], int(c)
    free = footprint_sums(painted, ey, ex) == 0
    return GridTargets(target=target, weight=(best / area).astype(np.float32), free=free, painted=tuple(per_class))


def changed_box(old_labels: np.ndarray | None, new_labels: np.ndarray, margin: int = 0):
    """(x0, y0, x1, y1) bounding box (x1/y1 exclusive) of pixels whose label differs, grown by ``margin`` and clipped
    to the image; the whole image when there is no old map; None when nothing changed."""
    h, w = new_labels.shape
    if old_labels is None:
        return 0, 0, w, h
    return grow_clip(mask_box(np.asarray(old_labels) != np.asarray(new_labels)), margin, (h, w))
