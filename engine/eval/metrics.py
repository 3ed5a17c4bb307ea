"""Confusion matrix and mean IoU, the standard semantic-segmentation score (VOC protocol).

Scores are accumulated over a whole set (sum the confusion matrices, then take IoU per class), not averaged per image,
so that small images or absent classes do not distort the number. Pixels labelled VOID (255) in the ground truth are
ignored.
"""
from __future__ import annotations

import numpy as np

from engine.labels import VOID


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n,n) int64 counts, rows = ground truth class, columns = predicted class. gt/pred: (H,W) integer label maps of
    the same shape; gt == VOID is skipped. Raises ValueError on shape mismatch or out-of-range labels."""
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth shape {gt.shape} differs from prediction shape {pred.shape}")
    keep = gt != VOID
    g = gt[keep].astype(np.int64)
    p = pred[keep].astype(np.int64)
    if g.size and (g.min() < 0 or g.max() >= n_classes):
        raise ValueError(f"ground-truth labels must be in [0, {n_classes}) or {VOID}, got range [{g.min()}, {g.max()}]")
    if p.size and (p.min() < 0 or p.max() >= n_classes):
        raise ValueError(f"predicted labels must be in [0, {n_classes}), got range [{p.min()}, {p.max()}]")
    return np.bincount(g * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def iou_per_class(conf: np.ndarray) -> np.ndarray:
    """(n,) float64 IoU = TP / (TP + FP + FN); NaN for a class that is neither in the ground truth nor predicted."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


def mean_iou(conf: np.ndarray) -> float:
    """Mean of the per-class IoU over classes that occur (NaNs skipped); NaN if the matrix is empty."""
    ious = iou_per_class(conf)
    return float(np.nanmean(ious)) if np.isfinite(ious).any() else float("nan")


def pixel_accuracy(conf: np.ndarray) -> float:
    """Fraction of (non-void) pixels labelled correctly."""
    conf = np.asarray(conf)
    total = conf.sum()
    return float(np.trace(conf) / total) if total else float("nan")
