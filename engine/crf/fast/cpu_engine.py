"""Mean-field iterations on the CPU with the numba kernels; one instance per (prior, lattices, weights).

An engine only computes: `initial()` gives Q_0 = softmax(prior), `iterate(q)` gives the next Q. Vertex buffers
are allocated once and reused. How the splat is parallelised depends on labels x vertices (memory is bounded):
  'tasks'    each thread splats a pixel range into its own copy of the vertex buffers (few labels);
  'channels' one shared buffer per lattice, the two lattices splatted in parallel (many labels, e.g. 182);
  'chunked'  channels are filtered a chunk at a time, when even one shared buffer would exceed WIDE_BUDGET.
"""
from __future__ import annotations

import numba
import numpy as np

from . import cpu_kernels as ck
from . import simd
from .buffers import POOL
from .lattice import Lattice
from .threads import PARALLEL_LOCK

FUSED_BUDGET = 256 << 20  # 'tasks' mode: per-thread vertex buffers for all labels
WIDE_BUDGET = 1 << 30     # 'channels' mode: one shared pair of vertex buffers for all labels
CHUNK_BUDGET = 256 << 20  # 'chunked' mode: vertex buffers of one channel chunk


class _Term:
    """One pairwise kernel: its lattice, coefficient (Potts weight * alpha) and vertex buffers."""

    def __init__(self, lattice: Lattice, weight: float):
        self.lat = lattice
        self.coef = np.float32(np.float32(weight) * lattice.alpha)
        self.priv = self.vals = self.tmp = self.blurred = None

    def alloc(self, tasks: int, channels: int) -> None:
        """Buffers for `channels` from the pool; tasks = 0 means no private copies (the 'channels' mode)."""
        m1 = self.lat.n_vertices + 1
        if self.vals is not None and self.vals.shape == (m1, channels) and self.priv.shape[0] == tasks:
            return
        self.release()
        self.priv = POOL.take((tasks, m1 if tasks else 1, channels))
        self.vals = POOL.take((m1, channels))
        self.tmp = POOL.take((m1, channels))
        self.vals[m1 - 1] = 0.0  # the zero row that missing blur neighbours read
        self.tmp[m1 - 1] = 0.0

    def reduce_blur(self) -> None:
        self.blurred = ck.reduce_blur(self.priv, self.lat.neighbours, self.vals, self.tmp, self.priv.shape[0] > 0)

    def release(self) -> None:
        """Give the vertex buffers back to the pool (they are scratch: nothing survives an iteration)."""
        for arr in (self.priv, self.vals, self.tmp):
            POOL.give(arr)
        self.priv = self.vals = self.tmp = self.blurred = None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.priv, self.vals, self.tmp) if a is not None)


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

    def to_numpy(self, q) -> np.ndarray:
        return q

    @property
    def state_nbytes(self) -> int:
        return sum(t.nbytes for t in self.terms)

    def initial(self, more: bool = True) -> np.ndarray:
        """Q_0 = softmax(prior). (`more` is part of the engine contract; this engine does not need it.)"""
        with PARALLEL_LOCK:
            return self._step(self.prior, False)

    def iterate(self, q: np.ndarray, more: bool = True) -> np.ndarray:
        """Q_{t+1} from Q_t."""
        with PARALLEL_LOCK:
            if not self.terms:
                return self._softmax(self.prior)
            try:
                if self.mode == "chunked":
                    logits = self._chunked_logits(q)
                    return self._softmax(logits, out=logits)
                self._splat_blur(q)
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
            t.alloc(self.tasks, g)
        tg = self.terms[0]
        tb = self.terms[1] if len(self.terms) > 1 else None
        ck.splat(q, tg.lat.offsets, tg.lat.weights, tb.lat.offsets if tb else _NO_OFF,
                 tb.lat.weights if tb else _NO_W, tg.priv, tb.priv if tb else tg.priv[:, :1], True, tb is not None)
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
