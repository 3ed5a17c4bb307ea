"""Per-image uncertainty from class probabilities: 1 - (top-1 minus top-2 probability), the margin measure.

Used to order the file list so the annotator sees the images the model is least sure about first.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["uncertainty_map", "mean_uncertainty", "order_by_uncertainty"]


def uncertainty_map(probs: np.ndarray) -> np.ndarray:
    """(C,H,W) probabilities -> (H,W) float32 in [0,1]: 0 where one class has all the mass, 1 at a tie."""
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 3 or probs.shape[0] < 1:
        raise ValueError(f"probabilities must be (C,H,W) with C >= 1, got {probs.shape}")
    if probs.shape[0] == 1:
        return (1.0 - probs[0]).astype(np.float32)
    top2 = -np.partition(-probs, 1, axis=0)[:2]
    return np.clip(1.0 - (top2[0] - top2[1]), 0.0, 1.0).astype(np.float32)


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
