"""Mean-field iterations on the CPU with the numba kernels; one instance per (prior, lattices, weights).

An engine only computes: `initial()` gives Q_0 = softmax(prior), `iterate(q)` gives the next Q. Vertex buffers
come from the array pool for each iteration and go back after it. How the splat is parallelised depends on
labels x vertices (memory is bounded):
  'tasks'    each thread splats a pixel range; rows only it touches go straight to the shared buffer, the others
             to its private rows (task_spans);
  'channels' one shared buffer per lattice, the two lattices splatted in parallel (many labels, e.g. 182);
  'chunked'  channels are filtered a chunk at a time, when even one shared buffer would exceed WIDE_BUDGET.
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

FUSED_BUDGET = 256 << 20  # 'tasks' mode: per-thread vertex buffers for all labels
WIDE_BUDGET = 1 << 30     # 'channels' mode: one shared pair of vertex buffers for all labels
CHUNK_BUDGET = 256 << 20  # 'chunked' mode: vertex buffers of one channel chunk
MESSAGES_BUDGET = 128 << 20  # Q_0's filtered vertex values, reused by every weight setting


class _Term:
    """One pairwise kernel: its lattice, coefficient (Potts weight * alpha) and vertex buffers."""

    def __init__(self, lattice: Lattice, weight: float):
        self.lat = lattice
        self.coef = np.float32(np.float32(weight) * lattice.alpha)
        self.priv = self.vals = self.tmp = self.blurred = self.spans = None

    def alloc(self, tasks: int, channels: int, spans: np.ndarray | None = None) -> None:
        """Buffers for `channels` from the pool. tasks = 0: no private buffers (the 'channels' mode); spans (see
        task_spans) size each task's private rows, without them every task gets all rows."""
        m1 = self.lat.n_vertices + 1
        if spans is None:
            spans = np.array([[0, m1 - 1, 0, -1]] * tasks, np.int64).reshape(tasks, 4)
        rows = int(max(1, (spans[:, 1] - spans[:, 0] + 1).max(initial=1)))
        if (self.vals is not None and self.vals.shape == (m1, channels) and self.priv.shape == (tasks, rows, channels)
                and np.array_equal(self.spans, spans)):
            return
        self.release()
        self.spans = spans
        self.priv = POOL.take((tasks, rows, channels))
        self.vals = POOL.take((m1, channels))
        self.tmp = POOL.take((m1, channels))
        self.vals[m1 - 1] = 0.0  # the zero row that missing blur neighbours read
        self.tmp[m1 - 1] = 0.0

    def reduce_blur(self) -> None:
        self.blurred = ck.reduce_blur(self.priv, self.spans, self.lat.neighbours, self.vals, self.tmp,
                                      self.priv.shape[0] > 0)

    def release(self) -> None:
        """Give the vertex buffers back to the pool (they are scratch: nothing survives an iteration)."""
        for arr in (self.priv, self.vals, self.tmp):
            POOL.give(arr)
        self.priv = self.vals = self.tmp = self.blurred = self.spans = None


class _Kept(list):
    """Filtered vertex values of Q_0, one array per term (a list with nbytes for the byte-bounded cache)."""

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self)


Q0_MESSAGES = ByteLRU(MESSAGES_BUDGET)  # (prior, lattices) -> _Kept: the first iteration's splat and blur


_SPANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Lattice -> {ntask: spans}


def task_spans(lat: Lattice, ntask: int) -> np.ndarray:
    """(ntask, 4) int64 rows (lo, hi, a, b) for splitting a splat of `lat` between ntask pixel ranges.

    Task t touches vertex ids lo..hi; a..b (empty when a > b) are ids no other task touches, so the task can sum
    them straight into the shared buffer. Vertex ids are first-touch order, so consecutive pixel ranges touch
    mostly separate id ranges: the private rows and the reduce shrink to the overlaps. Cached per lattice.
    """
    per_lattice = _SPANS.setdefault(lat, {})
    spans = per_lattice.get(ntask)
    if spans is None:
        lohi = ck.task_spans(lat.offsets, ntask)
        used = [u for u in range(ntask) if lohi[u, 0] <= lohi[u, 1]]
        spans = np.empty((ntask, 4), np.int64)
        spans[:] = (0, -1, 0, -1)
        for t in used:
            lo, hi = int(lohi[t, 0]), int(lohi[t, 1])
            a = max([lo] + [int(lohi[u, 1]) + 1 for u in used if u < t])
            b = min([hi] + [int(lohi[u, 0]) - 1 for u in used if u > t])
            spans[t] = (lo, hi, a, b)
        per_lattice[ntask] = spans
    return spans


_NO_OFF = np.zeros((1, 1), np.int32)
_NO_W = np.zeros((1, 1), np.float32)


class CpuEngine:
    """numba mean-field for `prior` (N,W) float32 (G = len(counts) groups, rows zero-padded to W =
    simd.row_width(G), as prior.make_prior lays them out) with up to two Potts kernels [(lattice, weight), ...].
    Q arrays are numpy (N,W) float32 with zero padding."""

    kind = "cpu"

    def __init__(self, prior: np.ndarray, counts: np.ndarray, terms: list[tuple[Lattice, float]],
                 fused_budget: int = FUSED_BUDGET, chunk_budget: int = CHUNK_BUDGET, wide_budget: int = WIDE_BUDGET):
        if len(terms) > 2:
            raise ValueError("the CPU engine takes at most two pairwise kernels")
        if prior.ndim != 2 or prior.shape[1] != simd.row_width(counts.shape[0]) or not prior.flags.c_contiguous:
            raise ValueError(f"prior must be C-contiguous (N, {simd.row_width(counts.shape[0])}), got {prior.shape}")
        self.prior = prior
        self.counts = counts
        self.terms = [_Term(lat, w) for lat, w in terms if w != 0]
        self.tasks = max(1, numba.get_num_threads())
        g = prior.shape[1]
        vertex_bytes = sum((t.lat.n_vertices + 1) * g * 4 for t in self.terms)
        if (self.tasks + 2) * vertex_bytes <= fused_budget:
            self.mode = "tasks"
        elif 2 * vertex_bytes <= wide_budget:
            self.mode = "channels"
        else:
            self.mode = "chunked"
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

    def iterate(self, q: np.ndarray, messages_key=None) -> np.ndarray:
        """Q_{t+1} from Q_t. With messages_key (the session passes one for Q_0, which every weight setting shares)
        the filtered vertex values of q are kept under that key and reused: they do not depend on the weights, so
        the first iteration after a weight change skips its splat and blur."""
        with PARALLEL_LOCK:
            if not self.terms:
                return self._softmax(self.prior)
            try:
                if self.mode == "chunked":
                    logits = self._chunked_logits(q)
                    return self._softmax(logits, out=logits)
                key = None if messages_key is None else (messages_key, self.tasks, self.mode)
                kept = None if key is None else Q0_MESSAGES.get(key)
                if kept is not None:
                    for t, blurred in zip(self.terms, kept):
                        t.blurred = blurred
                else:
                    self._splat_blur(q)
                    if key is not None:
                        Q0_MESSAGES.put(key, _Kept([t.blurred.copy() for t in self.terms]))
                return self._step(self.prior, True)
            finally:
                for t in self.terms:
                    t.release()

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

    def _splat_blur(self, q: np.ndarray) -> None:
        g = q.shape[1]
        if self.mode == "channels":
            for t in self.terms:
                t.alloc(0, g)
            tg = self.terms[0]
            tb = self.terms[1] if len(self.terms) > 1 else None
            ck.splat_shared(q, tg.lat.offsets, tg.lat.weights, tg.vals, tb.lat.offsets if tb else _NO_OFF,
                            tb.lat.weights if tb else _NO_W, tb.vals if tb else tg.vals, True, tb is not None)
            for t in self.terms:
                t.reduce_blur()
            return
        for t in self.terms:
            t.alloc(self.tasks, g, task_spans(t.lat, self.tasks))
        tg = self.terms[0]
        tb = self.terms[1] if len(self.terms) > 1 else tg
        ck.splat(q, tg.lat.offsets, tg.lat.weights, tg.vals, tg.priv, tg.spans,
                 tb.lat.offsets, tb.lat.weights, tb.vals, tb.priv, tb.spans, True, len(self.terms) > 1)
        for t in self.terms:
            t.reduce_blur()

    def _chunked_logits(self, q: np.ndarray) -> np.ndarray:
        """prior + sum of filtered messages, filtering `cw` channels at a time (bounded vertex buffers)."""
        logits = POOL.take(self.prior.shape)
        np.copyto(logits, self.prior)
        g = q.shape[1]
        for t in self.terms:
            m1 = t.lat.n_vertices + 1
            cw = int(min(g, self.chunk_budget // ((self.tasks + 2) * m1 * 4)))
            cw = max(4, cw - cw % 4)  # whole SIMD vectors (g is a multiple of 4, so every chunk is too)
            for c0 in range(0, g, cw):
                t.alloc(self.tasks, min(cw, g - c0))
                ck.splat_chunk(q, c0, t.lat.offsets, t.lat.weights, t.priv)
                t.reduce_blur()
                ck.slice_add(logits, c0, t.lat.offsets, t.lat.weights, t.blurred, t.coef)
            t.release()
        return logits
