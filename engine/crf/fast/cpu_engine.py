"""Mean-field iterations on the CPU with the numba kernels; one instance per (prior, lattices, weights).

An engine only computes: `initial()` gives Q_0 = softmax(prior), `iterate(q)` gives the next Q. Vertex buffers
come from the array pool for each iteration and go back after it. The splat is split between tasks by vertex
rows (owner_spans): each task writes only its own rows and adds the pixels touching them in pixel order, so
there are no private copies to reduce and Q is the same bit for bit at any thread count. Modes (memory is bounded):
  'shared'   one buffer per lattice for all labels;
  'chunked'  channels are filtered a chunk at a time, when one buffer per lattice would exceed WIDE_BUDGET.
`messages` (local refinement, window.py): per kernel, blurred vertex values added after every blur, the fixed
contribution of points outside the engine's own (the rest of the image, held at its current solution).
"""
from __future__ import annotations

import weakref

import numba
import numpy as np

from . import cpu_kernels as ck
from . import simd
from .buffers import POOL
from .cache import ByteLRU
from .lattice import Lattice
from .threads import PARALLEL_LOCK

WIDE_BUDGET = 1 << 30     # 'shared' mode: the vertex buffers (values + blur scratch) of both lattices
CHUNK_BUDGET = 256 << 20  # 'chunked' mode: vertex buffers of one channel chunk
MESSAGES_BUDGET = 128 << 20  # Q_0's filtered vertex values, reused by every weight setting


class _Term:
    """One pairwise kernel: its lattice, coefficient (Potts weight * alpha), vertex buffers and splat owners."""

    def __init__(self, lattice: Lattice, weight: float, n_active: int, tasks: int):
        self.lat = lattice
        self.coef = np.float32(np.float32(weight) * lattice.alpha)
        self.owners = owner_spans(lattice, tasks, n_active)
        self.messages = None  # blurred values added after the blur (M+1, W), if any
        self.vals = self.tmp = self.blurred = None

    def alloc(self, channels: int) -> None:
        """Buffers for `channels` from the pool (row M, read for missing blur neighbours, is zero)."""
        m1 = self.lat.n_vertices + 1
        if self.vals is not None and self.tmp is not None and self.vals.shape == (m1, channels):
            return
        self.release()
        self.vals = POOL.take((m1, channels))
        self.tmp = POOL.take((m1, channels))
        self.vals[m1 - 1] = 0.0
        self.tmp[m1 - 1] = 0.0

    def splat_blur(self, q: np.ndarray, c0: int = 0) -> None:
        """Blurred vertex values of channels c0.. of q (as many as the buffers are wide), plus the messages."""
        ck.splat(q, c0, self.lat.offsets, self.lat.weights, self.vals, self.owners, _NO_W, False)
        self.blurred = ck.blur(self.lat.neighbours, self.vals, self.tmp)
        if self.messages is not None:
            cw = self.blurred.shape[1]
            self.blurred += self.messages[:, c0:c0 + cw]

    def drop_scratch(self) -> None:
        """After the blur: give back the buffer that does not hold the result."""
        if self.blurred is self.vals:
            POOL.give(self.tmp)
            self.tmp = None
        elif self.blurred is self.tmp:
            POOL.give(self.vals)
            self.vals = None

    def release(self) -> None:
        """Give the vertex buffers back to the pool (they are scratch: nothing survives an iteration)."""
        for arr in (self.vals, self.tmp):
            POOL.give(arr)
        self.vals = self.tmp = self.blurred = None


class KeptMessages(list):
    """Filtered vertex values of Q_0, one array per term (a list with nbytes for the byte-bounded cache)."""

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self)


Q0_MESSAGES = ByteLRU(MESSAGES_BUDGET, max_items=16)  # (prior, lattices) -> KeptMessages: the first splat and
#   blur, of the newest priors (each stroke makes one: a walk's strokes kept 0.75 MB each, all of them)

_OWNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Lattice -> {(ntask, rows): owners}


def owners_for(offsets: np.ndarray, n_vertices: int, ntask: int, n_rows: int | None = None) -> np.ndarray:
    """(T, 4) int64 rows (v_lo, v_hi, p_lo, p_hi) splitting a splat of points 0..n_rows-1 between T <= ntask tasks.

    Vertex rows are cut where the number of (point, vertex) pairs is balanced; task t writes rows v_lo..v_hi and
    scans the points p_lo..p_hi-1, the span from the first to the last point touching one of them. Vertex ids
    are first-touch order, so consecutive id ranges are touched by mostly consecutive points and spans overlap
    little. Every row 0..M-1 belongs to exactly one task (rows no point touches are zeroed by their owner).
    """
    n_rows = offsets.shape[0] if n_rows is None else int(n_rows)
    m = int(n_vertices)
    if m == 0:
        return np.zeros((0, 4), np.int64)
    first, last, count = ck.touch_stats(offsets, n_rows, m, max(1, min(ntask, n_rows // 4096 or 1)))
    cum = np.cumsum(count)
    total = int(cum[-1])
    cuts = [0]
    for k in range(1, max(1, ntask)):
        v = int(np.searchsorted(cum, total * k / ntask, side="left")) + 1
        if cuts[-1] < v < m:
            cuts.append(v)
    cuts.append(m)
    owners = np.empty((len(cuts) - 1, 4), np.int64)
    for t, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        p_lo, p_hi = int(first[a:b].min()), int(last[a:b].max()) + 1
        owners[t] = (a, b - 1, p_lo, p_hi) if p_hi > p_lo else (a, b - 1, 0, 0)
    return owners


def owner_spans(lat: Lattice, ntask: int, n_rows: int | None = None) -> np.ndarray:
    """owners_for(lat) for points 0..n_rows-1 (all by default), cached per lattice."""
    n_rows = lat.offsets.shape[0] if n_rows is None else int(n_rows)
    per_lattice = _OWNERS.setdefault(lat, {})
    owners = per_lattice.get((ntask, n_rows))
    if owners is None:
        with PARALLEL_LOCK:
            owners = owners_for(lat.offsets, lat.n_vertices, ntask, n_rows)
        per_lattice[(ntask, n_rows)] = owners
    return owners


_NO_OFF = np.zeros((1, 1), np.int32)
_NO_W = np.zeros((1, 4), np.float32)


class CpuEngine:
    """numba mean-field for `prior` (n,W) float32 (G = len(counts) groups, rows zero-padded to W =
    simd.row_width(G), as prior.make_prior lays them out) with up to two Potts kernels [(lattice, weight), ...].
    Q arrays are numpy (N,W) float32 with zero padding. messages: None, or per kernel (M+1,W) float32 blurred
    values from points the engine does not iterate (their row M zero), see window.py."""

    kind = "cpu"

    def __init__(self, prior: np.ndarray, counts: np.ndarray, terms: list[tuple[Lattice, float]],
                 messages: list | None = None, chunk_budget: int = CHUNK_BUDGET, wide_budget: int = WIDE_BUDGET):
        if len(terms) > 2:
            raise ValueError("the CPU engine takes at most two pairwise kernels")
        if prior.ndim != 2 or prior.shape[1] != simd.row_width(counts.shape[0]) or not prior.flags.c_contiguous:
            raise ValueError(f"prior must be C-contiguous (N, {simd.row_width(counts.shape[0])}), got {prior.shape}")
        for lat, _ in terms:
            if lat.n_points != prior.shape[0]:
                raise ValueError(f"lattice has {lat.n_points} points, the prior {prior.shape[0]}")
        self.prior = prior
        self.counts = counts
        self.tasks = max(1, numba.get_num_threads())
        self.terms = []
        for k, (lat, w) in enumerate(terms):
            if w != 0:
                term = _Term(lat, w, prior.shape[0], self.tasks)
                if messages is not None:
                    term.messages = messages[k]
                    if term.messages.shape != (lat.n_vertices + 1, prior.shape[1]):
                        raise ValueError(f"messages must be {(lat.n_vertices + 1, prior.shape[1])}, "
                                         f"got {term.messages.shape}")
                self.terms.append(term)
        g = prior.shape[1]
        vertex_bytes = sum((t.lat.n_vertices + 1) * g * 4 for t in self.terms)
        self.mode = "shared" if 2 * vertex_bytes <= wide_budget else "chunked"
        self.chunk_budget = chunk_budget

    def expand(self, q: np.ndarray, group_of_label: np.ndarray, rep_label: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Merged Q (N,G) -> probabilities (C,N) float32 and labels (N,) uint8 (first maximum wins)."""
        probs = np.empty((group_of_label.shape[0], q.shape[0]), np.float32)
        labels = np.empty(q.shape[0], np.uint8)
        with PARALLEL_LOCK:
            ck.expand(q, group_of_label, rep_label, probs, labels)
        return probs, labels

    def labels(self, q: np.ndarray, rep_label: np.ndarray) -> np.ndarray:
        """Label per pixel (N,) uint8 of a merged Q, first maximum wins, without expanding the probabilities."""
        out = np.empty(q.shape[0], np.uint8)
        with PARALLEL_LOCK:
            ck.argmax_labels(q, rep_label, out)
        return out

    def initial(self) -> np.ndarray:
        """Q_0 = softmax(prior)."""
        with PARALLEL_LOCK:
            return self._step(self.prior, False)

    def iterate(self, q: np.ndarray, messages_key=None, out: np.ndarray | None = None, capture=None) -> np.ndarray:
        """Q_{t+1} from Q_t. With messages_key (the session passes one for Q_0, which every weight setting shares)
        the filtered vertex values of q are kept under that key and reused: they do not depend on the weights, so
        the first iteration after a weight change skips its splat and blur. `out` may be q itself (in place:
        big images keep no history). capture(blurred) receives each term's blurred vertex values (M+1,W) of q
        (scratch: copy what you keep); not in 'chunked' mode."""
        with PARALLEL_LOCK:
            if not self.terms:
                return self._softmax(self.prior, out=out)
            try:
                if self.mode == "chunked":
                    logits = self._chunked_logits(q)
                    if out is None:
                        return self._softmax(logits, out=logits)
                    q_next = self._softmax(logits, out=out)
                    POOL.give(logits)
                    return q_next
                key = None if messages_key is None else (messages_key, self.mode)
                kept = None if key is None else Q0_MESSAGES.get(key)
                if kept is not None:
                    for t, blurred in zip(self.terms, kept):
                        t.blurred = blurred
                else:
                    g = q.shape[1]
                    for t in self.terms:
                        t.alloc(g)
                        t.splat_blur(q)
                        t.drop_scratch()  # keep only the blurred values until the step: one buffer, not two
                    if key is not None and sum(t.blurred.nbytes for t in self.terms) <= Q0_MESSAGES.budget:
                        Q0_MESSAGES.put(key, KeptMessages([t.blurred.copy() for t in self.terms]))
                if capture is not None:
                    capture([t.blurred for t in self.terms])
                return self._step(self.prior, True, out=out)
            finally:
                for t in self.terms:
                    t.release()

    def step_from(self, blurred: list) -> np.ndarray:
        """Q = softmax(prior + sum of coef * slice(blurred[k])): an iteration whose messages are given (window.py)."""
        with PARALLEL_LOCK:
            if not self.terms:
                return self._softmax(self.prior)
            for t, b in zip(self.terms, blurred):
                t.blurred = b
            try:
                return self._step(self.prior, True)
            finally:
                for t in self.terms:
                    t.blurred = None

    def _step(self, logits: np.ndarray, slice_on: bool, out: np.ndarray | None = None) -> np.ndarray:
        """ck.step with this engine's terms (absent ones as dummies with their flags off)."""
        args = []
        for idx in range(2):
            if idx < len(self.terms) and slice_on:
                t = self.terms[idx]
                args += [t.lat.offsets, t.lat.weights, t.blurred, t.coef]
            else:
                args += [_NO_OFF, _NO_W, _NO_W, np.float32(0)]
        out = POOL.take(self.prior.shape) if out is None else out  # in place is safe: a row is read, then written
        ck.step(logits, self.counts, *args, out, slice_on and len(self.terms) > 0, slice_on and len(self.terms) > 1)
        return out

    def _softmax(self, logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self._step(logits, False, out)

    def _chunked_logits(self, q: np.ndarray) -> np.ndarray:
        """prior + sum of filtered messages, filtering `cw` channels at a time (bounded vertex buffers)."""
        logits = POOL.take(self.prior.shape)
        np.copyto(logits, self.prior)
        g = q.shape[1]
        for t in self.terms:
            m1 = t.lat.n_vertices + 1
            cw = int(min(g, self.chunk_budget // (2 * m1 * 4)))
            cw = max(4, cw - cw % 4)  # whole SIMD vectors (g is a multiple of 4, so every chunk is too)
            for c0 in range(0, g, cw):
                t.alloc(min(cw, g - c0))
                t.splat_blur(q, c0)
                ck.slice_add(logits, c0, t.lat.offsets, t.lat.weights, t.blurred, t.coef)
            t.release()
        return logits
