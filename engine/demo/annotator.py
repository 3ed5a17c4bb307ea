"""A simulated annotator for bench/annotation_effort.py: where a careful person would put the next brush stroke.

Rule: take the largest connected region of wrong pixels that share one true class; put the stroke in its middle
(the pixel farthest from the region's border) along the region's long axis; the brush radius is as large as fits
inside the region (at most max_radius) and the stroke stays inside it, so every painted pixel gets its true class,
as a careful annotator's would. Strokes are painted with the app's own brush (engine.annotate.edits.EditableLabels.brush).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.labels import VOID

MAX_RADIUS = 12


@dataclass(frozen=True)
class Stroke:
    points: tuple          # ((x, y), ...) image pixels
    radius: int
    class_id: int


def pixel_accuracy(labels: np.ndarray, gt: np.ndarray) -> float:
    """Share of ground-truth (non-void) pixels whose label is right."""
    keep = gt != VOID
    return float((labels[keep] == gt[keep]).mean()) if keep.any() else 1.0


def largest_wrong_region(labels: np.ndarray, gt: np.ndarray):
    """(mask, class) of the largest 4-connected region of wrong pixels of one true class, or None."""
    wrong = (labels != gt) & (gt != VOID)
    best, best_size, best_cls = None, 0, -1
    for cls in np.unique(gt[wrong]):
        n, comp, stats, _ = cv2.connectedComponentsWithStats((wrong & (gt == cls)).astype(np.uint8), connectivity=4)
        if n <= 1:
            continue
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        if stats[k, cv2.CC_STAT_AREA] > best_size:
            best, best_size, best_cls = comp == k, int(stats[k, cv2.CC_STAT_AREA]), int(cls)
    return None if best is None else (best, best_cls)


def next_stroke(labels: np.ndarray, gt: np.ndarray, max_radius: int = MAX_RADIUS) -> Stroke | None:
    """The stroke for the current label map, or None when nothing is wrong."""
    found = largest_wrong_region(labels, gt)
    if found is None:
        return None
    mask, cls = found
    padded = np.pad(mask.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    radius = int(np.clip(np.floor(dist[y, x]) - 1, 0, max_radius))
    ys, xs = np.nonzero(mask)
    if len(xs) > 2:
        cov = np.cov(np.stack([xs, ys]).astype(np.float64))
        axis = np.linalg.eigh(cov)[1][:, -1]
    else:
        axis = np.array([1.0, 0.0])
    limit = 3 * radius + 6
    ends = []
    for sign in (-1, 1):
        t = 0
        while t < limit:
            px, py = np.rint([x + sign * (t + 1) * axis[0], y + sign * (t + 1) * axis[1]]).astype(int)
            if not (0 <= py < mask.shape[0] and 0 <= px < mask.shape[1]) or dist[py, px] < radius + 1:
                break
            t += 1
        ends.append((int(np.rint(x + sign * t * axis[0])), int(np.rint(y + sign * t * axis[1]))))
    points = (ends[0], (int(x), int(y)), ends[1])
    return Stroke(points=points, radius=radius, class_id=cls)


def paint(edits, stroke: Stroke) -> int:
    """Apply ``stroke`` to an EditableLabels with the app's brush; returns the pixels it newly locked."""
    edit = edits.brush(stroke.points, stroke.radius, stroke.class_id)
    if edit.is_empty:
        return 0
    return int(edit.after_locked.sum()) - int(edit.before_locked.sum())
