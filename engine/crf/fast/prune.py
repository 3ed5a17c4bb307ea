"""Label pruning: classes with negligible probability everywhere in an image leave its CRF.

Why: mean-field cost and memory grow with the label count, and a 182-class model's image holds a dozen classes;
the rest keep small but unequal probabilities (a trained network rarely clips them all to pydensecrf's 1e-5), so
the exact merging of identical unary rows (prior.py) does not catch them. A pruned class gets the unary of
probability 0 (the 1e-5 clip) instead of its own, so all pruned classes share one row and one channel.

Which classes: taken from the least probable up, as many as keep their combined probability at or below
PRUNE_MASS at every pixel. Changing the probabilities of a set of classes by at most that mass per pixel moves the
solution by about as much: max |dQ| against the full solve is measured in the CRF tests (tests/engine/crf/
test_prune.py) and the benchmarks (docs/crf.md states it). A class that is locked somewhere keeps its own row at
its locked pixels (the lock's one-hot unary is written after), so painting a pruned class still shows it.
"""
from __future__ import annotations

import numpy as np

from ..base import nonnegative_max
from ..unary import PROB_CLIP

PRUNE_MASS = 1e-4  # the combined probability, at every pixel, of the classes a run may prune
PRUNE_LADDER = (1e-3, 1e-2, 3e-2)  # the masses a streamed run whose rows are too wide for its memory may prune at


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
