"""The xy kernel's grid lattice in a streamed sweep with one vertex buffer instead of two: the splat and the blur
run inside the sweep, a band of lattice rows at a time.

Why: a streamed run (stream.py) holds two (M+1, W) float32 buffers per kernel, the messages of the last Q, which
the sweep slices, and the splat of the next Q. With the DeepLab v2 preset (xy std 1) the xy lattice has more
vertices than pixels: at 12 MP and 16-float rows each buffer is 0.9 GB. On the grid lattice (grid_lattice.py) an
id gives its lattice row, a pixel row's vertices lie on about two lattice rows (one band), and the sweep's tiles
walk down the ids. So:
- a band's splat is final once no later tile touches it;
- the blur reaches one band per axis, so a band's messages can be made once the three bands on either side of it
  are final;
- they are written over the last Q's messages, which no later tile reads.
Until then the new splat waits in a staging buffer a few dozen bands deep (about 50 MB at 12 MP).

Exactness: tiles are splatted in pixel order into the staging rows, and blur_bands applies the same simd.blur to
the same rows as grid_lattice.blur, so the messages are the two-buffer run's bit for bit.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import stream_kernels as sk
from .grid_lattice import GridLattice, blur_bands

HALO = 3     # bands staged beyond those blurred: the blur reaches 4 lattice rows (2 bands), and the first axis
#              is also run on the bands next to them, whose reads reach one more
PIECE = 32   # bands blurred at a time: each axis's scratch holds (PIECE + 4) bands
WINDOWS = 4  # staging depth in windows (a tile's bands, halos and a piece): moved back up every WINDOWS - 1

_BANDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # GridLattice -> {tile: (lo, hi)}


def tile_bands(lat: GridLattice, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) int64: the lowest and highest band (2 x n_cols ids) each tile's pixels touch. Cached."""
    per = _BANDS.setdefault(lat, {})
    if tile not in per:
        bw = 2 * lat.n_cols
        starts = range(0, lat.n_points, tile)
        lo = np.array([int(lat.offsets[a:a + tile].min()) // bw for a in starts], np.int64)
        hi = np.array([int(lat.offsets[a:a + tile].max()) // bw for a in starts], np.int64)
        per[tile] = (lo, hi)
    return per[tile]


def window_bands(lo: np.ndarray, hi: np.ndarray) -> int:
    """Bands staged at a time, about: a tile's, the halos and a few more (a wider window grows the staging)."""
    return int((hi - lo).max()) + 1 + 2 * HALO + 4


class FusedGrid:
    """One grid lattice's vertex rows in a streamed run: `main` (M+1, W), the messages the sweep slices, which the
    sweep's splat replaces band by band (splat(), then fuse(), per tile; fuse(last tile) finishes them)."""

    def __init__(self, lat: GridLattice, tile: int, width: int):
        self.lat, self.width = lat, width
        self.bw = 2 * lat.n_cols
        self.n_bands = lat.n_vertices // self.bw
        self.lo, hi = tile_bands(lat, tile)
        self.last = len(self.lo) - 1
        ahead = np.maximum.accumulate(hi[::-1])[::-1]          # max band of the tiles from k on
        self.after = np.append(ahead[1:], -1)                  # ... after k
        span = window_bands(self.lo, hi)
        self.cap = span * WINDOWS   # staging bands: the window moves down them
        self.main: np.ndarray | None = None
        self.stage: np.ndarray | None = None
        self.scratch: list = []
        self.zero = np.zeros((1, width), np.float32)
        self.base = self.s0 = self.s1 = self.done = self.n_bands

    @property
    def nbytes(self) -> int:
        return int(sum(x.nbytes for x in (self.main, self.stage, *self.scratch) if x is not None))

    def start(self) -> None:
        """Before a sweep that splats: nothing staged, no band of the new messages made."""
        m1 = self.lat.n_vertices + 1
        if self.main is None:
            self.main = np.empty((m1, self.width), np.float32)
            self.main[m1 - 1] = 0.0   # (row M: never a pixel's id)
        if self.stage is None:
            self.stage = np.empty((min(self.cap, self.n_bands) * self.bw, self.width), np.float32)
            self.scratch = [np.empty((min(PIECE + k, self.n_bands) * self.bw, self.width), np.float32)
                            for k in (4, 2)]
        self.done = self.s0 = self.s1 = self.n_bands
        self.base = max(0, self.n_bands - self.stage.shape[0] // self.bw)

    def drop_staging(self) -> None:
        """Before a sweep that only reads the messages (the last): the staging rows go."""
        self.stage, self.scratch = None, []

    def splat(self, q: np.ndarray, a: int, k: int, cuts: np.ndarray | None = None) -> None:
        """Add tile k (pixels a.., Q rows q) to the staged splat: on all threads with `cuts` (the caller holds
        PARALLEL_LOCK), else as one task (the sweep's splat thread)."""
        self._hold(min(self.s0, int(self.lo[k])), self.done + HALO)
        shift = np.int64(self.base * self.bw)
        if cuts is not None:
            sk.splat_tile(q, a, self.lat.offsets, self.lat.weights, self.stage, cuts, shift)
        else:
            sk.splat_tile_serial(q, a, self.lat.offsets, self.lat.weights, self.stage, shift)

    def fuse(self, k: int) -> None:
        """After tile k's splat: blur the bands whose splat and halo are final into main; after the last tile, all
        that are left. On the calling thread (the sweep's side thread, beside the next tile's step)."""
        low = 0 if k >= self.last else max(int(self.after[k]) + HALO + 1, 0)
        top = self.done
        if low >= top:
            return
        self._hold(min(self.s0, low - HALO), top + HALO)
        for b2 in range(top, low, -PIECE):
            self._blur(max(low, b2 - PIECE), b2)
        self.done = low

    def _blur(self, b1: int, b2: int) -> None:
        """main's bands b1..b2-1 = the blur of the staged splat (three axes, each one band further in)."""
        lat, nb, bw = self.lat, self.n_bands, self.bw
        a0, a1 = max(b1 - 2, 0), min(b2 + 2, nb)
        c0, c1 = max(b1 - 1, 0), min(b2 + 1, nb)
        first, second = self.scratch
        common = (lat.touched, lat.n_cols, lat.a_min, nb, self.zero)
        blur_bands(self.stage, self.base * bw, first, a0 * bw, a0, a1, 0, *common)
        blur_bands(first, a0 * bw, second, c0 * bw, c0, c1, 1, *common)
        blur_bands(second, c0 * bw, self.main, 0, b1, b2, 2, *common)

    def _hold(self, lo: int, hi: int) -> None:
        """Stage the bands lo..hi-1: those staged before keep their sums, new ones start at 0, others go."""
        lo, hi = max(lo, 0), min(hi, self.n_bands)
        bw, cap = self.bw, self.stage.shape[0] // self.bw
        keep0, keep1 = max(lo, self.s0), min(hi, self.s1)
        if hi - lo > cap:   # (a window wider than planned: grow)
            grown = np.empty(((hi - lo) * 2 * bw, self.width), np.float32)
            if keep1 > keep0:
                grown[(keep0 - lo) * bw:(keep1 - lo) * bw] = self.stage[(keep0 - self.base) * bw:(keep1 - self.base) * bw]
            self.stage, self.base = grown, lo
        elif lo < self.base or hi > self.base + cap:
            base = max(0, hi - cap)
            if keep1 > keep0:   # (numpy copies overlapping ranges correctly)
                self.stage[(keep0 - base) * bw:(keep1 - base) * bw] = \
                    self.stage[(keep0 - self.base) * bw:(keep1 - self.base) * bw]
            self.base = base
        if keep1 <= keep0:
            keep0 = keep1 = hi
        self.stage[(lo - self.base) * bw:(keep0 - self.base) * bw] = 0.0
        self.stage[(keep1 - self.base) * bw:(hi - self.base) * bw] = 0.0
        self.s0, self.s1 = lo, hi
