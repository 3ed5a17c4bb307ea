"""Per-image uncertainty from class probabilities: 1 - (top-1 minus top-2 probability), the margin measure.

Used to order the file list so the annotator sees the images the model is least sure about first.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["uncertainty_map", "margin_and_labels", "mean_uncertainty", "order_by_uncertainty"]

BAND_BYTES = 4 << 20  # float32 bytes of one (rows, W) band: the running arrays stay in cache


def uncertainty_map(probs: np.ndarray) -> np.ndarray:
    """(C,H,W) probabilities -> (H,W) float32 in [0,1]: 0 where one class has all the mass, 1 at a tie."""
    if getattr(probs, "ndim", None) != 3 or probs.shape[0] < 1:
        raise ValueError(f"probabilities must be (C,H,W) with C >= 1, got {np.shape(probs)}")
    if probs.shape[0] == 1:
        return (1.0 - np.asarray(probs[0], np.float32)).astype(np.float32)
    return _margin(probs, None)


def margin_and_labels(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uncertainty_map(probs), the argmax labels (H, W) uint8, first maximum winning, as
    engine.crf.base.labels_from_probs) in one pass, for (C, H, W) float16 or float32 probabilities (where float32
    compares as the probabilities do): what every prediction shows. Why: the two apart read the classes twice
    (820 -> 410 ms at 12 MP x 5 classes measured on the 2-core machine)."""
    if getattr(probs, "dtype", None) not in (np.float16, np.float32) or probs.ndim != 3:
        raise ValueError(f"margin_and_labels takes (C,H,W) float16 or float32 probabilities, got "
                         f"{getattr(probs, 'dtype', None)} {np.shape(probs)}")
    labels = np.zeros(probs.shape[1:], np.uint8)
    if probs.shape[0] < 2:
        return uncertainty_map(probs), labels
    return _margin(probs, labels), labels


def _margin(probs: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """1 - (top-1 minus top-2), clipped, in float32, a band of rows at a time (each class read once per band,
    while the band's running arrays stay in cache; never a copy of all classes: 1 GB at 12 MP); with `labels`,
    the argmax is written there too (first maximum wins)."""
    c, h, w = probs.shape
    unc = np.empty((h, w), np.float32)
    rows = max(1, BAND_BYTES // max(1, 4 * w))
    p2, x, low = (np.empty((rows, w), np.float32) for _ in range(3))
    better = np.empty((rows, w), bool)
    for y0 in range(0, h, rows):
        n = min(rows, h - y0)
        p1, sec, cur, lo, gt = unc[y0:y0 + n], p2[:n], x[:n], low[:n], better[:n]
        np.copyto(p1, probs[0, y0:y0 + n], casting="unsafe")
        sec.fill(-np.inf)
        for k in range(1, c):
            np.copyto(cur, probs[k, y0:y0 + n], casting="unsafe")
            if labels is not None:
                np.greater(cur, p1, out=gt)
                np.copyto(labels[y0:y0 + n], np.uint8(k), where=gt)
            np.minimum(p1, cur, out=lo)   # the two largest
            np.maximum(sec, lo, out=sec)
            np.maximum(p1, cur, out=p1)
        np.subtract(p1, sec, out=p1)
        np.subtract(np.float32(1.0), p1, out=p1)
        np.clip(p1, 0.0, 1.0, out=p1)
    return unc


def mean_uncertainty(probs: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean of uncertainty_map over all pixels, or over the (H,W) bool `valid` pixels (0.0 if none)."""
    u = uncertainty_map(probs)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != u.shape:
            raise ValueError(f"valid mask {valid.shape} does not match probabilities {u.shape}")
        return float(u[valid].mean()) if valid.any() else 0.0
    return float(u.mean(dtype=np.float64))


def order_by_uncertainty(scores: Mapping[str, float | None], most_uncertain_first: bool = True) -> list[str]:
    """Image ids sorted by score; ids not scored yet (None) go last, in their original order."""
    known = [(k, v) for k, v in scores.items() if v is not None]
    unknown = [k for k, v in scores.items() if v is None]
    known.sort(key=lambda kv: kv[1], reverse=most_uncertain_first)
    return [k for k, _ in known] + unknown
