"""Recycled scratch and Q arrays for the CPU engine, so a mean-field iteration writes into warm memory.

Why: numpy hands arrays over 32 MB straight back to the OS, so every new Q (48 MB at 0.5 MP / 21 labels) came
from fresh pages. On the 2-core CI VM touching fresh memory costs about 0.7 ms per MB (measured: 34 ms for
48 MB, against 3 ms to rewrite it), more than half a mean-field iteration. Histories give back the Q arrays
they drop, engines give back their vertex buffers after each iteration, and both take from here first.
Whoever gives an array back must hold the only reference to it. The pool is bounded by bytes.
"""
from __future__ import annotations

import threading

import numpy as np

POOL_BUDGET = 512 << 20
POOL_MAX_ARRAY = 128 << 20  # larger arrays (large images, iterated in place) go back to the OS, not the pool


class ArrayPool:
    """Free arrays by (shape, dtype); `take` returns one (contents undefined) or a new one."""

    def __init__(self, budget: int = POOL_BUDGET):
        self.budget = int(budget)
        self._free: dict[tuple, list[np.ndarray]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def take(self, shape: tuple, dtype=np.float32) -> np.ndarray:
        key = (tuple(int(s) for s in shape), np.dtype(dtype).str)
        with self._lock:
            free = self._free.get(key)
            if free:
                arr = free.pop()
                if not free:
                    del self._free[key]
                self._bytes -= arr.nbytes
                return arr
        return np.empty(key[0], dtype)

    def give(self, arr) -> None:
        """Return an array nobody else references (anything not a C-contiguous numpy base array is ignored)."""
        if not isinstance(arr, np.ndarray) or arr.base is not None or not arr.flags.c_contiguous:
            return
        if arr.nbytes > min(self.budget, POOL_MAX_ARRAY):
            return
        key = (arr.shape, arr.dtype.str)
        with self._lock:
            while self._bytes + arr.nbytes > self.budget and self._free:
                self._drop_one()
            self._free.setdefault(key, []).append(arr)
            self._bytes += arr.nbytes

    def _drop_one(self) -> None:
        key = next(iter(self._free))  # oldest shape first
        old = self._free[key].pop(0)
        if not self._free[key]:
            del self._free[key]
        self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._free.clear()
            self._bytes = 0


POOL = ArrayPool()
