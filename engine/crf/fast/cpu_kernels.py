"""numba mean-field kernels for the CPU path: threaded, GIL-free, vectorised over labels or pixels.

Per iteration: `splat` scatters Q into the vertex buffers (each task owns a range of vertex rows and adds the
pixels that touch them in pixel order, so the sums do not depend on the thread count), `blur` runs the d+1
double-buffered blurs, `step` slices both lattices, adds the prior and takes the softmax. These three move whole
padded rows with explicit SIMD (simd.py). (Fusing the next splat into `step` was measured slower, with and
without SIMD.)

Layouts: Q, prior (N,W) float32 pixel-major (like pydensecrf's Eigen matrices), W = simd.row_width(G) with zero
padding; vertex values (M+1,W) with row M the zero row for missing neighbours. G counts merged label groups;
`counts[g]` labels share group g, so the softmax denominator is sum_g counts[g]*exp(l_g) (exact merging, §3.2).

Float order differs from pydensecrf only at the ulp level (fused multiplies, a polynomial exp with relative error
~1.2e-7); every splat sum runs in pydensecrf's pixel order, and the lattice and every structural choice are
identical.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from . import simd
from . import threads  # noqa: F401  (chooses the threading layer before any parallel launch)

_BLOCK = 64  # pixels per softmax block: their logits are exponentiated as one flat, vectorised loop
_VCHUNK = 1024
_STEP_BLOCKS = 16  # blocks per parallel work item in step
_EXPAND = 512  # pixels per block in expand


@intrinsic
def _bits_to_f32(typingctx, x):
    """Reinterpret int32 bits as float32 (builds 2**n for the exp below; vectorises, unlike a table)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@njit(inline="always", fastmath=True)
def fexp(x):
    """exp(x) for x <= 0 in float32, relative error <= 1.3e-7; exp(x < -87) is flushed to ~1e-38."""
    x = max(x, np.float32(-87.0))
    n = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))
    f = x - n * np.float32(0.693145751953125) - n * np.float32(1.4286068203094172e-06)
    p = np.float32(1.0 / 5040.0)
    p = p * f + np.float32(1.0 / 720.0)
    p = p * f + np.float32(1.0 / 120.0)
    p = p * f + np.float32(1.0 / 24.0)
    p = p * f + np.float32(1.0 / 6.0)
    p = p * f + np.float32(0.5)
    p = p * f + np.float32(1.0)
    p = p * f + np.float32(1.0)
    return p * _bits_to_f32((np.int32(n) + np.int32(127)) << np.int32(23))


@njit(inline="always", fastmath=True)
def _update_block(i0, nb, prior, counts, offg, wg, vg, cg, offb, wb, vb, cb, q_out, slice_g, slice_b, acc, tr, mx, sm):
    """Rows i0..i0+nb of q_out = softmax(prior + cg*slice_g(vg) + cb*slice_b(vb)), with group counts.

    Slicing adds whole vertex rows with SIMD into acc (nb, W); the logits are then transposed to channel-major so
    max / exp / sum / divide run as long vectorised loops over pixels (measured faster than a per-row SIMD softmax
    with horizontal reductions). The G = len(counts) real channels take part; q_out's padding is written as 0.
    """
    W = prior.shape[1]
    G = counts.shape[0]
    stride = np.int64(W * 4)
    base_a = simd.address(acc)
    base_p = simd.address(prior)
    base_g = simd.address(vg)
    base_b = simd.address(vb)
    for r in range(nb):
        i = i0 + r
        row = base_a + r * stride
        simd.copy(row, base_p + i * stride, W)
        if slice_g:
            for j in range(offg.shape[1]):
                simd.axpy(row, base_g + np.int64(offg[i, j]) * stride, wg[i, j] * cg, W)
        if slice_b:
            for j in range(offb.shape[1]):
                simd.axpy(row, base_b + np.int64(offb[i, j]) * stride, wb[i, j] * cb, W)
    for r in range(nb):
        for k in range(G):
            tr[k, r] = acc[r, k]
    for r in range(nb):
        mx[r] = tr[0, r]
        sm[r] = 0.0
    for k in range(1, G):
        for r in range(nb):
            mx[r] = max(mx[r], tr[k, r])
    for k in range(G):
        ck = counts[k]
        for r in range(nb):
            e = fexp(tr[k, r] - mx[r])
            tr[k, r] = e
            sm[r] += ck * e
    for r in range(nb):
        mx[r] = np.float32(1.0) / sm[r]
    for r in range(nb):
        i = i0 + r
        for k in range(G):
            q_out[i, k] = tr[k, r] * mx[r]
        for k in range(G, W):
            q_out[i, k] = 0.0


@njit(nogil=True, parallel=True, fastmath=True, cache=True)
def step(prior, counts, offg, wg, vg, cg, offb, wb, vb, cb, q_out, slice_g, slice_b):
    """One mean-field update: q_out = softmax(prior + cg*slice_g(vg) + cb*slice_b(vb)) with group counts.

    Rows are padded to W floats (simd.row_width). cg/cb are Potts weight * alpha; a kernel whose flag is off is
    skipped (weight 0, or the first softmax). See _update_block.
    """
    n, W = prior.shape
    if W % 4:
        raise ValueError("rows must be padded to a multiple of 4 floats")
    G = counts.shape[0]
    nblk = (n + _BLOCK - 1) // _BLOCK
    nch = (nblk + _STEP_BLOCKS - 1) // _STEP_BLOCKS
    for c in prange(nch):
        acc = np.empty((_BLOCK, W), np.float32)
        tr = np.empty((G, _BLOCK), np.float32)
        mx = np.empty(_BLOCK, np.float32)
        sm = np.empty(_BLOCK, np.float32)
        for blk in range(c * _STEP_BLOCKS, min(nblk, (c + 1) * _STEP_BLOCKS)):
            i0 = blk * _BLOCK
            _update_block(i0, min(n, i0 + _BLOCK) - i0, prior, counts, offg, wg, vg, cg, offb, wb, vb, cb, q_out,
                          slice_g, slice_b, acc, tr, mx, sm)


@njit(inline="always", fastmath=True)
def _splat_owned(q, c0, off, w, vals, base, use_base, v_lo, v_hi, p_lo, p_hi):
    """vals[v] = (base[v, c0:c0+cw] or 0) + sum of w[i, j] * q[i, c0:c0+cw] over off[i, j] == v, for the vertex
    rows v_lo..v_hi, scanning pixels p_lo..p_hi-1 in ascending order (cw = vals' row width), whole rows with SIMD."""
    cw = vals.shape[1]
    stride_q = np.int64(q.shape[1] * 4)
    stride_v = np.int64(cw * 4)
    base_q = simd.address(q) + np.int64(c0) * 4
    base_v = simd.address(vals)
    if use_base:
        vals[v_lo:v_hi + 1, :] = base[v_lo:v_hi + 1, c0:c0 + cw]
    else:
        vals[v_lo:v_hi + 1, :] = 0.0
    for i in range(p_lo, p_hi):
        src = base_q + i * stride_q
        for j in range(off.shape[1]):
            o = np.int64(off[i, j])
            if v_lo <= o and o <= v_hi:
                simd.axpy(base_v + o * stride_v, src, w[i, j], cw)


@njit(nogil=True, parallel=True, fastmath=True, cache=True)
def splat(q, c0, off, w, vals, owners, base, use_base):
    """Splat channels c0..c0+cw of Q (rows = points) into vals (M+1, cw), optionally on top of `base`.

    owners (T, 4) int64 rows (v_lo, v_hi, p_lo, p_hi), see cpu_engine.owner_spans: task t alone writes vertex rows
    v_lo..v_hi, adding the pixels p_lo..p_hi-1 that touch them in ascending order. So every vertex row is the
    pixel-ordered sum pydensecrf computes, whatever the number of tasks or threads: Q does not depend on the
    thread count, bit for bit. Row M (the zero row for missing neighbours) is not touched.
    """
    if vals.shape[1] % 4:
        raise ValueError("rows must be padded to a multiple of 4 floats")
    for t in prange(owners.shape[0]):
        _splat_owned(q, c0, off, w, vals, base, use_base, owners[t, 0], owners[t, 1], owners[t, 2], owners[t, 3])


@njit(nogil=True, parallel=True, cache=True)
def touch_stats(off, n_rows, m, parts):
    """(first, last, count) (M,) int64 over points 0..n_rows-1: the first and last point whose d+1 vertex ids include
    v (first = n_rows, last = -1 when none) and how many (point, vertex) pairs name v. Threaded over point ranges."""
    per = (n_rows + parts - 1) // parts
    first = np.full((parts, m), n_rows, np.int64)
    last = np.full((parts, m), -1, np.int64)
    count = np.zeros((parts, m), np.int64)
    for t in prange(parts):
        for i in range(t * per, min(n_rows, (t + 1) * per)):
            for j in range(off.shape[1]):
                v = off[i, j]
                if first[t, v] == n_rows:
                    first[t, v] = i
                last[t, v] = i
                count[t, v] += 1
    f = np.empty(m, np.int64)
    lst = np.empty(m, np.int64)
    cnt = np.empty(m, np.int64)
    nch = (m + _VCHUNK - 1) // _VCHUNK
    for c in prange(nch):
        for v in range(c * _VCHUNK, min(m, (c + 1) * _VCHUNK)):
            f[v] = first[0, v]
            lst[v] = last[0, v]
            cnt[v] = count[0, v]
            for t in range(1, parts):
                f[v] = min(f[v], first[t, v])
                lst[v] = max(lst[v], last[t, v])
                cnt[v] += count[t, v]
    return f, lst, cnt


@njit(nogil=True, parallel=True, fastmath=True, cache=True)
def blur(nbr, vals, tmp):
    """Blur vertex rows along the d+1 axes, double-buffered: new = old + 0.5*(n1 + n2), whole padded rows.
    Returns whichever of vals/tmp holds the result; row M of both must be zero (missing neighbours read it)."""
    m1, W = vals.shape
    if W % 4:
        raise ValueError("rows must be padded to a multiple of 4 floats")
    stride = np.int64(W * 4)
    d1, m, _ = nbr.shape
    base_v = simd.address(vals)
    src, dst = base_v, simd.address(tmp)
    nch = (m + _VCHUNK - 1) // _VCHUNK
    for j in range(d1):
        for c in prange(nch):
            for v in range(c * _VCHUNK, min(m, (c + 1) * _VCHUNK)):
                simd.blur(dst + v * stride, src + v * stride, src + np.int64(nbr[j, v, 0]) * stride,
                          src + np.int64(nbr[j, v, 1]) * stride, W)
        src, dst = dst, src
    return vals if src == base_v else tmp


@njit(nogil=True, parallel=True, fastmath=True, cache=True)
def slice_add(logits, c0, off, w, vals, coef):
    """logits[:, c0:c0+cw] += coef * slice(vals), cw = vals' row width (a multiple of 4), rows with SIMD."""
    n = logits.shape[0]
    cw = vals.shape[1]
    stride_l = np.int64(logits.shape[1] * 4)
    stride_v = np.int64(cw * 4)
    base_l = simd.address(logits) + np.int64(c0) * 4
    base_v = simd.address(vals)
    nch = (n + _VCHUNK - 1) // _VCHUNK
    for c in prange(nch):
        for i in range(c * _VCHUNK, min(n, (c + 1) * _VCHUNK)):
            for j in range(off.shape[1]):
                simd.axpy(base_l + i * stride_l, base_v + np.int64(off[i, j]) * stride_v, w[i, j] * coef, cw)


# ---- input / output conversions ----

@njit(nogil=True, parallel=True, cache=True)
def row_fingerprints(x):
    """A 64-bit fingerprint of each row of a (R, L) uint32 view; equal rows give equal values."""
    r, length = x.shape
    out = np.zeros(r, np.int64)
    for c in prange(r):
        h = np.int64(0)
        for i in range(length):
            z = (np.int64(x[c, i]) + np.int64(i) * np.int64(-7046029254386353131)) * np.int64(-4658895280553007687)
            h += z ^ (z >> 29)
        out[c] = h
    return out


@njit(nogil=True, parallel=True, cache=True)
def set_prior_column(prior, g, u):
    """prior[:, g] = -u for one class's unary energies u (N,): a new group's column of the pixel-major prior."""
    n = u.shape[0]
    nch = (n + _VCHUNK - 1) // _VCHUNK
    for c in prange(nch):
        for i in range(c * _VCHUNK, min(n, (c + 1) * _VCHUNK)):
            prior[i, g] = -u[i]


@njit(nogil=True, parallel=True, cache=True)
def prior_column_equals(prior, g, u):
    """True when prior[:, g] == -u everywhere: the class joins group g exactly (a fingerprint only proposes)."""
    n = u.shape[0]
    nch = (n + _VCHUNK - 1) // _VCHUNK
    bad = np.zeros(nch, np.bool_)
    for c in prange(nch):
        for i in range(c * _VCHUNK, min(n, (c + 1) * _VCHUNK)):
            if prior[i, g] != -u[i]:
                bad[c] = True
                break
    return not bad.any()


@njit(nogil=True, parallel=True, cache=True)
def narrow_prior(src, g, dst):
    """dst (N, W') = the first g columns of src, zero padding after them (W' <= src's width, or src itself)."""
    n = src.shape[0]
    nch = (n + _VCHUNK - 1) // _VCHUNK
    for c in prange(nch):
        for i in range(c * _VCHUNK, min(n, (c + 1) * _VCHUNK)):
            for k in range(g):
                dst[i, k] = src[i, k]
            for k in range(g, dst.shape[1]):
                dst[i, k] = 0.0


@njit(inline="always")
def _argmax_rows(q, rep_label, labels_out, i0, i1):
    G = rep_label.shape[0]
    for i in range(i0, i1):
        best = 0
        bv = q[i, 0]
        for g in range(1, G):
            if q[i, g] > bv:
                bv = q[i, g]
                best = g
        labels_out[i] = rep_label[best]


@njit(nogil=True, parallel=True, cache=True)
def argmax_labels(q, rep_label, labels_out):
    """labels_out (N,) = label of the first largest group of each row of q (padding columns ignored)."""
    n = q.shape[0]
    nch = (n + _EXPAND - 1) // _EXPAND
    for c in prange(nch):
        _argmax_rows(q, rep_label, labels_out, c * _EXPAND, min(n, (c + 1) * _EXPAND))


@njit(nogil=True, parallel=True, cache=True)
def expand(q, group_of_label, rep_label, probs_out, labels_out):
    """probs_out (C,N) = q[:, group_of_label].T and labels_out (N,) = first label with the largest value.

    q may have padding columns past len(rep_label) (they are ignored). Per block of pixels, label by label, so
    every write is a contiguous run (the block of q stays in cache).
    """
    n = q.shape[0]
    C = group_of_label.shape[0]
    nch = (n + _EXPAND - 1) // _EXPAND
    for c in prange(nch):
        i0 = c * _EXPAND
        i1 = min(n, i0 + _EXPAND)
        _argmax_rows(q, rep_label, labels_out, i0, i1)
        for lab in range(C):
            g = group_of_label[lab]
            for i in range(i0, i1):
                probs_out[lab, i] = q[i, g]


@njit(nogil=True, parallel=True, cache=True)
def expand_compact(q, group_of_label, rep_label, counts, codes_out, labels_out, unc_out):
    """What expand gives, compactly, for large images: codes_out (G,N) uint8 = round(255 q[:, group]), one row
    per label group (engine.crf.compact.CompactProbs.grouped: the labels of a group share it), labels_out (N,)
    (first maximum wins) and unc_out (N,) float32 = 1 - (p1 - p2) over the labels (engine.uncertainty's
    arithmetic; a group of several labels ties with itself), without the (C,N) float32 array."""
    n = q.shape[0]
    C = group_of_label.shape[0]
    G = rep_label.shape[0]
    nch = (n + _EXPAND - 1) // _EXPAND
    for c in prange(nch):
        i0 = c * _EXPAND
        i1 = min(n, i0 + _EXPAND)
        _argmax_rows(q, rep_label, labels_out, i0, i1)
        for i in range(i0, i1):
            best = 0
            p1 = q[i, 0]
            for g in range(1, G):
                if q[i, g] > p1:
                    p1 = q[i, g]
                    best = g
            if C == 1:
                u = np.float32(1.0) - p1
            else:
                p2 = p1 if counts[best] > 1 else np.float32(-np.inf)
                for g in range(G):
                    if g != best and q[i, g] > p2:
                        p2 = q[i, g]
                u = np.float32(1.0) - (p1 - p2)
            unc_out[i] = min(max(u, np.float32(0.0)), np.float32(1.0))
        for g in range(G):
            for i in range(i0, i1):
                v = q[i, g] * np.float32(255.0) + np.float32(0.5)
                codes_out[g, i] = np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)))


@njit(nogil=True, parallel=True, cache=True)
def add_rows(dst, ids, src):
    """dst[ids[i]] += src[i] for distinct ids (float32 rows): a window's change pasted into kept messages."""
    nch = (ids.shape[0] + _VCHUNK - 1) // _VCHUNK
    for c in prange(nch):
        for i in range(c * _VCHUNK, min(ids.shape[0], (c + 1) * _VCHUNK)):
            r = ids[i]
            for k in range(dst.shape[1]):
                dst[r, k] += src[i, k]
