"""numba mean-field kernels for the CPU path: threaded, GIL-free, vectorised over labels or pixels.

Per iteration: `splat` scatters Q into the vertex buffers (each thread sums the rows only it touches directly,
the rest in private rows), `reduce_blur` adds up the private rows and runs the d+1 double-buffered blurs, `step` slices both lattices, adds the prior and takes the softmax. These three move whole
padded rows with explicit SIMD (simd.py). (Fusing the next splat into `step` was measured slower, with and
without SIMD.)

Layouts: Q, prior (N,W) float32 pixel-major (like pydensecrf's Eigen matrices), W = simd.row_width(G) with zero
padding; vertex values (M+1,W) with row M the zero row for missing neighbours. G counts merged label groups;
`counts[g]` labels share group g, so the softmax denominator is sum_g counts[g]*exp(l_g) (exact merging, §3.2).

Float order differs from pydensecrf only at the ulp level (private-buffer sums, fused multiplies, a polynomial
exp with relative error ~1.2e-7); the lattice and every structural choice are identical.
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


@njit(inline="always", fastmath=True)
def _splat_rows(i0, i1, q, c0, off, w, buf):
    """buf[off[i, j]] += w[i, j] * q[i, c0:c0+cw] for rows i0..i1 (cw = buf's row width, a multiple of 4), in
    pixel order, whole rows with SIMD."""
    cw = buf.shape[1]
    stride_q = np.int64(q.shape[1] * 4)
    stride_b = np.int64(cw * 4)
    base_q = simd.address(q) + np.int64(c0) * 4
    base = simd.address(buf)
    for i in range(i0, i1):
        src = base_q + i * stride_q
        for j in range(off.shape[1]):
            simd.axpy(base + np.int64(off[i, j]) * stride_b, src, w[i, j], cw)


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
def _splat_task(t, i0, i1, q, off, w, vals, priv, spans):
    """Task t's splat of rows i0..i1 (pixel order): rows only it touches go straight into vals, the rest into its
    private buffer priv[t] (row v at v - lo). Zeroes exactly the rows it will add into."""
    W = q.shape[1]
    stride = np.int64(W * 4)
    lo, hi, a, b = spans[t, 0], spans[t, 1], spans[t, 2], spans[t, 3]
    buf = priv[t]
    if a <= b:
        vals[a:b + 1, :] = 0.0
        buf[0:a - lo, :] = 0.0
        buf[b + 1 - lo:hi + 1 - lo, :] = 0.0
    elif lo <= hi:
        buf[0:hi + 1 - lo, :] = 0.0
    base_q = simd.address(q)
    base_v = simd.address(vals)
    base_b = simd.address(buf) - lo * stride
    for i in range(i0, i1):
        src = base_q + i * stride
        for j in range(off.shape[1]):
            o = np.int64(off[i, j])
            dst = base_v + o * stride if a <= o <= b else base_b + o * stride
            simd.axpy(dst, src, w[i, j], W)


@njit(nogil=True, parallel=True, fastmath=True, cache=True)
def splat(q, offg, wg, valsg, privg, spansg, offb, wb, valsb, privb, spansb, splat_g, splat_b):
    """Splat Q (N,W) (weights w) for reduce_blur: task t takes a contiguous pixel range.

    No atomics: a vertex row only task t touches (spans[t, 2..3], see task_spans) is summed straight into vals;
    rows several tasks touch go to the tasks' private buffers and reduce_blur adds them up. Within a task the sum
    is in pixel order, as in pydensecrf; the result is bit-identical to full private copies, without zeroing and
    reducing whole copies."""
    n, W = q.shape
    if W % 4:
        raise ValueError("rows must be padded to a multiple of 4 floats")
    ntask = spansg.shape[0]
    per = (n + ntask - 1) // ntask
    for t in prange(ntask):
        i0 = min(n, t * per)
        i1 = min(n, (t + 1) * per)
        if splat_g:
            _splat_task(t, i0, i1, q, offg, wg, valsg, privg, spansg)
        if splat_b:
            _splat_task(t, i0, i1, q, offb, wb, valsb, privb, spansb)


@njit(nogil=True, parallel=True, cache=True)
def task_spans(off, ntask):
    """(ntask, 2) lowest and highest vertex id each task's pixel range touches (lo > hi: none); ranges as splat's."""
    n = off.shape[0]
    per = (n + ntask - 1) // ntask
    out = np.empty((ntask, 2), np.int64)
    for t in prange(ntask):
        lo = np.int64(1) << 62
        hi = np.int64(-1)
        for i in range(t * per, min(n, (t + 1) * per)):
            for j in range(off.shape[1]):
                o = np.int64(off[i, j])
                lo = min(lo, o)
                hi = max(hi, o)
        out[t, 0] = lo
        out[t, 1] = hi
    return out


@njit(nogil=True, parallel=True, fastmath=True, cache=True)
def reduce_blur(priv, spans, nbr, vals, tmp, reduce):
    """Add the tasks' private splat rows into vals (if `reduce`; else vals already holds the splat), then blur
    along the d+1 axes: new = old + 0.5*(n1 + n2), whole padded rows at a time.

    spans[t] = (lo, hi, a, b): priv[t] holds rows lo..hi at v - lo, and rows a..b are task t's alone (already in
    vals). Other rows are the sum of the tasks whose span holds them, in task order; rows no task touched
    (row M, padding vertices) become zero. Returns whichever of vals/tmp holds the result.
    """
    ntask = priv.shape[0]
    m1, W = vals.shape
    if W % 4:
        raise ValueError("rows must be padded to a multiple of 4 floats")
    stride = np.int64(W * 4)
    d1, m, _ = nbr.shape
    base_v = simd.address(vals)
    base_t = simd.address(tmp)
    base_p = simd.address(priv)
    task_stride = np.int64(priv.shape[1]) * stride
    nch = (m1 + _VCHUNK - 1) // _VCHUNK if reduce else 0
    for c in prange(nch):
        for v in range(c * _VCHUNK, min(m1, (c + 1) * _VCHUNK)):
            own = False
            for t in range(ntask):
                if spans[t, 2] <= v <= spans[t, 3]:
                    own = True
            if own:
                continue
            dst = base_v + v * stride
            first = True
            for t in range(ntask):
                lo = spans[t, 0]
                if lo <= v <= spans[t, 1]:
                    src = base_p + t * task_stride + (v - lo) * stride
                    if first:
                        simd.copy(dst, src, W)
                        first = False
                    else:
                        simd.axpy(dst, src, np.float32(1.0), W)
            if first:
                for k in range(W):
                    vals[v, k] = 0.0
    src, dst = base_v, base_t
    nch = (m + _VCHUNK - 1) // _VCHUNK
    for j in range(d1):
        for c in prange(nch):
            for v in range(c * _VCHUNK, min(m, (c + 1) * _VCHUNK)):
                simd.blur(dst + v * stride, src + v * stride, src + np.int64(nbr[j, v, 0]) * stride,
                          src + np.int64(nbr[j, v, 1]) * stride, W)
        src, dst = dst, src
    return vals if src == base_v else tmp


@njit(nogil=True, parallel=True, fastmath=True, cache=True)
def splat_shared(q, offg, wg, valsg, offb, wb, valsb, splat_g, splat_b):
    """Splat Q (N,W) straight into each lattice's one vertex buffer, the two lattices in parallel.

    For many labels: no private copies of the buffers (memory), and full-width rows vectorise far better than
    splitting labels between threads (measured 3-4x). Summation is in pixel order, as pydensecrf's.
    """
    n, W = q.shape
    if W % 4:
        raise ValueError("rows must be padded to a multiple of 4 floats")
    for t in prange(2):
        if (t == 0 and splat_g) or (t == 1 and splat_b):
            off = offg if t == 0 else offb
            w = wg if t == 0 else wb
            vals = valsg if t == 0 else valsb
            vals[:, :] = 0.0
            _splat_rows(0, n, q, 0, off, w, vals)


# ---- channel-chunked path: bounded memory when labels x vertices is large (e.g. 182 classes at 1.5 MP) ----

@njit(nogil=True, parallel=True, fastmath=True, cache=True)
def splat_chunk(q, c0, off, w, priv):
    """Splat channels [c0, c0+cw) of Q into per-task buffers priv (T, M+1, cw), cw a multiple of 4."""
    n = q.shape[0]
    ntask = priv.shape[0]
    per = (n + ntask - 1) // ntask
    for t in prange(ntask):
        buf = priv[t]
        buf[:, :] = 0.0
        _splat_rows(min(n, t * per), min(n, (t + 1) * per), q, c0, off, w, buf)


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
def gather_prior(u, reps, prior):
    """prior (N,W) = -u[reps].T for unary energies u (C,N): the merged, pixel-major negative unary; columns
    past len(reps) (row padding) are zero."""
    n = u.shape[1]
    G = reps.shape[0]
    W = prior.shape[1]
    nch = (n + _VCHUNK - 1) // _VCHUNK
    for c in prange(nch):
        for i in range(c * _VCHUNK, min(n, (c + 1) * _VCHUNK)):
            for g in range(G):
                prior[i, g] = -u[reps[g], i]
            for g in range(G, W):
                prior[i, g] = 0.0


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
