"""A built permutohedral lattice with its symmetric normalisation folded in, ready for mean-field filtering.

The filter this lattice applies is exactly pydensecrf's NORMALIZE_SYMMETRIC kernel: out = n * K(n * Q), with K the
splat / (d+1) blurs / slice of permutohedral.cpp. We store per point the d+1 vertex ids and the weights
`bary * n_i`; the slice multiplies by `alpha` once more (reference dense_crf.md §1.5-1.6).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from ...errors import EngineError
from . import build_kernels as bk
from . import hash_kernels as hk
from .buffers import POOL, POOL_MAX_ARRAY
from .threads import PARALLEL_LOCK

_PARALLEL_INSERT_MIN = 1 << 16  # points per part, below which one thread is quicker
BUILD_CHUNK = 1 << 21   # points whose vertex codes are made and hashed at a time in a large build (96 MB for d=5)


def _is_large(points: int) -> bool:
    """A build made a chunk at a time, its weights normalised in place (more than two chunks of points)."""
    return points > 2 * BUILD_CHUNK
_INSERT_THREADS: ThreadPoolExecutor | None = None


@dataclass(frozen=True, eq=False)
class Lattice:
    """offsets (N,d+1) int32 vertex ids; weights (N,d+1) float32 = barycentric * norm; neighbours (d+1,M,2) int32
    (M = the zero row used for missing neighbours); alpha = 1/(1+2^-d) slice constant."""

    d: int
    n_points: int
    n_vertices: int
    offsets: np.ndarray
    weights: np.ndarray
    neighbours: np.ndarray
    alpha: np.float32

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.weights.nbytes + self.neighbours.nbytes)


def scale_factors(d: int) -> np.ndarray:
    """Diagonal of E (Adams et al.) as pydensecrf computes it: double maths, stored as float32."""
    inv_std_dev = np.float32(np.sqrt(2.0 / 3.0) * (d + 1))
    return np.array([np.float32(1.0 / np.sqrt((i + 2) * (i + 1)) * np.float64(inv_std_dev)) for i in range(d)],
                    dtype=np.float32)


def slice_alpha(d: int) -> np.float32:
    return np.float32(1.0) / (np.float32(1.0) + np.float32(2.0) ** np.float32(-d))


def build_lattice(features: np.ndarray) -> Lattice:
    """Build from (N,d) float32 features (see features.py). Raises EngineError for unusable features."""
    feat = np.ascontiguousarray(features, dtype=np.float32)
    if feat.ndim != 2 or feat.shape[0] == 0 or not 1 <= feat.shape[1] <= 16:
        raise EngineError(f"lattice features must be (N,d) with N>0 and 1<=d<=16, got {feat.shape}")
    if not np.isfinite(feat).all():
        raise EngineError("lattice features contain NaN or infinity")
    n, d = feat.shape
    if n % 4:
        # pydensecrf's SSE build processes 4 points at a time and also inserts the zero feature of the padding
        # slots; those vertices hold nothing but relay values between blur axes, so we create them too.
        feat = np.concatenate([feat, np.zeros((1, d), np.float32)])
    with PARALLEL_LOCK:
        return _build(feat, n, d)


def packing(feat: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(lo, radix, stride) of a mixed-radix int64 code for the vertex keys of these features, or None.

    Bounds come from interval arithmetic on the elevation (a linear map of the features) plus a margin for
    rounding, the rank fix-up, the canonical offsets and the blur neighbours. None when keys could leave the
    int16 range (pydensecrf's keys would wrap: the generic path reproduces that) or the code needs > 62 bits.
    """
    d = feat.shape[1]
    f_lo, f_hi = bk.column_bounds(feat)
    cf_lo, cf_hi = f_lo * scale, f_hi * scale  # scale > 0
    lo, hi = np.empty(d, np.int64), np.empty(d, np.int64)
    for j in range(d):
        e_lo, e_hi = cf_lo[j:].sum(), cf_hi[j:].sum()
        if j > 0:
            e_lo, e_hi = e_lo - j * cf_hi[j - 1], e_hi - j * cf_lo[j - 1]
        margin = 4 * (d + 1) + 1e-3 * max(abs(e_lo), abs(e_hi))
        lo[j], hi[j] = int(np.floor(e_lo - margin)), int(np.ceil(e_hi + margin))
    if lo.min() < -32768 or hi.max() > 32767:
        return None
    radix = hi - lo + 1
    if float(np.prod(radix.astype(np.float64))) >= 2.0 ** 62:
        return None
    stride = np.cumprod(np.concatenate([[1], radix[:-1]])).astype(np.int64)
    return lo, radix, stride


def _neighbour_deltas(stride: np.ndarray) -> np.ndarray:
    """Code offsets of pydensecrf's blur neighbours: key-1 / key+1, with +d / -d on axis j (j < d)."""
    d = stride.shape[0]
    deltas = np.empty((d + 1, 2), np.int64)
    for j in range(d + 1):
        axis = (d + 1) * stride[j] if j < d else 0
        deltas[j] = (-stride.sum() + axis, stride.sum() - axis)
    return deltas


def _insert_codes(codes, parts: int | None = None):
    """hk.insert_codes over all points, with the parts hashed concurrently and merged in order.

    Why: the hash insert was the largest serial step of a build (about 50 ms of 120 at 0.5 MP). Each part runs
    the serial, GIL-free kernel on its own thread; merging the later parts' vertices in their first-touch order
    gives exactly the ids of one sequential pass, so the lattice is unchanged. codes: the (P,d+1) int64 array, or
    a one-element list holding it, which is emptied once every part is hashed, so the keys (1.2 GB for a 24 MP
    bilateral lattice) are freed before the merged offsets are made (the caller keeps no other reference).
    """
    held = codes if isinstance(codes, list) else [codes]
    n = held[0].shape[0]
    if parts is None:
        parts = min(numba.get_num_threads(), n // _PARALLEL_INSERT_MIN)
    parts = min(parts, n)
    if parts <= 1:
        out = hk.insert_codes(held[0])
        held.clear()
        return out
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    spans = list(zip(bounds[:-1], bounds[1:]))
    later = [_insert_threads().submit(hk.insert_codes, held[0][a:b]) for a, b in spans[1:]]
    offsets0, vcodes, table = hk.insert_codes(held[0][spans[0][0]:spans[0][1]])
    results = [job.result() for job in later]
    del later
    d1 = held[0].shape[1]
    held.clear()
    offsets = np.empty((n, d1), np.int32)
    offsets[:spans[0][1]] = offsets0
    del offsets0
    m = vcodes.shape[0]
    for a, b in spans[1:]:
        part_offsets, part_codes, _ = results.pop(0)  # (each part's arrays go once merged)
        table, vcodes, m, ids = hk.merge_codes(table, vcodes, m, part_codes)
        hk.remap(part_offsets, ids)
        offsets[a:b] = part_offsets
        del part_offsets, part_codes
    return offsets, vcodes[:m].copy(), table


def _insert_threads() -> ThreadPoolExecutor:
    """Threads for the later parts of a split hash insert (the calling thread does the first part)."""
    global _INSERT_THREADS
    if _INSERT_THREADS is None:
        workers = max(1, numba.config.NUMBA_NUM_THREADS - 1)
        _INSERT_THREADS = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lattice-insert")
    return _INSERT_THREADS


def _insert_chunked(feat, scale, pack, bary, bad):
    """The vertex codes of BUILD_CHUNK points at a time, each chunk hashed on a worker while the next is embedded
    and merged in order (first-touch ids, so the lattice is exactly one sequential pass's). Why: all the codes at
    once are int64 (N,d+1), 1.2 GB for a 24 MP bilateral lattice, at the build's peak; here two chunks are held.
    None (with ``bad`` set) when a key leaves the packing box."""
    lo, radix, stride = pack
    n, d = feat.shape
    offsets = np.empty((n, d + 1), np.int32)
    merged = {"table": None, "vcodes": None, "m": 0}

    def merge(a, b, job):
        part_offsets, part_codes, part_table = job.result()
        if merged["table"] is None:
            merged.update(table=part_table, vcodes=part_codes, m=part_codes.shape[0])
        else:
            merged["table"], merged["vcodes"], merged["m"], ids = hk.merge_codes(
                merged["table"], merged["vcodes"], merged["m"], part_codes)
            hk.remap(part_offsets, ids)
        offsets[a:b] = part_offsets

    pending = None
    for a in range(0, n, BUILD_CHUNK):
        b = min(n, a + BUILD_CHUNK)
        codes = np.empty((b - a, d + 1), np.int64)
        bk.embed_packed(feat[a:b], scale, lo, radix, stride, codes, bary[a:b], bad)
        if bad[0]:
            if pending is not None:
                pending[2].result()
            return None
        job = _insert_threads().submit(hk.insert_codes, codes)
        del codes
        if pending is not None:
            merge(*pending)
        pending = (a, b, job)
    merge(*pending)
    return offsets, merged["vcodes"][:merged["m"]].copy(), merged["table"]


def _vertices(feat: np.ndarray, scale: np.ndarray, bary: np.ndarray):
    """(offsets (P,d+1) int32, neighbours (d+1,M,2) int32, M); packed codes when they fit, else int16 keys."""
    n, d = feat.shape
    bad = np.zeros(1, np.int64)
    pack = packing(feat, scale)
    if pack is not None and _is_large(n):
        found = _insert_chunked(feat, scale, pack, bary, bad)
        if found is not None:
            offsets, vcodes, table = found
            return offsets, hk.neighbours_packed(vcodes, table, _neighbour_deltas(pack[2])), vcodes.shape[0]
        if bad[0] == 1:
            return None
    elif pack is not None:
        lo, radix, stride = pack
        codes = POOL.take((n, d + 1), np.int64)  # scratch: recycled, since first touches are slow
        bk.embed_packed(feat, scale, lo, radix, stride, codes, bary, bad)
        if bad[0] == 0:
            pooled = codes if codes.nbytes <= POOL_MAX_ARRAY else None  # larger keys: freed once hashed
            keys = [codes]
            del codes
            offsets, vcodes, table = _insert_codes(keys)
            POOL.give(pooled)  # (warm memory for the next build)
            return offsets, hk.neighbours_packed(vcodes, table, _neighbour_deltas(stride)), vcodes.shape[0]
        POOL.give(codes)
        if bad[0] == 1:
            return None
    bad[0] = 0
    keys = np.empty((n, d + 1, d), np.int16)
    bk.embed(feat, scale, keys, bary, bad)
    if bad[0]:
        return None
    offsets, vkeys, table = hk.insert_all(keys)
    del keys
    return offsets, hk.neighbours(vkeys, table), vkeys.shape[0]


def _build(feat: np.ndarray, n: int, d: int) -> Lattice:
    # The barycentric weights: pooled scratch for a small build (warm memory), and for a large one the lattice's
    # own weights array, normalised in place, so a 24 MP build does not hold both (576 MB each, bilateral).
    large = _is_large(feat.shape[0])
    scratch = np.empty((feat.shape[0], d + 1), np.float32) if large else POOL.take((feat.shape[0], d + 1))
    try:
        found = _vertices(feat, scale_factors(d), scratch)
        if found is None:
            raise EngineError("CRF features are too large for a float32 lattice (a std slider is far too small); "
                              "increase the xy or rgb standard deviation")
        offsets, nbr, m = found
        offsets = np.ascontiguousarray(offsets[:n])
        alpha = slice_alpha(d)
        weights = scratch[:n] if large else np.empty((n, d + 1), np.float32)
        bk.norm_weights(offsets, scratch[:n], nbr, m, alpha, weights)   # in place when large: row by row
    finally:
        if not large:
            POOL.give(scratch)
    return Lattice(d=d, n_points=n, n_vertices=m, offsets=offsets, weights=weights, neighbours=nbr, alpha=alpha)
