"""Compact probabilities for display: one byte per class and pixel instead of four.

Why: at 12 MP / 21 classes a float32 CRF output is 1 GB and the window only draws one class's heat map at a time;
8 bits (steps of 1/255) are finer than any colour map shows. The exact float32 result is used once (labels,
uncertainty) in the worker and then dropped. Reading a class gives float32 in [0, 1]; np.asarray gives all.
Here, not in interactive/: the fast engine (fast/session.py) writes it and must not import the interactive package.
"""
from __future__ import annotations

import numpy as np

_SCALE = np.float32(1.0 / 255.0)


class CompactProbs:
    """(C,H,W) probabilities stored as uint8 (value = round(255 p)); indexing a class returns float32 (H,W)."""

    dtype = np.dtype(np.float32)  # what reading it gives

    def __init__(self, probs: np.ndarray | None = None, shape: tuple | None = None):
        if probs is not None:
            self.codes = self.encode(probs)
        else:
            self.codes = np.zeros(shape, np.uint8)

    @staticmethod
    def encode(probs: np.ndarray) -> np.ndarray:
        """float probabilities -> uint8 codes, class by class (no float temporary of the whole array)."""
        probs = np.asarray(probs)
        out = np.empty(probs.shape, np.uint8)
        tmp = np.empty(probs.shape[1:], np.float32)
        for c in range(probs.shape[0]):
            np.multiply(probs[c], 255.0, out=tmp)
            np.add(tmp, 0.5, out=tmp)
            np.clip(tmp, 0, 255, out=tmp)
            out[c] = tmp  # truncation of (255 p + 0.5): rounding
        return out

    @property
    def shape(self) -> tuple:
        return self.codes.shape

    @property
    def ndim(self) -> int:
        return 3

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes)

    def __len__(self) -> int:
        return self.codes.shape[0]

    def __getitem__(self, index):
        return self.codes[index].astype(np.float32) * _SCALE

    def __array__(self, dtype=None, copy=None):
        out = self.codes.astype(np.float32) * _SCALE
        return out if dtype is None else out.astype(dtype)

    def paste(self, box: tuple[int, int, int, int], probs: np.ndarray) -> None:
        """Overwrite the window box (x0, y0, x1, y1) with (C,h,w) probabilities (a local refinement's)."""
        x0, y0, x1, y1 = box
        self.codes[:, y0:y1, x0:x1] = self.encode(probs)

    def copy(self) -> "CompactProbs":
        out = CompactProbs(shape=(0, 0, 0))
        out.codes = self.codes.copy()
        return out
