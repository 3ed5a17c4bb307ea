"""Unary side of the fast engine: exact merging of labels with identical unary rows (engines expand them back).

Why: mean-field cost is linear in the number of channels, and labels whose unary rows are identical stay
identical through every Potts mean-field iteration. Network softmax outputs clip at 1e-5 for every class absent
from the image, so those classes share one row and collapse to a single channel (reference dense_crf.md §3.2).
The unary itself comes from engine.crf.unary, the one definition every backend uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...labels import VOID
from ..unary import unary_from_probs
from . import cpu_kernels as ck
from . import keys
from . import simd
from .buffers import POOL
from .threads import PARALLEL_LOCK


@dataclass(frozen=True, eq=False)
class Prior:
    """prior (N,W) float32 = -unary of each group's first label, pixel-major, rows zero-padded to
    W = simd.row_width(G) for the CPU kernels; counts (G,) labels per group;
    group_of_label (C,) int32; rep_label (G,) int32 = first label of each group (groups sorted by it)."""

    prior: np.ndarray
    counts: np.ndarray
    group_of_label: np.ndarray
    rep_label: np.ndarray
    key: tuple

    @property
    def n_labels(self) -> int:
        return int(self.group_of_label.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.rep_label.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.prior.nbytes)


def probs_key(probs: np.ndarray) -> tuple:
    """Key of a (C,H,W) probability array for the caches (keys.array_key: numbered when frozen, else a 128-bit
    BLAKE2b digest). It lets a session notice that the GUI passed the same probabilities again."""
    return ("probs", keys.array_key(probs))


def hard_unary_values() -> tuple[np.float32, np.float32]:
    """(energy of probability 0, energy of probability 1) as unary_from_probs computes them (-log(clip(p)))."""
    e = unary_from_probs(np.array([[[0.0, 1.0]]], np.float32))
    return e[0, 0], e[0, 1]


def lock_pixels(locks, n_classes: int, shape_hw: tuple) -> tuple[np.ndarray, np.ndarray] | None:
    """(flat indices, classes) of the locked non-void pixels of locks = (labels (H,W) uint8, locked (H,W) bool)."""
    if locks is None:
        return None
    labels, locked = (np.asarray(a) for a in locks)
    if labels.shape != tuple(shape_hw) or locked.shape != tuple(shape_hw):
        raise ValueError(f"edit labels {labels.shape} and locks {locked.shape} must both be {tuple(shape_hw)}")
    hard = np.flatnonzero(np.asarray(locked, bool) & (labels != VOID))
    cls = labels.reshape(-1)[hard].astype(np.int64)
    if cls.size and int(cls.max()) >= n_classes:
        raise ValueError(f"a locked pixel has class {int(cls.max())} but the model has {n_classes} classes")
    return hard, cls


def locks_key(locks) -> tuple | None:
    """Cache key of lock constraints (labels, locked): what the prior of a constrained run depends on."""
    if locks is None:
        return None
    labels, locked = (np.asarray(a) for a in locks)
    return ("locks", keys.array_key(locked), keys.array_key(labels))


def make_prior(probs: np.ndarray, key: tuple | None = None, merge: bool = True, chunk: int = 16, locks=None,
               within: np.ndarray | None = None) -> Prior:
    """Prior from softmax probabilities (C,H,W) float32; `merge=False` keeps one channel per label.

    locks = (labels, locked): locked non-void pixels get the hard unary of constraints.hard_unary_probs (one-hot
    on their label), bit for bit, without copying the probabilities. within (C,) group ids: labels merge only
    inside the same group (local refinement refines the groups of the solution it starts from).
    The unary is computed `chunk` classes at a time (engine.crf.unary, the one definition) straight into the
    rows kept for new groups; memory is about groups x pixels twice on top of the input.
    Rows join a group only when bit-identical (a 64-bit fingerprint proposes, array_equal decides).
    """
    c = probs.shape[0]
    n = probs.shape[1] * probs.shape[2]
    hard = lock_pixels(locks, c, probs.shape[1:])
    e0, e1 = hard_unary_values()
    reps_u = POOL.take((c, n))  # rows 0..g-1: one per group so far; new rows are computed in place after them
    groups: list[list[int]] = []
    by_fp: dict[tuple, list[int]] = {}  # (fingerprint, within) -> indices into groups
    for c0 in range(0, c, chunk):
        k = min(chunk, c - c0)
        g0 = len(groups)
        u = unary_from_probs(probs[c0:c0 + k], out=reps_u[g0:g0 + k])
        if hard is not None and hard[0].size:
            idx, cls = hard
            u[:, idx] = e0
            mine = (cls >= c0) & (cls < c0 + k)
            u[cls[mine] - c0, idx[mine]] = e1
        with PARALLEL_LOCK:
            fps = ck.row_fingerprints(u.view(np.uint32)) if merge else np.arange(c0, c0 + k)
        for r in range(k):
            label = c0 + r
            cands = by_fp.setdefault((int(fps[r]), None if within is None else int(within[label])), [])
            row = reps_u[g0 + r]
            for gi in cands:
                if np.array_equal(reps_u[gi].view(np.uint32), row.view(np.uint32)):
                    groups[gi].append(label)
                    break
            else:
                cands.append(len(groups))
                if len(groups) != g0 + r:  # compact: an earlier row of this chunk merged (never overwrites unread rows)
                    reps_u[len(groups)] = row
                groups.append([label])
    g = len(groups)
    group_of_label = np.empty(c, np.int32)
    for gi, members in enumerate(groups):
        group_of_label[members] = gi
    prior = POOL.take((n, simd.row_width(g)))  # a recycled Q-shaped array when there is one: warm memory
    with PARALLEL_LOCK:
        ck.gather_prior(reps_u, np.arange(g, dtype=np.int64), prior)
    POOL.give(reps_u)
    counts = np.array([len(m) for m in groups], np.float32)
    rep_label = np.array([m[0] for m in groups], np.int32)
    return Prior(prior=prior, counts=counts, group_of_label=group_of_label, rep_label=rep_label,
                 key=key if key is not None else (probs_key(probs), locks_key(locks)))
