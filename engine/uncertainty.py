"""Per-image uncertainty from class probabilities: 1 - (top-1 minus top-2 probability), the margin measure.

Used to order the file list so the annotator sees the images the model is least sure about first.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["uncertainty_map", "mean_uncertainty", "order_by_uncertainty"]


def uncertainty_map(probs: np.ndarray) -> np.ndarray:
    """(C,H,W) probabilities -> (H,W) float32 in [0,1]: 0 where one class has all the mass, 1 at a tie."""
    if getattr(probs, "ndim", None) != 3 or probs.shape[0] < 1:
        raise ValueError(f"probabilities must be (C,H,W) with C >= 1, got {np.shape(probs)}")
    if probs.shape[0] == 1:
        return (1.0 - np.asarray(probs[0], np.float32)).astype(np.float32)
    # the two largest, one class at a time: three (H,W) arrays, never a copy of all classes (1 GB at 12 MP)
    p1 = np.array(probs[0], np.float32)
    p2 = np.full(p1.shape, -np.inf, np.float32)
    low = np.empty_like(p1)
    for c in range(1, probs.shape[0]):
        x = np.asarray(probs[c], np.float32)
        np.minimum(p1, x, out=low)
        np.maximum(p2, low, out=p2)
        np.maximum(p1, x, out=p1)
    np.subtract(p1, p2, out=p1)
    np.subtract(np.float32(1.0), p1, out=p1)
    return np.clip(p1, 0.0, 1.0, out=p1)


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
