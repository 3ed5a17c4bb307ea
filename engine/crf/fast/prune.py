"""Label pruning: classes with negligible probability everywhere in an image leave its CRF.

Why: mean-field cost and memory grow with the label count, and a 182-class model's image holds a dozen classes;
the rest keep small but unequal probabilities (a trained network rarely clips them all to pydensecrf's 1e-5), so
the exact merging of identical unary rows (prior.py) does not catch them. Every pruned class gets, at each pixel,
the mean of the pruned classes' (clipped) probabilities instead of its own (rest_prior), so they share one row and
one channel while their combined probability stays what it was: the classes the run keeps see the same total mass
beside them, and only how that mass spreads among the pruned ones is lost. Giving them probability 0 instead (the
1e-5 clip; before 2026-12-07) removed that mass, which moved the kept classes by about as much: 4.2e-2 at a mass of
3e-2 on the bench's 182-class image, against 5.9e-4 now (docs/crf.md has the table).

Which classes: taken from the least probable up, as many as keep their combined probability at or below
PRUNE_MASS at every pixel. Spreading a mass of at most that much evenly among its classes moves a pruned class's
solution by at most about that mass, and the kept classes' far less: max |dQ| against the full solve is measured
in the CRF tests (tests/engine/crf/test_prune.py) and the benchmarks (docs/crf.md states it). A class that is
locked somewhere keeps its own row at its locked pixels (the lock's one-hot unary is written after), so painting a
pruned class still shows it.
"""
from __future__ import annotations

import functools

import numpy as np

from ..base import nonnegative_max
from ..unary import PROB_CLIP
from . import stream_kernels as sk
from .threads import PARALLEL_LOCK

PRUNE_MASS = 1e-4  # the combined probability, at every pixel, of the classes a run may prune
PRUNE_LADDER = (1e-3, 1e-2, 3e-2, 1e-1)  # the masses a streamed run whose rows are too wide for memory prunes at


def negligible_labels(probs: np.ndarray, mass: float = PRUNE_MASS, chunk: int = 4) -> np.ndarray:
    """(C,) bool: the classes of probabilities (C,H,W) (float32 or float16) to prune at combined ``mass``.

    Reads the probabilities twice, a class at a time (a per-class maximum, then a running per-pixel sum of the
    candidates), holding one float32 (H,W) sum: no (C,H,W) temporary.
    """
    c = probs.shape[0]
    out = np.zeros(c, bool)
    if mass <= 0 or c < 2:
        return out
    peak = np.array([_peak(probs[k]) for k in range(c)])
    order = [int(k) for k in np.argsort(peak, kind="stable") if peak[k] <= mass]
    if not order:
        return out
    total = np.zeros(probs.shape[1:], np.float32)
    for k in order:
        if peak[k] <= PROB_CLIP:      # already clipped everywhere: its row is the floor's, its mass below the clip
            out[k] = True
            continue
        total += probs[k]
        if float(total.max()) > mass:
            break
        out[k] = True
    return out


def _peak(plane: np.ndarray) -> float:
    """The maximum of one class's probabilities: by their bits where no sign bit is set (base.nonnegative_max)."""
    top = nonnegative_max(plane)
    return float(np.max(plane)) if top is None else top


def rest_prior(probs: np.ndarray, pruned: np.ndarray) -> np.ndarray:
    """(H*W,) float32: the prior value (-unary) each pruned class takes at each pixel, the log of the pruned
    classes' mean clipped probability. A per-pixel function of the probabilities, summed in class order in float32
    (a kernel: 182 classes at 12 MP took 6 s in numpy), so a crop of them (a stroke's window) gets the whole
    image's values there bit for bit, and float16 probabilities what their float32 values give."""
    c = probs.shape[0]
    labels = np.flatnonzero(pruned).astype(np.int64)
    flat = np.ascontiguousarray(probs).reshape(c, -1)   # (a view of the C-contiguous arrays the app holds)
    total = np.zeros(flat.shape[1], np.float32)
    if flat.dtype == np.float16:   # large images: a kernel, through a table of the clipped values
        with PARALLEL_LOCK:
            sk.clipped_sums_lut(flat.view(np.uint16), labels, _clipped_halves(), total)
    else:                          # float32 probabilities are small images' (below 4 MP in the app)
        part = np.empty_like(total)
        for k in labels:
            np.clip(flat[k], PROB_CLIP, 1.0, out=part)
            total += part
    total /= np.float32(max(1, labels.size))
    return np.log(total, out=total)


@functools.cache
def _clipped_halves() -> np.ndarray:
    """(65536,) float32: every float16, as float32, clipped as unary_from_probs clips (NaN codes never reach it)."""
    values = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
    with np.errstate(invalid="ignore"):
        return np.clip(values, PROB_CLIP, 1.0)


class PruneCache:
    """A session's pruning, once per probabilities and mass: which classes leave its runs (the last four kept) and
    their shared row (the last two: a stroke's runs reuse it, and 182 classes' sum costs a pass over them)."""

    def __init__(self):
        self._masks: dict = {}   # (probs key, mass) -> negligible_labels
        self._rests: dict = {}   # (probs key, mass) -> rest_prior of those labels

    def negligible(self, probs: np.ndarray, pkey, mass: float) -> np.ndarray | None:
        """The classes of these probabilities that leave the CRF at combined ``mass``; None at mass 0."""
        if mass <= 0:
            return None
        if (pkey, mass) not in self._masks:
            self._masks = dict(list(self._masks.items())[-3:])
            self._masks[(pkey, mass)] = negligible_labels(probs, mass)
        return self._masks[(pkey, mass)]

    def rest(self, probs: np.ndarray, pkey, mass: float, pruned: np.ndarray | None) -> np.ndarray | None:
        """rest_prior of the ``pruned`` classes (N floats), or None where none is pruned."""
        if pruned is None or not pruned.any():
            return None
        if (pkey, mass) not in self._rests:
            self._rests = dict(list(self._rests.items())[-1:])
            self._rests[(pkey, mass)] = rest_prior(probs, pruned)
        return self._rests[(pkey, mass)]

    def clear(self) -> None:
        self._masks, self._rests = {}, {}
