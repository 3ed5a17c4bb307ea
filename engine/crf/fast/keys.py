"""Cache keys for arrays: which probabilities (or images) a cached prior, history or lattice was made from.

The iteration histories are process-wide, so a key must never be shared by two different arrays (a 64-bit sum
was: four changed pixels kept it, and a fresh session got the previous image's result). Two kinds of key:

  ('frozen', n)          a read-only array that owns its memory (or a read-only view of one) cannot change while
                         it lives: it is numbered once, O(1) per call, and the number is never reused (the app
                         freezes the probabilities it holds, engine.annotate.state);
  ('blake2b', ..., hex)  anything else: shape, dtype and a 128-bit BLAKE2b digest of the bytes, hashed in 16 MB
                         pieces on a few threads (hashlib releases the GIL), the pieces' digests hashed again.
                         About 500 MB/s per core here: ~1 s for 6 MP x 21 classes (504 MB) on one core.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

PIECE = 16 << 20
_WORKERS = max(1, min(4, os.cpu_count() or 1))
_pool: ThreadPoolExecutor | None = None
_serials = itertools.count(1)
_frozen: dict[int, tuple[weakref.ref, int]] = {}
_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="digest")
    return _pool


def is_frozen(arr: np.ndarray) -> bool:
    """True when nothing can write to arr's memory through numpy: it and every array it views are read-only."""
    a = arr
    while isinstance(a, np.ndarray):
        if a.flags.writeable:
            return False
        if a.base is None:
            return True
        a = a.base
    return False  # a view of some other buffer (bytes, mmap, ...): its owner may still write


def digest(arr: np.ndarray) -> str:
    """128-bit BLAKE2b of the array's bytes (C order), hashed piecewise on worker threads."""
    data = memoryview(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))
    if len(data) <= PIECE:
        return hashlib.blake2b(data, digest_size=16).hexdigest()
    pieces = [data[i:i + PIECE] for i in range(0, len(data), PIECE)]
    parts = _workers().map(lambda piece: hashlib.blake2b(piece, digest_size=16).digest(), pieces)
    return hashlib.blake2b(b"".join(parts), digest_size=16, person=b"pieces16M").hexdigest()


def _forget(ident: int) -> None:
    with _lock:
        _frozen.pop(ident, None)


def array_key(arr: np.ndarray) -> tuple:
    """A key equal for two calls only if the arrays hold the same values (see the module docstring)."""
    if is_frozen(arr):
        ident = id(arr)
        with _lock:
            hit = _frozen.get(ident)
            if hit is not None and hit[0]() is arr:
                return ("frozen", hit[1])
            serial = next(_serials)
            _frozen[ident] = (weakref.ref(arr), serial)
        weakref.finalize(arr, _forget, ident)
        return ("frozen", serial)
    return ("blake2b", tuple(arr.shape), arr.dtype.str, digest(arr))


def freeze(arr: np.ndarray) -> np.ndarray:
    """Make arr read-only (so array_key numbers it instead of hashing it) and return it."""
    arr.flags.writeable = False
    return arr
