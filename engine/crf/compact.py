"""Compact probabilities for display: one byte per pixel and distinct class plane instead of four per class.

Why: at 12 MP / 21 classes a float32 CRF output is 1 GB and the window only draws one class's heat map at a time;
8 bits (steps of 1/255) are finer than any colour map shows. The exact float32 result is used once (labels,
uncertainty) in the worker and then dropped. Reading a class gives float32 in [0, 1]; np.asarray gives all.

Classes whose codes are the same everywhere share one plane: the CRF's label groups (classes with identical unaries,
and the faint classes a wide model's run prunes into one), and classes at 0 everywhere. A 182-class model's image
holds a dozen classes, so its result is a dozen planes, not 182 (2.2 GB at 12 MP). Writes that would make two
classes of a plane differ (a local window pasted, a lock) give the class its own plane first.
Here, not in interactive/: the fast engine (fast/session.py) writes it and must not import the interactive package.
"""
from __future__ import annotations

import numpy as np

_SCALE = np.float32(1.0 / 255.0)


class CompactProbs:
    """(C,H,W) probabilities stored as uint8 planes (value = round(255 p)), class c in planes[plane_of[c]];
    indexing a class returns float32 (H,W)."""

    dtype = np.dtype(np.float32)  # what reading it gives

    def __init__(self, probs: np.ndarray | None = None, shape: tuple | None = None):
        if probs is not None:
            probs = np.asarray(probs)
            self._hw = tuple(probs.shape[1:])
            self.planes, self.plane_of = [], np.zeros(probs.shape[0], np.int32)
            zero = None
            for c in range(probs.shape[0]):
                plane = self.encode(probs[c:c + 1])[0]
                if not plane.any():   # classes absent everywhere share one plane of zeros
                    if zero is None:
                        zero = len(self.planes)
                        self.planes.append(plane)
                    self.plane_of[c] = zero
                else:
                    self.plane_of[c] = len(self.planes)
                    self.planes.append(plane)
        else:
            c, h, w = shape
            self._hw = (h, w)
            self.planes = [np.zeros((h, w), np.uint8)] if c else []
            self.plane_of = np.zeros(c, np.int32)

    @classmethod
    def grouped(cls, plane_of: np.ndarray, hw: tuple[int, int]) -> tuple["CompactProbs", np.ndarray]:
        """An unfilled store whose class c lives in plane plane_of[c] (planes 0..max), and its (G, H*W) block of
        codes for a writer (the fast engine's label groups: fast.cpu_kernels.expand_compact)."""
        plane_of = np.asarray(plane_of, np.int32)
        g = int(plane_of.max()) + 1 if plane_of.size else 0
        block = np.empty((g,) + tuple(hw), np.uint8)
        out = cls(shape=(0,) + tuple(hw))
        out.planes, out.plane_of = [block[k] for k in range(g)], plane_of.copy()
        return out, block.reshape(g, -1)

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
        return (len(self.plane_of),) + self._hw

    @property
    def ndim(self) -> int:
        return 3

    @property
    def n_planes(self) -> int:
        return len(self.planes)

    @property
    def nbytes(self) -> int:
        return int(sum(p.nbytes for p in self.planes) + self.plane_of.nbytes)

    @property
    def codes(self) -> np.ndarray:
        """All classes' codes as one (C,H,W) uint8 array: a read-only copy (C planes, not the shared ones), so a
        write to it fails instead of being lost (writers use grouped, lock or paste)."""
        out = np.empty(self.shape, np.uint8)
        for c, p in enumerate(self.plane_of):
            out[c] = self.planes[p]
        out.flags.writeable = False
        return out

    def __len__(self) -> int:
        return len(self.plane_of)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self.planes[self.plane_of[index]].astype(np.float32) * _SCALE
        idx = index if isinstance(index, tuple) else (index,)
        if idx and idx[0] is Ellipsis and len(idx) == 3:
            idx = (slice(None),) + idx[1:]
        if not idx or len(idx) > 3 or not all(isinstance(i, (int, np.integer, slice)) for i in idx[1:]):
            return np.asarray(self)[index]   # (numpy's rules for several index arrays: not worth repeating here)
        first = np.asarray(idx[0]) if isinstance(idx[0], (list, tuple)) else idx[0]
        labels = np.arange(len(self))[first]
        rest = idx[1:]
        if np.ndim(labels) == 0:
            return self.planes[self.plane_of[labels]][rest].astype(np.float32) * _SCALE
        used, inverse = np.unique(self.plane_of[labels], return_inverse=True)
        parts = np.stack([self.planes[p][rest] for p in used]) if used.size else \
            np.zeros((0,) + np.empty(self._hw, np.uint8)[rest].shape, np.uint8)
        return parts[inverse.reshape(-1)].astype(np.float32) * _SCALE

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, np.float32)
        for c, p in enumerate(self.plane_of):
            np.multiply(self.planes[p], _SCALE, out=out[c])
        return out if dtype is None else out.astype(dtype)

    def own_planes(self, labels) -> None:
        """Give each of ``labels`` a plane no other class shares (a copy), so writing it changes only that class."""
        for c in np.unique(np.asarray(labels, np.int64)):
            p = self.plane_of[c]
            if np.count_nonzero(self.plane_of == p) > 1:
                self.plane_of[c] = len(self.planes)
                self.planes.append(self.planes[p].copy())

    def lock(self, pixels: np.ndarray, labels: np.ndarray) -> None:
        """One-hot codes at flat pixel indices ``pixels``: class labels[i] 255 there, every other class 0."""
        self.own_planes(labels)
        for plane in self.planes:
            plane.reshape(-1)[pixels] = 0
        flat_of = [p.reshape(-1) for p in self.planes]
        for c in np.unique(labels):
            flat_of[self.plane_of[c]][pixels[labels == c]] = 255

    def paste(self, box: tuple[int, int, int, int], probs: np.ndarray) -> None:
        """Overwrite the window box (x0, y0, x1, y1) with (C,h,w) probabilities (a local refinement's)."""
        x0, y0, x1, y1 = box
        codes = self.encode(probs)
        first: dict[int, int] = {}
        split = []
        for c, p in enumerate(self.plane_of):
            if int(p) not in first:
                first[int(p)] = c
            elif not np.array_equal(codes[c], codes[first[int(p)]]):
                split.append(c)
        self.own_planes(split)
        for c, p in enumerate(self.plane_of):
            self.planes[p][y0:y1, x0:x1] = codes[c]

    def with_channels(self, n: int) -> "CompactProbs":
        """These probabilities with exactly n channels (engine.project.reconcile.fit_channels): new classes at 0
        (one shared plane), removed ones dropped and the rest renormalised, plane by plane."""
        c = len(self)
        if n >= c:
            out = self.copy()
            if n > c:
                out.plane_of = np.concatenate([out.plane_of, np.full(n - c, len(out.planes), np.int32)])
                out.planes.append(np.zeros(self._hw, np.uint8))
            return out
        out = CompactProbs(shape=(0,) + self._hw)
        kept = self.plane_of[:n]
        used, out.plane_of = np.unique(kept, return_inverse=True)
        out.plane_of = out.plane_of.astype(np.int32).reshape(-1)
        total = np.zeros(self._hw, np.float32)
        for p, k in zip(used, np.bincount(out.plane_of, minlength=used.size)):
            total += self.planes[p].astype(np.float32) * (np.float32(k) * _SCALE)
        total = np.where(total > 1e-12, total, np.float32(1.0))
        out.planes = [self.encode((self.planes[p] * _SCALE / total)[None])[0] for p in used]
        return out

    def copy(self) -> "CompactProbs":
        out = CompactProbs(shape=(0,) + self._hw)
        out.planes = [p.copy() for p in self.planes]
        out.plane_of = self.plane_of.copy()
        return out
