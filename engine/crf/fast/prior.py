"""Unary side of the fast engine: exact merging of labels with identical unary rows (engines expand them back).

Why: mean-field cost is linear in the number of channels, and labels whose unary rows are identical stay
identical through every Potts mean-field iteration. Network softmax outputs clip at 1e-5 for every class absent
from the image, so those classes share one row and collapse to a single channel (reference dense_crf.md §3.2).
The unary itself comes from engine.crf.unary, the one definition every backend uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..unary import unary_from_probs
from . import cpu_kernels as ck
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
    """Content key of a (C,H,W) float32 probability array: shape plus a 64-bit fingerprint per class row.

    One threaded pass over the data; it lets a session notice that the GUI passed the same probabilities again
    (the GUI often passes fresh copies of unchanged data).
    """
    c = probs.shape[0]
    rows = np.ascontiguousarray(probs).reshape(c, -1).view(np.uint32)
    with PARALLEL_LOCK:
        fps = ck.row_fingerprints(rows)
    return (probs.shape, tuple(int(v) for v in fps))


def make_prior(probs: np.ndarray, key: tuple | None = None, merge: bool = True, chunk: int = 16) -> Prior:
    """Prior from softmax probabilities (C,H,W) float32; `merge=False` keeps one channel per label.

    The unary is computed `chunk` classes at a time (engine.crf.unary, the one definition) so temporaries stay
    small; only the rows of new groups are kept, so memory is about 2 x groups x pixels on top of the input.
    Rows join a group only when bit-identical (a 64-bit fingerprint proposes, array_equal decides).
    """
    c = probs.shape[0]
    n = probs.shape[1] * probs.shape[2]
    reps_u = POOL.take((c, n))  # when new, pages are touched only for the rows we keep
    u_chunk = POOL.take((min(chunk, c), n))  # reused: the unary is written into it in place
    groups: list[list[int]] = []
    by_fp: dict[int, list[int]] = {}  # fingerprint -> indices into groups
    for c0 in range(0, c, chunk):
        u = unary_from_probs(probs[c0:c0 + chunk], out=u_chunk[:min(chunk, c - c0)])
        with PARALLEL_LOCK:
            fps = ck.row_fingerprints(u.view(np.uint32)) if merge else np.arange(u.shape[0])
        for r in range(u.shape[0]):
            cands = by_fp.setdefault(int(fps[r]), [])
            for gi in cands:
                if np.array_equal(reps_u[gi].view(np.uint32), u[r].view(np.uint32)):
                    groups[gi].append(c0 + r)
                    break
            else:
                cands.append(len(groups))
                reps_u[len(groups)] = u[r]
                groups.append([c0 + r])
    POOL.give(u_chunk)
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
                 key=key if key is not None else probs_key(probs))
