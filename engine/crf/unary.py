"""The unary energy from softmax probabilities, defined once so every backend sees identical input."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

PROB_CLIP = 1e-5  # same as pydensecrf.utils.unary_from_softmax
_SPLIT_MIN = 1 << 20  # elements; below this one thread is quicker than handing out work
_WORKERS = max(1, min(8, os.cpu_count() or 1))
_pool: ThreadPoolExecutor | None = None


def _workers() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="unary")
    return _pool


def _energies(src: np.ndarray, dst: np.ndarray) -> None:
    """dst = -log(clip(src)), in place in dst: clip, log and negate are numpy's, in this order."""
    np.clip(src, PROB_CLIP, 1.0, out=dst)
    np.log(dst, out=dst)
    np.negative(dst, out=dst)


def unary_from_probs(probs: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(C,H,W) probabilities -> (C,H*W) float32 C-contiguous energies -log(clip(p)).

    Written in place into `out` when given (C-contiguous float32 (C,H*W)); no temporaries. Large inputs are split
    by rows between threads (numpy releases the GIL); the values are the same bit for bit either way.
    """
    probs = np.asarray(probs, dtype=np.float32)
    c = probs.shape[0]
    src = probs.reshape(c, -1)
    if out is None:
        out = np.empty(src.shape, np.float32)
    elif out.shape != src.shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"unary output must be C-contiguous float32 {src.shape}, got {out.shape} {out.dtype}")
    flat_src, flat_out = src.reshape(-1), out.reshape(-1)
    parts = min(_WORKERS, flat_out.size // _SPLIT_MIN)
    if parts <= 1:
        _energies(flat_src, flat_out)
        return out
    bounds = np.linspace(0, flat_out.size, parts + 1).astype(np.int64)
    jobs = [_workers().submit(_energies, flat_src[a:b], flat_out[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    for job in jobs:
        job.result()
    return out
