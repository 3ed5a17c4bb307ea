"""Everything known about the image being annotated, and the rules for which label map wins.

Rules: labels follow the model (argmax, then CRF) until they come from disk or from the
annotator's hand; after that, new model/CRF results are kept for display only, until the user
asks to use the model result again. Status is derived from the data, never set by hand, so it
cannot go stale.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.dataset import Status
from engine.overlays import uncertainty

SOURCE_NONE, SOURCE_MODEL, SOURCE_DISK, SOURCE_HAND = "none", "model", "disk", "hand"


@dataclass
class ImageState:
    """One opened image. ``token`` is unique per opening, so results computed for an earlier
    opening of the same file can be told apart and dropped."""
    index: int
    path: Path
    image: np.ndarray                      # (H, W, 3) uint8 RGB
    token: int = 0
    probs: np.ndarray | None = None        # (C, H, W) float32 softmax
    raw_labels: np.ndarray | None = None   # (H, W) uint8 argmax of probs
    unc: np.ndarray | None = None          # (H, W) float32, 1 - (p1 - p2)
    crf_probs: np.ndarray | None = None    # (C, H, W) float32 after CRF
    crf_labels: np.ndarray | None = None   # (H, W) uint8 after CRF
    crf_unc: np.ndarray | None = None      # (H, W) float32 uncertainty after CRF
    crf_params: object = None              # the CRFParams crf_* was computed with
    labels: np.ndarray | None = None       # (H, W) uint8: what Save writes
    source: str = SOURCE_NONE
    saved_labels: np.ndarray | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[:2]

    def set_saved_labels(self, labels: np.ndarray) -> None:
        """Labels read from the labels folder: they win over the model from now on."""
        self._check(labels)
        self.saved_labels = labels.copy()
        self.labels = labels.copy()
        self.source = SOURCE_DISK

    def set_prediction(self, probs: np.ndarray, unc: np.ndarray | None = None) -> None:
        """New model probabilities (C, H, W); drops the CRF result made from older ones."""
        if probs.ndim != 3 or probs.shape[1:] != self.shape:
            raise ValueError(f"probs shape {probs.shape} does not fit image {self.shape}")
        self.probs = probs
        self.raw_labels = probs.argmax(axis=0).astype(np.uint8)
        self.unc = uncertainty(probs) if unc is None else unc
        self.crf_probs = self.crf_labels = self.crf_unc = self.crf_params = None
        if self.follows_model:
            self.labels = self.raw_labels.copy()
            self.source = SOURCE_MODEL

    def set_crf(self, probs: np.ndarray, labels: np.ndarray, params, unc: np.ndarray | None = None) -> None:
        """A CRF result for the current probabilities and ``params``."""
        self._check(labels)
        self.crf_probs, self.crf_labels, self.crf_params = probs, labels, params
        self.crf_unc = uncertainty(probs) if unc is None else unc
        if self.follows_model:
            self.labels = labels.copy()
            self.source = SOURCE_MODEL

    def set_hand_labels(self, labels: np.ndarray) -> None:
        """The annotator changed the labels (editing tools)."""
        self._check(labels)
        self.labels = labels
        self.source = SOURCE_HAND

    def use_model_result(self) -> bool:
        """Replace the labels by the latest model/CRF result. False if there is none yet."""
        result = self.crf_labels if self.crf_labels is not None else self.raw_labels
        if result is None:
            return False
        self.labels = result.copy()
        self.source = SOURCE_MODEL
        return True

    def mark_saved(self) -> None:
        if self.labels is not None:
            self.saved_labels = self.labels.copy()

    @property
    def follows_model(self) -> bool:
        return self.source in (SOURCE_NONE, SOURCE_MODEL)

    @property
    def status(self) -> Status:
        if self.labels is None:
            return Status.NEW
        if self.saved_labels is not None and np.array_equal(self.labels, self.saved_labels):
            return Status.SAVED
        if self.source == SOURCE_HAND or self.saved_labels is not None:
            return Status.EDITED
        return Status.PREDICTED

    @property
    def dirty(self) -> bool:
        """True when leaving this image without saving would lose the annotator's work."""
        return self.status == Status.EDITED

    def changed_by_crf(self) -> np.ndarray | None:
        """(H, W) bool: pixels the CRF relabelled, or None before a CRF result exists."""
        if self.raw_labels is None or self.crf_labels is None:
            return None
        return self.raw_labels != self.crf_labels

    def _check(self, labels: np.ndarray) -> None:
        if labels.shape != self.shape or labels.dtype != np.uint8:
            raise ValueError(f"labels {labels.dtype} {labels.shape} do not fit image {self.shape}")
