"""numba kernels of the streamed mean-field (stream.py): prior rows of a pixel tile, and a tile's splat.

Why separate from cpu_kernels.py: these work on one tile of pixels at a time, so a large image never holds its
prior or Q as (N, W) float32 arrays. The splat adds a tile's pixels to vertex rows in pixel order, as
cpu_kernels.splat does for the whole image: tiles are splatted in order, so every vertex row is the same
pixel-ordered sum, bit for bit, whatever the tile size or the number of tasks.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import (
    simd,
    threads,  # noqa: F401  (chooses the threading layer before any parallel launch)
)

_VCHUNK = 1024


@njit(nogil=True, parallel=True, cache=True)
def prior_rows_lut(codes, rep_label, table, a, out):
    """out[i, g] = table[codes[rep_label[g], a + i]] for the rows of out, padding columns 0.

    codes (C,N) uint16: float16 probabilities seen as their bits; table (65536,) float32: the prior value
    (log of the clipped probability, engine.crf.unary's arithmetic) of every float16."""
    n, width = out.shape
    groups = rep_label.shape[0]
    nch = (n + _VCHUNK - 1) // _VCHUNK
    for c in prange(nch):
        for i in range(c * _VCHUNK, min(n, (c + 1) * _VCHUNK)):
            for g in range(groups):
                out[i, g] = table[codes[rep_label[g], a + i]]
            for g in range(groups, width):
                out[i, g] = 0.0


@njit(inline="always")
def _check_rows(q, vals):
    if vals.shape[1] % 4 or q.shape[1] != vals.shape[1]:
        raise ValueError("q and the vertex rows must have the same width, a multiple of 4 floats")


@njit(inline="always", fastmath=True)
def _splat_span(q, a, off, w, vals, lo, hi, shift):
    """vals[v - shift] += w[a+i, j] * q[i] for the tile pixels i (points a+i) with lo <= off[a+i, j] == v < hi,
    in ascending i: whole padded rows (SIMD), as in cpu_kernels.splat. (shift: vals holds the vertex rows from
    `shift` on, grid_stream.py's staging rows; 0 for a whole buffer.)"""
    cw = vals.shape[1]
    stride = np.int64(cw * 4)
    base_q = simd.address(q)
    base_v = simd.address(vals) - shift * stride
    for i in range(q.shape[0]):
        p = a + i
        src = base_q + i * stride
        for j in range(off.shape[1]):
            o = np.int64(off[p, j])
            if lo <= o < hi:
                simd.axpy(base_v + o * stride, src, w[p, j], cw)


@njit(nogil=True, parallel=True, fastmath=True, cache=True)
def splat_tile(q, a, off, w, vals, cuts, shift):
    """vals[v - shift] += w[a+i, j] * q[i] for every tile pixel i (point a+i) with off[a+i, j] == v, in
    ascending i.

    Task t alone adds to the vertex rows cuts[t]..cuts[t+1]-1 (it scans the whole tile), so each row's sum runs
    in pixel order at any number of tasks."""
    _check_rows(q, vals)
    for t in prange(cuts.shape[0] - 1):
        lo, hi = max(cuts[t], shift), min(cuts[t + 1], shift + vals.shape[0])   # (never outside vals)
        _splat_span(q, a, off, w, vals, lo, hi, shift)


@njit(nogil=True, fastmath=True, cache=True)
def splat_tile_serial(q, a, off, w, vals, shift):
    """splat_tile as one task, with no parallel launch: the streamed sweep runs it on a thread of its own while
    the step kernel computes the next tile (stream.StreamEngine.sweep). The same adds in the same order."""
    _check_rows(q, vals)
    _splat_span(q, a, off, w, vals, shift, shift + vals.shape[0], shift)


@njit(nogil=True, parallel=True, cache=True)
def zero_rows(vals):
    """vals[:] = 0 on all threads (the vertex buffer a pass splats into)."""
    m, width = vals.shape
    nch = (m + _VCHUNK - 1) // _VCHUNK
    for c in prange(nch):
        for v in range(c * _VCHUNK, min(m, (c + 1) * _VCHUNK)):
            for k in range(width):
                vals[v, k] = 0.0


@njit(nogil=True, parallel=True, cache=True)
def row_sums_lut(codes, label, table, hard, use_hard, parts):
    """(parts,) float64: sums of table[codes[label, i]] over fixed, equal pixel ranges, pixels with hard[i] != 0
    left out (when use_hard). Summed in order by the caller: the same row always gives the same total."""
    n = codes.shape[1]
    per = (n + parts - 1) // parts
    out = np.zeros(parts, np.float64)
    for t in prange(parts):
        s = 0.0
        for i in range(t * per, min(n, (t + 1) * per)):
            if not (use_hard and hard[i]):
                s += table[codes[label, i]]
        out[t] = s
    return out


@njit(nogil=True, parallel=True, cache=True)
def rows_equal_lut(codes, l1, l2, table, hard, use_hard):
    """True when table[codes[l1]] == table[codes[l2]] at every pixel (pixels with hard[i] != 0 skipped)."""
    n = codes.shape[1]
    nch = (n + _VCHUNK * 64 - 1) // (_VCHUNK * 64)
    bad = np.zeros(nch, np.bool_)
    for c in prange(nch):
        for i in range(c * _VCHUNK * 64, min(n, (c + 1) * _VCHUNK * 64)):
            a, b = codes[l1, i], codes[l2, i]
            if a != b and table[a] != table[b] and not (use_hard and hard[i]):
                bad[c] = True
                break
    return not bad.any()


@njit(nogil=True, parallel=True, cache=True)
def negated_transpose(block, out):
    """out[i, g] = -block[g, i] for the G rows of block, padding columns of out 0 (prior rows from unaries)."""
    groups, n = block.shape
    width = out.shape[1]
    nch = (n + _VCHUNK - 1) // _VCHUNK
    for c in prange(nch):
        for i in range(c * _VCHUNK, min(n, (c + 1) * _VCHUNK)):
            for g in range(groups):
                out[i, g] = -block[g, i]
            for g in range(groups, width):
                out[i, g] = 0.0


@njit(nogil=True, parallel=True, cache=True)
def clipped_sums_lut(codes, labels, table, out):
    """out[p] = sum over `labels`, in their order, of table[codes[k, p]] in float32 (prune.rest_prior: the pruned
    classes' total, without a temporary per class). codes (C, N) uint16: float16 probabilities seen as their bits;
    table: every float16's clipped float32 value."""
    n = out.shape[0]
    nch = (n + _VCHUNK - 1) // _VCHUNK
    for c in prange(nch):
        for p in range(c * _VCHUNK, min(n, (c + 1) * _VCHUNK)):
            out[p] = 0.0
        for k in labels:
            for p in range(c * _VCHUNK, min(n, (c + 1) * _VCHUNK)):
                out[p] += table[codes[k, p]]
