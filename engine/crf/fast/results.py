"""An engine's Q turned into what a run returns: compact probabilities, full ones, or an iteration's preview.

Why a module of its own: these conversions are the same for the in-memory and the CUDA engines and need none of
the session's caches; FastSession (session.py) only picks which one a run wants.
"""
from __future__ import annotations

import numpy as np

from ..compact import CompactProbs
from . import cpu_kernels as ck
from . import simd
from .prior import Prior
from .threads import PARALLEL_LOCK


def compact(q, prior: Prior, shape: tuple[int, int]):
    """(CompactProbs, labels, uncertainty) of an engine Q, without a float32 (C,H,W) array."""
    if not isinstance(q, np.ndarray):  # torch: bring Q to the host, padded as the CPU kernels want
        g = prior.n_groups
        host = q.detach().cpu().numpy()
        q = np.zeros((host.shape[0], simd.row_width(g)), np.float32)
        q[:, :g] = host
    n = q.shape[0]
    out, codes = CompactProbs.grouped(prior.group_of_label, shape)
    labels = np.empty(n, np.uint8)
    unc = np.empty(n, np.float32)
    with PARALLEL_LOCK:
        ck.expand_compact(q, prior.group_of_label, prior.rep_label, prior.counts, codes, labels, unc)
    return out, labels.reshape(shape), unc.reshape(shape)


def full(eng, q, prior: Prior, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Engine Q -> probabilities (C,H,W) float32 and labels (H,W) uint8 on the host."""
    probs, labels = eng.expand(q, prior.group_of_label, prior.rep_label)
    return probs.reshape(-1, *shape), labels.reshape(shape)


def preview(kind: str | None, eng, q, prior: Prior, shape: tuple[int, int]):
    """What an iteration shows: a callable making its labels ("labels": only a caller that shows them pays for the
    argmax), its probabilities ("probs"), or None."""
    if kind == "labels":
        return lambda: eng.labels(q, prior.rep_label).reshape(shape)
    if kind == "probs":
        return full(eng, q, prior, shape)[0]
    return None
