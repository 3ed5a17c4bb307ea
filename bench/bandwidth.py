"""How fast could an exact CPU weight change be on this machine? Memory bandwidth against the bytes it must move.

    .venv/bin/python bench/bandwidth.py

Measures a STREAM-style triad (a = b + s*c, 64 MB arrays) with numba on 1 and all threads, then counts the
bytes a single exact mean-field iteration cannot avoid at 0.5 MP (816x612), DeepLab v1 sigmas: read Q_t, read
the prior, write Q_t+1 (rows padded as the engine pads them), and read each lattice's offsets and weights once
(a fully fused splat and slice; the engine reads them twice). Vertex buffers are left out (assumed cached). Ten
iterations over that traffic give the floor for a weight change, before any arithmetic.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.crf.fast import simd  # noqa: E402


@njit(parallel=True, nogil=True, fastmath=True)
def triad(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def triad_gb_s(threads: int, reps: int = 20) -> float:
    """Best triad bandwidth in GB/s, counting the three streams (no write-allocate)."""
    n = (64 << 20) // 4
    a, b, c = (np.ones(n, np.float32) for _ in range(3))
    numba.set_num_threads(threads)
    triad(a, b, c, np.float32(2))
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        triad(a, b, c, np.float32(2))
        best = min(best, time.perf_counter() - t)
    return 3 * a.nbytes / best / 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 triad repetitions instead of 20 (make bench)")
    reps = 5 if ap.parse_args(argv).quick else 20
    cores = numba.config.NUMBA_NUM_THREADS
    one, full = triad_gb_s(1, reps), triad_gb_s(cores, reps)
    print(f"triad bandwidth: {one:.1f} GB/s on 1 thread, {full:.1f} GB/s on {cores} threads (best of {reps})")
    n = 816 * 612
    for labels in (21, 3):
        q = n * simd.row_width(labels) * 4
        lattices = n * (6 + 3) * (4 + 4)  # bilateral d=5 and Gaussian d=2: int32 offset + float32 weight each
        per_iter = 3 * q + lattices
        floor_ms = 10 * per_iter / (full * 1e9) * 1000
        print(f"0.5 MP, {labels:2d} labels: >= {per_iter / 1e6:5.0f} MB per exact iteration -> a 10-iteration "
              f"weight change needs >= {floor_ms:4.0f} ms at {full:.1f} GB/s (50 ms needs "
              f"{10 * per_iter / 0.05 / 1e9:.0f} GB/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
