"""numba kernels that build a permutohedral lattice bit-compatible with pydensecrf's SSE path.

Why every detail is as it is (reference dense_crf.md §1.4): float32 elevation in the same operation order,
round-half-even, rank ties broken by the pairwise-compare rule, vertex keys stored as wrapping int16 (C `short`),
blur neighbours `key-1 / key+1` with `+d / -d` on the blur axis, and the normalisation pass (§1.6) with the
`old + 0.5*(a+b)` blur done in double as the C++ does. Vertex numbering is first-touch order; it does not affect
any result, only memory layout. No fastmath anywhere here: the float rounding must be the C++'s.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import threads  # noqa: F401  (chooses the threading layer before any parallel launch)

_CHUNK = 2048
_NORM_CHUNK = 4096
_LANES = 16  # points per vectorised block in embed_packed


@njit(inline="always")
def _wrap16(v):
    """C `short` assignment: keep the low 16 bits, signed (what x86 does after cvttss2si)."""
    return np.int16(((v + 32768) & 0xFFFF) - 32768)


@njit(inline="always")
def _simplex(feat, p, scale, d, elev, rem0, rank, b):
    """Enclosing simplex of point p, exactly as pydensecrf's SSE init: fills rem0 (the 0-coloured vertex, fixed
    up), rank and b (barycentric weights, d+2 slots). Returns False if the rank leaves [0, d]."""
    d1 = d + 1
    inv = np.float32(1.0) / np.float32(d1)
    dp1 = np.float32(d1)
    sm = np.float32(0.0)
    for j in range(d, 0, -1):
        cf = feat[p, j - 1] * scale[j - 1]
        elev[j] = sm - np.float32(j) * cf
        sm = sm + cf
    elev[0] = sm
    total = np.float32(0.0)
    for i in range(d1):
        v = np.rint(inv * elev[i])  # round half to even, like _mm_round_ps / cvtps in nearest mode
        rem0[i] = v * dp1
        total = total + v
    for i in range(d1):
        rank[i] = 0
        b[i] = elev[i] - rem0[i]
    for i in range(d):
        di = b[i]
        for j in range(i + 1, d1):
            c = np.int64(di < b[j])  # ties: the later index ranks higher (pairwise-compare rule)
            rank[i] += c
            rank[j] += 1 - c
    isum = np.int64(total)
    ok = True
    for i in range(d1):
        r = rank[i] + isum
        if r < 0:
            r += d1
            rem0[i] = rem0[i] + dp1
        elif r >= d1:
            r -= d1
            rem0[i] = rem0[i] - dp1
        rank[i] = r
        ok = ok and 0 <= r <= d
    if not ok:
        return False
    for i in range(d1 + 1):
        b[i] = 0.0
    for i in range(d1):
        v = (elev[i] - rem0[i]) * inv
        q = d - rank[i]
        b[q] = b[q] + v
        b[q + 1] = b[q + 1] - v
    b[0] = b[0] + (np.float32(1.0) + b[d1])
    return True


@njit(inline="always")
def _key(rem0, rank, r, i, d):
    """Coordinate i of vertex r: rem0 + canonical[r][rank] (canonical = r, or r-(d+1) past d-r), as int."""
    return np.int64(rem0[i]) + r - (d + 1) * np.int64(rank[i] > d - r)


@njit(nogil=True, parallel=True, cache=True)
def embed(feat, scale, keys, bary, bad):
    """Per point: its d+1 vertex keys (P,d+1,d) as C `short` (wrapping) and barycentric weights (P,d+1).

    bad[0] = 1 when a point's rank leaves [0, d] (features too large for float32; pydensecrf would write out of
    bounds there), so the caller can raise a clear error instead.
    """
    n, d = feat.shape
    d1 = d + 1
    nchunk = (n + _CHUNK - 1) // _CHUNK
    for c in prange(nchunk):
        elev = np.empty(d1, np.float32)
        rem0 = np.empty(d1, np.float32)
        rank = np.empty(d1, np.int64)
        b = np.empty(d1 + 1, np.float32)
        for p in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            if not _simplex(feat, p, scale, d, elev, rem0, rank, b):
                bad[0] = 1
                continue
            for r in range(d1):
                for i in range(d):
                    if abs(rem0[i]) >= 2147483648.0:
                        keys[p, r, i] = 0  # cvttss2si's "integer indefinite", low 16 bits
                    else:
                        keys[p, r, i] = _wrap16(_key(rem0, rank, r, i, d))
                bary[p, r] = b[r]


@njit(nogil=True, parallel=True, cache=True)
def embed_packed(feat, scale, lo, radix, stride, codes, bary, bad):
    """Like embed, but each vertex key becomes one int64 code sum_k (key_k - lo_k) * stride_k.

    Valid only when every key lies inside the (margin-padded) box [lo, lo+radix): then keys never wrap as
    int16 and codes compare exactly like keys. bad[0] = 2 flags a key outside the box (caller falls back).
    Points go in blocks of _LANES with every step a loop over the block, so the compiler vectorises across
    points as pydensecrf's SSE code does; each point's float32 operations are the same, in the same order.
    """
    n, d = feat.shape
    d1 = d + 1
    inv = np.float32(1.0) / np.float32(d1)
    dp1 = np.float32(d1)
    nblk = (n + _LANES - 1) // _LANES
    per = 64  # blocks per task: scratch is allocated once per task, not per block
    for task in prange((nblk + per - 1) // per):
        elev = np.empty((d1, _LANES), np.float32)
        rem0 = np.empty((d1, _LANES), np.float32)
        diff = np.empty((d1, _LANES), np.float32)
        rank = np.empty((d1, _LANES), np.int32)
        sm = np.empty(_LANES, np.float32)
        tot = np.empty(_LANES, np.float32)
        vp = np.empty(_LANES, np.float32)
        vm = np.empty(_LANES, np.float32)
        code = np.empty(_LANES, np.int64)
        base = np.empty((d1, _LANES), np.int64)
        for blk in range(task * per, min(nblk, (task + 1) * per)):
            _embed_block(feat, scale, lo, radix, stride, codes, bary, bad, blk * _LANES, d, inv, dp1,
                         elev, rem0, diff, rank, sm, tot, vp, vm, code, base)


@njit(inline="always")
def _embed_block(feat, scale, lo, radix, stride, codes, bary, bad, p0, d, inv, dp1,
                 elev, rem0, diff, rank, sm, tot, vp, vm, code, base):
    n = feat.shape[0]
    d1 = d + 1
    nb = min(n, p0 + _LANES) - p0
    for k in range(_LANES):
        sm[k] = 0.0
        tot[k] = 0.0
    for i in range(d1):
        for k in range(_LANES):
            rank[i, k] = 0
    for j in range(d, 0, -1):
        sj = scale[j - 1]
        fj = np.float32(j)
        for k in range(nb):
            cf = feat[p0 + k, j - 1] * sj
            elev[j, k] = sm[k] - fj * cf
            sm[k] = sm[k] + cf
    for k in range(nb):
        elev[0, k] = sm[k]
    for i in range(d1):
        for k in range(nb):
            v = np.rint(inv * elev[i, k])
            rem0[i, k] = v * dp1
            tot[k] = tot[k] + v
            diff[i, k] = elev[i, k] - rem0[i, k]
    for i in range(d):
        for j in range(i + 1, d1):
            for k in range(nb):
                c = np.int32(diff[i, k] < diff[j, k])
                rank[i, k] += c
                rank[j, k] += 1 - c
    flag = np.int64(0)
    for i in range(d1):
        for k in range(nb):
            r = rank[i, k] + np.int32(tot[k])
            shift = np.int32(d1) * (np.int32(r < 0) - np.int32(r >= d1))
            rank[i, k] = r + shift
            rem0[i, k] = rem0[i, k] + np.float32(shift)
            flag |= np.int64(r + shift < 0) | np.int64(r + shift > d)
    if flag:
        bad[0] = 1
        return
    for i in range(d1):
        for k in range(nb):
            diff[i, k] = (elev[i, k] - rem0[i, k]) * inv  # the barycentric increments v_i
    # b[q] += v_i, b[q+1] -= v_i for q = d - rank_i, in i order: each slot gets exactly one + and one -,
    # and IEEE addition commutes, so slot r = v(rank == d-r) - v(rank == d-r+1); slot 0 wraps with d+1.
    for i in range(d):
        for k in range(nb):
            base[i, k] = np.int64(rem0[i, k]) - lo[i]
    for r in range(d1):
        plus = d - r
        minus = d - r + 1 if r > 0 else 0
        for k in range(nb):
            vp[k] = 0.0
            vm[k] = 0.0
            code[k] = 0
        for i in range(d1):
            for k in range(nb):
                ri = rank[i, k]
                vp[k] += np.float32(ri == plus) * diff[i, k]  # + exact zeros: picks the one match
                vm[k] += np.float32(ri == minus) * diff[i, k]
        if r == 0:
            for k in range(nb):
                vp[k] = vp[k] + (np.float32(1.0) + (np.float32(0.0) - vm[k]))
        else:
            for k in range(nb):
                vp[k] = vp[k] - vm[k]
        for i in range(d):
            hi_i = radix[i] - d1
            st = stride[i]
            for k in range(nb):
                key = base[i, k] + (r - d1 * np.int64(rank[i, k] > plus))
                out = np.int64(key < d1) | np.int64(key >= hi_i)  # neighbours (+-d) stay in the box
                flag |= out
                code[k] += key * st
        for k in range(nb):
            bary[p0 + k, r] = vp[k]
            codes[p0 + k, r] = code[k]
    if flag:
        bad[0] = 2


@njit(nogil=True, cache=True)
def column_bounds(feat):
    """Per-column (min, max) of (N,d) features as float64 (one sequential pass; numpy's axis-0 min is slow)."""
    n, d = feat.shape
    lo = np.empty(d, np.float64)
    hi = np.empty(d, np.float64)
    for k in range(d):
        lo[k] = feat[0, k]
        hi[k] = feat[0, k]
    for p in range(1, n):
        for k in range(d):
            v = np.float64(feat[p, k])
            lo[k] = min(lo[k], v)
            hi[k] = max(hi[k], v)
    return lo, hi


@njit(nogil=True, parallel=True, cache=True)
def norm_weights(offsets, bary, nbr, n_vertices, alpha, out_weights):
    """NORMALIZE_SYMMETRIC: n = 1/sqrt(K*1 + 1e-20), K as pydensecrf's seqCompute; writes bary*n per point
    (``out_weights`` may be ``bary`` itself: each point's row is read whole before it is written).

    The splat stays sequential (pydensecrf's summation order); the blur and the slice are threaded.
    """
    n, d1 = offsets.shape
    vals = np.zeros(n_vertices + 1, np.float32)
    new = np.zeros(n_vertices + 1, np.float32)
    for p in range(n):
        for r in range(d1):
            vals[offsets[p, r]] += bary[p, r]
    nv = (n_vertices + _NORM_CHUNK - 1) // _NORM_CHUNK
    for j in range(d1):
        for c in prange(nv):
            for v in range(c * _NORM_CHUNK, min(n_vertices, (c + 1) * _NORM_CHUNK)):
                s = vals[nbr[j, v, 0]] + vals[nbr[j, v, 1]]
                new[v] = np.float32(np.float64(vals[v]) + 0.5 * np.float64(s))
        vals, new = new, vals
    npt = (n + _NORM_CHUNK - 1) // _NORM_CHUNK
    for c in prange(npt):
        for p in range(c * _NORM_CHUNK, min(n, (c + 1) * _NORM_CHUNK)):
            acc = np.float32(0.0)
            for r in range(d1):
                acc += (bary[p, r] * vals[offsets[p, r]]) * alpha
            nrm = np.float32(1.0 / np.sqrt(np.float64(acc) + 1e-20))
            for r in range(d1):
                out_weights[p, r] = bary[p, r] * nrm
