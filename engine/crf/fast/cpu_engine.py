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
from .lattice import Lattice
from .threads import PARALLEL_LOCK

FUSED_BUDGET = 256 << 20  # 'tasks' mode: per-thread vertex buffers for all labels
WIDE_BUDGET = 1 << 30     # 'channels' mode: one shared pair of vertex buffers for all labels
CHUNK_BUDGET = 256 << 20  # 'chunked' mode: vertex buffers of one channel chunk
FUSE_SPLAT = False  # splat inside the update pass: measured no faster here (cache pressure), kept switchable


class _Term:
    """One pairwise kernel: its lattice, coefficient (Potts weight * alpha) and vertex buffers."""

    def __init__(self, lattice: Lattice, weight: float):
        self.lat = lattice
        self.coef = np.float32(np.float32(weight) * lattice.alpha)
        self.priv = self.vals = self.tmp = self.blurred = None

    def alloc(self, tasks: int, channels: int) -> None:
        """Buffers for `channels`; tasks = 0 means no private copies (the 'channels' mode)."""
        m1 = self.lat.n_vertices + 1
        if self.vals is None or self.vals.shape != (m1, channels) or self.priv.shape[0] != tasks:
            self.priv = np.empty((tasks, m1 if tasks else 1, channels), np.float32)
            self.vals = np.zeros((m1, channels), np.float32)
            self.tmp = np.zeros((m1, channels), np.float32)
            self.blurred = None

    def reduce_blur(self) -> None:
        self.blurred = ck.reduce_blur(self.priv, self.lat.neighbours, self.vals, self.tmp, self.priv.shape[0] > 0)

    def release(self) -> None:
        self.priv = self.vals = self.tmp = self.blurred = None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.priv, self.vals, self.tmp) if a is not None)


_NO_OFF = np.zeros((1, 1), np.int32)
_NO_W = np.zeros((1, 1), np.float32)


class CpuEngine:
    """numba mean-field for `prior` (N,G) float32 with up to two Potts kernels [(lattice, weight), ...].
    Q arrays are numpy (N,G) float32."""

    kind = "cpu"

    def __init__(self, prior: np.ndarray, counts: np.ndarray, terms: list[tuple[Lattice, float]],
                 fused_budget: int = FUSED_BUDGET, chunk_budget: int = CHUNK_BUDGET, wide_budget: int = WIDE_BUDGET):
        if len(terms) > 2:
            raise ValueError("the CPU engine takes at most two pairwise kernels")
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
        self.fused = self.mode == "tasks"  # the new Q's splat can then ride along in the update pass
        self.chunk_budget = chunk_budget
        self._ready_for = None  # the Q whose splat is already blurred in the terms' buffers

    def to_numpy(self, q) -> np.ndarray:
        return q

    @property
    def state_nbytes(self) -> int:
        return sum(t.nbytes for t in self.terms)

    def initial(self, more: bool = True) -> np.ndarray:
        with PARALLEL_LOCK:
            splat = more and FUSE_SPLAT and self.fused and bool(self.terms)
            out = self._step(self.prior, False, splat)
            if splat:
                for t in self.terms:
                    t.reduce_blur()
                self._ready_for = out
            return out

    def iterate(self, q: np.ndarray, more: bool = True) -> np.ndarray:
        """Q_{t+1} from Q_t; `more` says another iteration will follow (so its splat can be fused in)."""
        with PARALLEL_LOCK:
            if not self.terms:
                return self._softmax(self.prior)
            if self.mode == "chunked":
                logits = self._chunked_logits(q)
                return self._softmax(logits, out=logits)
            if self._ready_for is not q:
                self._splat_blur(q)
            fuse = more and FUSE_SPLAT and self.fused
            out = self._step(self.prior, True, fuse)
            if fuse:
                for t in self.terms:
                    t.reduce_blur()
                self._ready_for = out
            else:
                self._ready_for = None
            return out

    def _step(self, logits: np.ndarray, slice_on: bool, splat: bool, out: np.ndarray | None = None) -> np.ndarray:
        """ck.step with this engine's terms (absent ones as dummies with their flags off)."""
        args, privs = [], []
        for idx in range(2):
            if idx < len(self.terms):
                t = self.terms[idx]
                if splat:
                    t.alloc(self.tasks, self.prior.shape[1])
                args += [t.lat.offsets, t.lat.weights, t.blurred if slice_on else _NO_W, t.coef]
                privs.append(t.priv if splat else None)
            else:
                args += [_NO_OFF, _NO_W, _NO_W, np.float32(0)]
                privs.append(None)
        dummy = np.zeros((self.tasks, 1, 1), np.float32)
        pg = privs[0] if privs[0] is not None else dummy
        pb = privs[1] if privs[1] is not None else dummy
        out = np.empty_like(self.prior) if out is None else out  # in place is safe: blocks read, then write
        ck.step(logits, self.counts, *args, out, slice_on and len(self.terms) > 0, slice_on and len(self.terms) > 1,
                pg, pb, privs[0] is not None, privs[1] is not None)
        return out

    def _softmax(self, logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return self._step(logits, False, False, out)

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
            self._ready_for = q
            return
        for t in self.terms:
            t.alloc(self.tasks, g)
        tg = self.terms[0]
        tb = self.terms[1] if len(self.terms) > 1 else None
        ck.splat(q, tg.lat.offsets, tg.lat.weights, tb.lat.offsets if tb else _NO_OFF,
                 tb.lat.weights if tb else _NO_W, tg.priv, tb.priv if tb else tg.priv[:, :1], True, tb is not None)
        for t in self.terms:
            t.reduce_blur()
        self._ready_for = q

    def _chunked_logits(self, q: np.ndarray) -> np.ndarray:
        """prior + sum of filtered messages, filtering `cw` channels at a time (bounded vertex buffers)."""
        logits = self.prior.copy()
        g = q.shape[1]
        for t in self.terms:
            m1 = t.lat.n_vertices + 1
            cw = int(max(1, min(g, self.chunk_budget // ((self.tasks + 2) * m1 * 4))))
            for c0 in range(0, g, cw):
                t.alloc(self.tasks, min(cw, g - c0))
                ck.splat_chunk(q, c0, t.lat.offsets, t.lat.weights, t.priv)
                t.reduce_blur()
                ck.slice_add(logits, c0, t.lat.offsets, t.lat.weights, t.blurred, t.coef)
            t.release()
        return logits
