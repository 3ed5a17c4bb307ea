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
from . import keys, simd
from .buffers import POOL
from .prune import rest_prior
from .threads import PARALLEL_LOCK


@dataclass(frozen=True, eq=False)
class Prior:
    """prior (N,W) float32 = -unary of each group's first label, pixel-major, rows zero-padded to
    W = simd.row_width(G) for the CPU kernels; counts (G,) labels per group;
    group_of_label (C,) int32; rep_label (G,) int32 = first label of each group (groups sorted by it);
    pruned (C,) bool or None: labels given the pruned classes' shared row (prune.py)."""

    prior: np.ndarray
    counts: np.ndarray
    group_of_label: np.ndarray
    rep_label: np.ndarray
    key: tuple
    pruned: np.ndarray | None = None

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


BIG_PRIOR = 256 << 20  # bytes of unary (classes x pixels x 4) above which make_prior counts groups first


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


def make_prior(probs: np.ndarray, key: tuple | None = None, merge: bool = True, chunk: int = 4, locks=None,
               within: np.ndarray | None = None, pruned: np.ndarray | None = None,
               rest: np.ndarray | None = None) -> Prior:
    """Prior from softmax probabilities (C,H,W) float32 (or float16); `merge=False` keeps one channel per label.

    locks = (labels, locked): locked non-void pixels get the hard unary of constraints.hard_unary_probs (one-hot
    on their label), bit for bit, without copying the probabilities. within (C,) group ids: labels merge only
    inside the same group (local refinement refines the groups of the solution it starts from). pruned (C,) bool:
    labels that share one row wherever they are not locked: the log of their mean probability (prune.rest_prior,
    or `rest` when the caller has it).
    The unary is computed `chunk` classes at a time (engine.crf.unary, the one definition) and each new group's
    row goes straight into its column of the pixel-major prior, so memory is the prior plus `chunk` rows (at
    12 MP x 21 classes the former copy of every row was another 1 GB). A class joins a group only when its row
    is identical (a 64-bit fingerprint proposes, a comparison with the group's column decides).
    """
    c = probs.shape[0]
    n = probs.shape[1] * probs.shape[2]
    hard = lock_pixels(locks, c, probs.shape[1:])
    e0, e1 = hard_unary_values()
    if pruned is not None and not pruned.any():
        pruned = None
    if pruned is not None:
        rest = -(rest_prior(probs, pruned) if rest is None else rest)   # the pruned classes' unary
    u_chunk = POOL.take((min(chunk, c), n))

    def unary_rows(c0, k):
        u = unary_from_probs(probs[c0:c0 + k], out=u_chunk[:k])
        if pruned is not None:
            u[pruned[c0:c0 + k]] = rest
        if hard is not None and hard[0].size:
            idx, cls = hard
            u[:, idx] = e0
            mine = (cls >= c0) & (cls < c0 + k)
            u[cls[mine] - c0, idx[mine]] = e1
        with PARALLEL_LOCK:
            return u, (ck.row_fingerprints(u.view(np.uint32)) if merge else np.arange(c0, c0 + k))

    capacity = c
    if merge and n * c * 4 > BIG_PRIOR:  # large: count the distinct rows first, so the prior is made narrow
        seen = set()
        for c0 in range(0, c, chunk):
            _, fps = unary_rows(c0, min(chunk, c - c0))
            seen.update((int(f), None if within is None else int(within[c0 + r])) for r, f in enumerate(fps))
        capacity = len(seen)  # (a fingerprint shared by unequal rows, never seen yet, just widens it below)
    wide = POOL.take((n, simd.row_width(capacity)))  # columns 0..g-1: one per group so far
    groups: list[list[int]] = []
    by_fp: dict[tuple, list[int]] = {}  # (fingerprint, within) -> indices into groups
    for c0 in range(0, c, chunk):
        k = min(chunk, c - c0)
        u, fps = unary_rows(c0, k)
        for r in range(k):
            label = c0 + r
            cands = by_fp.setdefault((int(fps[r]), None if within is None else int(within[label])), [])
            for gi in cands:
                with PARALLEL_LOCK:
                    same = ck.prior_column_equals(wide, gi, u[r])
                if same:
                    groups[gi].append(label)
                    break
            else:
                if len(groups) == wide.shape[1]:
                    grown = np.empty((n, simd.row_width(len(groups) + 1)), np.float32)
                    with PARALLEL_LOCK:
                        ck.narrow_prior(wide, len(groups), grown)
                    wide = grown
                cands.append(len(groups))
                with PARALLEL_LOCK:
                    ck.set_prior_column(wide, len(groups), u[r])
                groups.append([label])
    POOL.give(u_chunk)
    g = len(groups)
    width = simd.row_width(g)
    prior = wide if width == wide.shape[1] else POOL.take((n, width))  # a recycled Q-shaped array: warm memory
    with PARALLEL_LOCK:
        ck.narrow_prior(wide, g, prior)  # (in place when as wide: zeroes the padding)
    if prior is not wide:
        POOL.give(wide)
    group_of_label = np.empty(c, np.int32)
    for gi, members in enumerate(groups):
        group_of_label[members] = gi
    counts = np.array([len(m) for m in groups], np.float32)
    rep_label = np.array([m[0] for m in groups], np.int32)
    return Prior(prior=prior, counts=counts, group_of_label=group_of_label, rep_label=rep_label,
                 key=key if key is not None else (probs_key(probs), locks_key(locks)), pruned=pruned)
