"""What every CRF backend returns, and input checks they share."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EngineError


@dataclass(frozen=True)
class CRFResult:
    """Refined probabilities (C,H,W) float32 (or, asked for compact, engine.crf.interactive.CompactProbs) and
    their argmax labels (H,W) uint8; note: what the user should know about how it was computed (e.g. 'the GPU
    ran out of memory: ran on the CPU'), or ''."""

    probs: np.ndarray
    labels: np.ndarray
    note: str = ""
    unc: np.ndarray | None = None  # (H,W) uncertainty when the backend computed it (compact results, see fast)


def check_inputs(image_rgb: np.ndarray, probs: np.ndarray) -> None:
    """Image must be (H,W,3) uint8 and probabilities (C,H,W) of the same size."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise EngineError(f"CRF image must be (H,W,3) uint8, got {image_rgb.shape} {image_rgb.dtype}")
    if probs.ndim != 3 or probs.shape[1:] != image_rgb.shape[:2]:
        raise EngineError(f"CRF probabilities {probs.shape} do not match image {image_rgb.shape[:2]}")
    if probs.shape[0] > 255:
        raise EngineError("at most 255 classes fit a uint8 label map with 255 = void")


def labels_from_probs(probs: np.ndarray) -> np.ndarray:
    """Argmax over classes as uint8 (first maximum wins, like pydensecrf's MAP), one class at a time: np.argmax
    over the first axis copies all classes (0.5 GB at 12 MP x 21 classes in float16)."""
    best = np.array(probs[0])
    labels = np.zeros(best.shape, np.uint8)
    better = np.empty(best.shape, bool)
    for c in range(1, probs.shape[0]):
        x = probs[c]
        np.greater(x, best, out=better)
        labels[better] = c
        np.maximum(best, x, out=best)
    return labels
