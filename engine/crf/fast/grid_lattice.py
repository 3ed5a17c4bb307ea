"""The smoothness (xy) kernel's lattice over the pixel grid: vertex ids by arithmetic, no hash, no neighbour lists.

Why: the Gaussian kernel's features are the pixel positions, so its permutohedral lattice is fixed by (H, W, sxy).
With the DeepLab v2 preset (xy std 1 px) it has more vertices than pixels: at 12 MP the stored lattice's offsets,
weights and neighbour lists are 0.6 GB, over the xy cache's budget, and each exact run built it again (about 8 s,
most of it hashing and finding neighbours). For d = 2 the vertex keys (k0, k1, k2 = -k0-k1) of a pixel grid fill
a band of the plane densely, so a vertex gets an id by arithmetic: row A = k2 (a function of y), column
(k0 - k1 - b(A)) / 6, with b(A) = 3 for odd A (all coordinates of a lattice point agree mod 3, and k0 - k1 has the
parity of A); a blur neighbour is a fixed step in rows and columns. Kept: each pixel's ids and weights, as the
stored lattice keeps them, and one byte per id saying whether a pixel touches it: 0.3 GB at 12 MP, within the xy
cache's budget, made in about a second.

Exactness: every pixel gets the stored lattice's simplex and weights (build_kernels.embed_packed, and the
normalisation lattice.norm_weights computes, in its order), every vertex value is the same pixel-ordered sum,
blurred with the same neighbours (an id no pixel touches stays 0, as pydensecrf's missing vertices read 0), so a
run gives the stored lattice's Q bit for bit; only the ids differ (memory layout). Local windows (window.py) slice
stored lattices, so runs that keep an iteration history use those.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from . import build_kernels as bk
from . import (
    simd,
    threads,  # noqa: F401  (chooses the threading layer before any parallel launch)
)
from .features import _sigma
from .lattice import packing, scale_factors, slice_alpha
from .threads import PARALLEL_LOCK

TILE = 1 << 18   # pixels embedded at a time when the lattice is made
_BAND = 2        # lattice rows stored side by side (see _id)
_MARGIN_A = 12   # rows past the keys' reach (|key - elevation| <= 7.5) and the blur's (2)
_MARGIN_B = 24   # the same along k0 - k1 (twice the per-coordinate error, plus the blur's 3)
_SCALE = scale_factors(2)


@njit(inline="always")
def _id(row, col, n_cols):
    """The id of lattice row `row` (A - a_min), column `col`: rows go in pairs (bands of _BAND), a band column by
    column with its two rows side by side. Measured at 6 MP, xy std 1, 24-float rows: the blur then takes the
    stored lattice's time (0.125 s either way), where one lattice row after another took 30 % longer and bands of
    4 or 16 rows 2-3x (a pixel row's vertices lie on two lattice rows; first-touch order keeps them together)."""
    return ((row // _BAND) * n_cols + col) * _BAND + (row % _BAND)


@njit(nogil=True, parallel=True, cache=True)
def codes_to_ids(codes, lo, radix0, a_min, n_cols, c_min, out):
    """out (P, 3) int32 = the grid id of each packed vertex code (lattice.packing's code: key0 + key1 * radix0)."""
    for p in prange(codes.shape[0]):
        for r in range(3):
            c = codes[p, r]
            k0 = c % radix0 + lo[0]
            k1 = c // radix0 + lo[1]
            a = -(k0 + k1)
            out[p, r] = _id(a - a_min, (k0 - k1 - 3 * (a & 1)) // 6 - c_min, n_cols)


@njit(nogil=True, cache=True)
def _mark_and_splat(ids, bary, touched, vals):
    """Sequential, in pixel order (lattice.norm_weights' splat of ones): vals[id] += bary; mark the ids."""
    for p in range(ids.shape[0]):
        for r in range(3):
            v = ids[p, r]
            touched[v] = 1
            vals[v] += bary[p, r]


@njit(inline="always")
def _steps(j, side, parity):
    """(row step, column step) in ids of the blur neighbour on axis j (side 0 or 1) of a vertex in a row of this
    parity (A & 1). In keys (A, k0 - k1) the steps are (-1, +3), (+1, -3) on axis 0, (-1, -3), (+1, +3) on axis 1
    and (+2, 0), (-2, 0) on axis 2 (pydensecrf's key-1 / key+1 with +-d on the axis); a column is 6 apart in
    k0 - k1, shifted by 3 in odd rows."""
    if j == 0:
        return (-1, parity) if side == 0 else (1, parity - 1)
    if j == 1:
        return (-1, parity - 1) if side == 0 else (1, parity)
    return (2, 0) if side == 0 else (-2, 0)


@njit(inline="always")
def _neighbour(row, col, j, side, a_min, n_rows, n_cols, m):
    """The id of the blur neighbour on axis j (side 0 or 1) of the vertex at (row, col), or m (the zero row M)
    off the grid."""
    r, c = _steps(j, side, (row + a_min) & 1)
    row2, col2 = row + r, col + c
    if 0 <= row2 < n_rows and 0 <= col2 < n_cols:
        return _id(row2, col2, n_cols)
    return m


@njit(nogil=True, parallel=True, cache=True)
def norm_blur(vals, touched, n_cols, a_min):
    """lattice.norm_weights' blur of the normalisation splat: new = float32(old + 0.5 * (n1 + n2)) in double,
    three axes double-buffered; ids no pixel touches stay 0 (pydensecrf has no such vertex)."""
    m = vals.shape[0] - 1
    n_rows = m // n_cols
    new = np.zeros_like(vals)
    src, dst = vals, new
    for j in range(3):
        for band in prange(n_rows // _BAND):
            for col in range(n_cols):
                for sub in range(_BAND):
                    row = band * _BAND + sub
                    v = _id(row, col, n_cols)
                    if touched[v]:
                        s = (src[_neighbour(row, col, j, 0, a_min, n_rows, n_cols, m)]
                             + src[_neighbour(row, col, j, 1, a_min, n_rows, n_cols, m)])
                        dst[v] = np.float32(np.float64(src[v]) + 0.5 * np.float64(s))
                    else:
                        dst[v] = 0.0
        src, dst = dst, src
    return src


@njit(nogil=True, parallel=True, cache=True)
def normalise(ids, weights, vals, alpha):
    """weights (P, 3), barycentric on entry, become bary * n with n = 1/sqrt(slice of the blurred normalisation
    + 1e-20): lattice.norm_weights' arithmetic, in place."""
    for p in prange(ids.shape[0]):
        acc = np.float32(0.0)
        for r in range(3):
            acc += (weights[p, r] * vals[ids[p, r]]) * alpha
        nrm = np.float32(1.0 / np.sqrt(np.float64(acc) + 1e-20))
        for r in range(3):
            weights[p, r] = weights[p, r] * nrm


@njit(inline="always", fastmath=True)
def _blur_band(band, base_s, base_d, z, stride, width, j, touched, n_cols, a_min, n_bands):
    """One band of one axis, for blur and blur_bands: base_s / base_d are the byte addresses id 0 would have in
    the source and the destination, z a zero row (missing neighbours and untouched ids read it)."""
    n_rows = n_bands * _BAND
    m = np.int64(n_bands) * n_cols * _BAND
    d = np.empty((_BAND, 2), np.int64)   # id steps to the two neighbours, per row of the band
    for sub in range(_BAND):
        row = band * _BAND + sub
        for side in range(2):
            r, c = _steps(j, side, (row + a_min) & 1)
            d[sub, side] = (np.int64((row + r) // _BAND - band) * n_cols + c) * _BAND + (row + r) % _BAND - sub
    edge = band < 1 or band >= n_bands - 1   # (rows 2 away may leave the grid: checked one by one)
    for col in range(n_cols):
        inner = not edge and 0 < col < n_cols - 1
        for sub in range(_BAND):
            v = (np.int64(band) * n_cols + col) * _BAND + sub
            if touched[v]:
                if inner:
                    n1 = base_s + (v + d[sub, 0]) * stride
                    n2 = base_s + (v + d[sub, 1]) * stride
                else:
                    row = band * _BAND + sub
                    n1 = np.int64(_neighbour(row, col, j, 0, a_min, n_rows, n_cols, m))
                    n2 = np.int64(_neighbour(row, col, j, 1, a_min, n_rows, n_cols, m))
                    n1 = z if n1 == m else base_s + n1 * stride
                    n2 = z if n2 == m else base_s + n2 * stride
                simd.blur(base_d + v * stride, base_s + v * stride, n1, n2, width)
            else:
                simd.copy(base_d + v * stride, z, width)


@njit(nogil=True, parallel=True, fastmath=True, cache=True)
def blur(vals, tmp, touched, n_cols, a_min):
    """cpu_kernels.blur over the grid's ids: whole padded rows, new = old + 0.5*(n1 + n2), three axes; ids no
    pixel touches are written 0 (a missing vertex) from row M, which must be zero in both buffers. Returns
    whichever of vals/tmp holds the result."""
    m1, width = vals.shape
    m = m1 - 1
    n_rows = m // n_cols
    stride = np.int64(width * 4)
    base_v = simd.address(vals)
    src, dst = base_v, simd.address(tmp)
    n_bands = n_rows // _BAND
    for j in range(3):
        zero = src + np.int64(m) * stride   # (row M of the source: zero)
        for band in prange(n_bands):
            _blur_band(band, src, dst, zero, stride, width, j, touched, n_cols, a_min, n_bands)
        src, dst = dst, src
    return vals if src == base_v else tmp


@njit(nogil=True, fastmath=True, cache=True)
def blur_bands(src, src0, dst, dst0, b_lo, b_hi, j, touched, n_cols, a_min, n_bands, zero):
    """cpu_kernels.blur's axis j over the grid's ids (new = old + 0.5*(n1 + n2); ids no pixel touches are written
    0, as pydensecrf has no such vertex), for the bands b_lo..b_hi-1 only (grid_stream.py): src holds the ids from
    src0 on, dst those from dst0 on (an id's row there is id - src0, id - dst0); neighbours off the grid read
    `zero` (one zero row). The same simd.blur on the same rows as the stored lattice's blur, so the same values
    bit for bit. On the calling thread, no parallel launch: the streamed sweep runs it on its side thread beside
    the step kernel of the next tile (stream.StreamEngine.sweep)."""
    width = src.shape[1]
    stride = np.int64(width * 4)
    base_s = simd.address(src) - np.int64(src0) * stride
    base_d = simd.address(dst) - np.int64(dst0) * stride
    z = simd.address(zero)
    for band in range(b_lo, b_hi):
        _blur_band(band, base_s, base_d, z, stride, width, j, touched, n_cols, a_min, n_bands)


@njit(nogil=True, parallel=True, cache=True)
def positions(a, width, sxy, out):
    """out (P, 2) float32 = (x / sxy, y / sxy) of pixels a..a+P-1, as features.gaussian_features computes them."""
    for i in prange(out.shape[0]):
        p = a + i
        out[i, 0] = np.float32(p % width) / sxy
        out[i, 1] = np.float32(p // width) / sxy


@dataclass(frozen=True, eq=False)
class GridLattice:
    """The xy lattice of an H x W image at xy std sxy (make()): offsets (N, 3) int32 grid ids and weights (N, 3)
    float32 as a stored Lattice has them, touched (M,) uint8; blur() blurs (M+1, W) vertex rows (or, inside a
    streamed sweep, a band of rows at a time: blur_bands, grid_stream.py)."""

    height: int
    width: int
    n_vertices: int
    a_min: int
    n_cols: int
    offsets: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    touched: np.ndarray = field(repr=False)
    d: int = 2
    alpha: np.float32 = slice_alpha(2)

    n_points = property(lambda self: self.height * self.width)

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.weights.nbytes + self.touched.nbytes)

    def blur(self, vals: np.ndarray, tmp: np.ndarray) -> np.ndarray:
        """The whole lattice's blur, for a run that holds two buffers (stream.fuses)."""
        return blur(vals, tmp, self.touched, self.n_cols, self.a_min)


def _geometry(height: int, width: int, s: np.float32) -> tuple[int, int, int, int]:
    """(a_min, n_cols, c_min, ids): the band of rows A = k2 and columns (k0 - k1 - b(A)) / 6 the keys of an
    H x W grid reach, with margins for rounding and the blur's neighbours."""
    xmax, ymax = np.float32(width - 1) / s, np.float32(height - 1) / s
    cx, cy = float(xmax) * float(_SCALE[0]), float(ymax) * float(_SCALE[1])
    a_min = int(np.floor(-2 * cy)) - _MARGIN_A
    c_min = (-_MARGIN_B) // 6 - 1
    n_cols = int(np.ceil(2 * cx + _MARGIN_B)) // 6 + 1 - c_min + 1
    n_rows = (_MARGIN_A - a_min + 1 + _BAND - 1) // _BAND * _BAND   # (whole bands)
    return a_min, n_cols, c_min, n_rows * n_cols


def cell_count(height: int, width: int, sxy: float) -> int:
    """The ids (vertex rows) of the grid lattice make() would give: about the stored lattice's vertex count."""
    return _geometry(height, width, _sigma(sxy, "Gaussian xy std"))[3]


def make(height: int, width: int, sxy: float) -> GridLattice | None:
    """The grid lattice of an H x W image at xy std sxy, or None where packed keys do not fit (a tiny std on a
    huge image: the stored lattice's generic path handles it)."""
    s = _sigma(sxy, "Gaussian xy std")
    corners = np.array([[0, 0], [np.float32(width - 1) / s, np.float32(height - 1) / s]], np.float32)
    pack = packing(corners, _SCALE)
    if pack is None:
        return None
    lo, radix, stride = pack
    a_min, n_cols, c_min, m = _geometry(height, width, s)
    n = height * width
    offsets, weights = np.empty((n, 3), np.int32), np.empty((n, 3), np.float32)
    touched, vals = np.zeros(m, np.uint8), np.zeros(m + 1, np.float32)
    rows = min(n, TILE)
    feat, codes = np.empty((rows, 2), np.float32), np.empty((rows, 3), np.int64)
    bad = np.zeros(1, np.int64)
    with PARALLEL_LOCK:
        for a in range(0, n, TILE):   # in pixel order: the normalisation splat is pydensecrf's sequential sum
            b = min(n, a + TILE)
            k = b - a
            positions(a, width, s, feat[:k])
            bk.embed_packed(feat[:k], _SCALE, lo, radix, stride, codes[:k], weights[a:b], bad)
            if bad[0]:
                return None
            codes_to_ids(codes[:k], lo, np.int64(radix[0]), a_min, n_cols, c_min, offsets[a:b])
            if offsets[a:b].min() < 0 or offsets[a:b].max() >= m:
                return None
            _mark_and_splat(offsets[a:b], weights[a:b], touched, vals)
        del feat, codes
        normalise(offsets, weights, norm_blur(vals, touched, n_cols, a_min), slice_alpha(2))
    return GridLattice(height=height, width=width, n_vertices=m, a_min=a_min, n_cols=n_cols, offsets=offsets,
                       weights=weights, touched=touched)
