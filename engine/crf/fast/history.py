"""Q after every mean-field iteration for one (prior, lattices, weights), so the iteration slider is cheap.

Moving the slider down returns a kept Q at once; moving it up resumes from the newest kept Q and costs only
the added iterations. Results are bit-identical to a fresh run because the same kernels run on the same input.
Memory is bounded: past `budget` bytes, intermediate iterations are thinned out (the newest is always kept),
so going down may then recompute from the nearest kept iteration below. Dropped Q_t (t >= 1; Q_0 is shared
with the session's cache) go back to the array pool, so the next iterations write into warm memory.
"""
from __future__ import annotations

import threading

from .buffers import POOL
from .cache import ByteLRU

HISTORY_BUDGET = 640 << 20     # all histories together (process-wide)
PER_HISTORY_BUDGET = 512 << 20


class History:
    """Kept Q_t (engine arrays) by iteration t, and the engine that produced them."""

    def __init__(self, engine, budget: int = PER_HISTORY_BUDGET):
        self.engine = engine
        self.budget = budget
        self.qs: dict[int, object] = {}
        self.lock = threading.Lock()
        self.key = None
        self.lattice_keys: tuple = ()  # the cache keys of the lattices the engine filters with

    @property
    def nbytes(self) -> int:
        """Kept Q plus the engine's prior (it lives as long as the history: at 6 MP x 21 labels each is 0.6 GB)."""
        prior = getattr(self.engine, "prior", None)
        return sum(int(q.nbytes) for q in self.qs.values()) + int(getattr(prior, "nbytes", 0))

    def start_for(self, target: int) -> tuple[int, object] | None:
        """The kept (t, Q_t) with the largest t <= target, or None."""
        kept = [t for t in self.qs if t <= target]
        if not kept:
            return None
        t = max(kept)
        return t, self.qs[t]

    def keep(self, t: int, q) -> None:
        self.qs[t] = q
        self._thin(protect=t)

    def _thin(self, protect: int) -> None:
        """Drop the kept iteration closest to its predecessor until within budget (never `protect`)."""
        while len(self.qs) > 1 and self.nbytes > self.budget:
            ts = sorted(self.qs)
            candidates = [(ts[i] - ts[i - 1], ts[i]) for i in range(1, len(ts)) if ts[i] != protect]
            if ts[0] != protect:
                candidates.append((ts[0] + 1, ts[0]))
            if not candidates:
                return
            self._drop(min(candidates)[1])

    def _drop(self, t: int) -> None:
        q = self.qs.pop(t)
        if t > 0:
            POOL.give(q)  # numpy Q only (torch tensors are ignored); nothing else holds Q_t for t >= 1

    def release(self) -> None:
        """Evicted: hand the kept iterations back to the pool."""
        for t in list(self.qs):
            self._drop(t)


HISTORIES = ByteLRU(HISTORY_BUDGET, on_evict=lambda hist: hist.release())
