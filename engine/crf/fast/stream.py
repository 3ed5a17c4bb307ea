"""Streamed mean-field for large images: Q and the prior are computed a pixel tile at a time, never held whole.

Why: at 12 MP x 21 classes the prior and Q are (N, 24) float32 arrays of 1.15 GB each, and the channel-chunked
mode also held the logits (another 1.15 GB). Between iterations the mean-field needs only the blurred vertex
values of the last Q (the messages); every pixel's next Q is softmax(prior + slice(messages)). So a pass computes
each tile's Q from its prior rows (made from the probabilities, float16 ones through a table) and the messages,
hands it to a consumer (labels, the final probabilities) and splats it straight into the next vertex buffer; a
blur then turns that buffer into the next messages. Memory: two vertex buffers per kernel and two tiles.

Exactness: the prior rows are the values prior.make_prior computes (engine.crf.unary's arithmetic), the tile's Q
comes from cpu_kernels.step (tiles start on its 64-pixel blocks), and tiles are splatted in pixel order, so Q is
bit for bit the in-memory engine's (cpu_engine.CpuEngine), at any thread count.
Label groups (prior.make_prior's merging of identical unary rows) are found without the (N, W) prior: rows are
fingerprinted and compared a chunk at a time.
"""
from __future__ import annotations

import functools
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from ...errors import check_cancel
from ..unary import unary_from_probs
from . import cpu_kernels as ck
from . import simd
from . import stream_kernels as sk
from .grid_lattice import GridLattice
from .grid_stream import FusedGrid
from .lattice import Lattice
from .prior import Prior, hard_unary_values, lock_pixels
from .prune import rest_prior
from .threads import PARALLEL_LOCK

TILE = 1 << 17  # pixels per tile (a multiple of cpu_kernels' 64-pixel step blocks): 12 MB of Q at 24 floats a row
CHUNK = 1 << 20  # pixels per piece when fingerprinting and comparing label rows

_NO_OFF = np.zeros((1, 1), np.int32)
_NO_W = np.zeros((1, 4), np.float32)
_CUTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Lattice -> {(tile, tasks): [cuts per tile]}


@functools.lru_cache(maxsize=1)
def half_table() -> np.ndarray:
    """(65536,) float32: the prior value -unary(p) of every float16 p, by its bits (unary_from_probs' arithmetic
    on the float32 value, so a float16 input gives what make_prior gives). Codes that are not probabilities
    (NaN, negative) never reach it: check_probs rejects them."""
    values = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
    with np.errstate(invalid="ignore"):
        return np.negative(unary_from_probs(values.reshape(1, 1, -1))[0])


class StreamPrior:
    """The prior of probabilities (C,H,W) float16 or float32, row by row: prior rows (N, W) as make_prior lays
    them out (W = simd.row_width(G)), computed on demand. counts, group_of_label, rep_label, key as in Prior.
    Holds a reference to the probabilities (a view), nothing of size N x W unless asked to hold() the prior for a
    run (float32 probabilities). groups: (counts, group_of_label,
    rep_label) when known (e.g. cached for these probabilities and locks), else found here (find_groups)."""

    def __init__(self, probs: np.ndarray, key: tuple, locks=None, merge: bool = True, groups: tuple | None = None,
                 pruned: np.ndarray | None = None, rest: np.ndarray | None = None):
        c = probs.shape[0]
        self.pruned = pruned if pruned is not None and pruned.any() else None  # prune.py: one shared row
        self.rest = None  # (N,) float32: that row's prior values (prune.rest_prior), where any class is pruned
        if self.pruned is not None:
            self.rest = rest_prior(probs, self.pruned) if rest is None else rest
        self.flat = np.ascontiguousarray(probs).reshape(c, -1)  # a view for the C-contiguous arrays the app holds
        self.key = key
        hard = lock_pixels(locks, c, probs.shape[1:])
        self.hard = None if hard is None or not hard[0].size else hard  # (sorted flat indices, classes)
        e0, e1 = hard_unary_values()
        self.hard_values = (-e0, -e1)
        self.half = self.flat.dtype == np.float16
        self.group_of_label = np.zeros(c, np.int32)  # (n_labels before the groups are known)
        self.counts, self.group_of_label, self.rep_label = groups if groups is not None else find_groups(self, merge)
        self.pruned_groups = (None if self.pruned is None else
                              np.flatnonzero(self.pruned[self.rep_label]))  # columns whose rows are `rest`
        self.whole = None  # the (N, W) prior, when held for a run (hold())

    n_labels = property(lambda self: int(self.group_of_label.shape[0]))
    n_groups = property(lambda self: int(self.rep_label.shape[0]))
    n_points = property(lambda self: int(self.flat.shape[1]))
    width = property(lambda self: simd.row_width(self.n_groups))

    @property
    def nbytes(self) -> int:
        """Bytes of its own: the held prior, if any (the probabilities it references belong to the caller)."""
        return 0 if self.whole is None else int(self.whole.nbytes)

    def hold(self) -> None:
        """Make the (N, W) prior once and serve rows from it. Float32 probabilities: a unary per row and pass cost
        about as much as the pass itself. Float16 ones go through the table, which costs less, but a held prior
        still made 12 MP x 5-class passes about 13 % faster (the table's gathers and their tile beside the step's
        reads), so the session holds it where it is small (session.HELD_PRIOR_BYTES)."""
        if self.whole is None:
            self.whole = self.materialise().prior

    def release(self) -> None:
        self.whole = None

    def label_row(self, label: int, a: int, b: int, out: np.ndarray) -> np.ndarray:
        """out (b-a,) float32 = the prior of `label` at points a..b-1, hard-locked pixels included."""
        if self.half:
            np.take(half_table(), self.flat[label, a:b].view(np.uint16), out=out)
        else:
            unary_from_probs(self.flat[label:label + 1, a:b], out=out.reshape(1, -1))
            np.negative(out, out=out)
        if self.pruned is not None and self.pruned[label]:
            out[:] = self.rest[a:b]
        if self.hard is not None:
            idx, cls = self.hard
            lo, hi = np.searchsorted(idx, (a, b))
            if hi > lo:
                out[idx[lo:hi] - a] = self.hard_values[0]
                mine = idx[lo:hi][cls[lo:hi] == label]
                out[mine - a] = self.hard_values[1]
        return out

    def rows(self, a: int, b: int, out: np.ndarray) -> np.ndarray:
        """Prior rows (b-a, W) float32 of points a..b-1 (padding columns zero): written into out, or a view of the
        held prior."""
        if self.whole is not None:
            return self.whole[a:b]
        g = self.n_groups
        if self.half:
            with PARALLEL_LOCK:
                sk.prior_rows_lut(self.flat.view(np.uint16), self.rep_label, half_table(), a, out)
            if self.pruned_groups is not None and self.pruned_groups.size:
                out[:b - a, self.pruned_groups] = self.rest[a:b, None]
            if self.hard is not None:
                idx, cls = self.hard
                lo, hi = np.searchsorted(idx, (a, b))
                if hi > lo:
                    at = idx[lo:hi] - a
                    out[at, :g] = self.hard_values[0]
                    out[at, self.group_of_label[cls[lo:hi]]] = self.hard_values[1]
            return out
        block = np.take(self.flat[:, a:b], self.rep_label, axis=0)  # (G, b-a) float32: the groups' rows
        unary_from_probs(block, out=block)
        if self.pruned_groups is not None and self.pruned_groups.size:
            block[self.pruned_groups] = -self.rest[a:b]
        if self.hard is not None:
            self._lock_block(block, a, b)
        with PARALLEL_LOCK:
            sk.negated_transpose(block, out)
        return out

    def _lock_block(self, block: np.ndarray, a: int, b: int) -> None:
        """The unaries of locked pixels in a (G, b-a) block of the groups' unaries (what label_row does)."""
        idx, cls = self.hard
        lo, hi = np.searchsorted(idx, (a, b))
        if hi > lo:
            at = idx[lo:hi] - a
            block[:, at] = -self.hard_values[0]
            block[self.group_of_label[cls[lo:hi]], at] = -self.hard_values[1]

    def materialise(self) -> Prior:
        """The (N, W) prior as a Prior (for images whose label groups make it small)."""
        if self.whole is not None:
            return Prior(prior=self.whole, counts=self.counts, group_of_label=self.group_of_label,
                         rep_label=self.rep_label, key=self.key, pruned=self.pruned)
        prior = np.empty((self.n_points, self.width), np.float32)
        for a in range(0, self.n_points, TILE):
            self.rows(a, min(self.n_points, a + TILE), prior[a:a + TILE])
        return Prior(prior=prior, counts=self.counts, group_of_label=self.group_of_label, rep_label=self.rep_label,
                     key=self.key, pruned=self.pruned)


def find_groups(src: StreamPrior, merge: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(counts (G,) float32, group_of_label (C,) int32, rep_label (G,) int32) of make_prior's merging: a label joins
    the first group whose representative's prior row equals its own everywhere. Rows are fingerprinted (float64
    sums over fixed pixel ranges) and candidates compared in place or a chunk at a time: nothing of size N x C."""
    c = src.n_labels
    if not merge:
        return np.ones(c, np.float32), np.arange(c, dtype=np.int32), np.arange(c, dtype=np.int32)
    fingerprint, same = _half_row_tests(src) if src.half else _row_tests(src)
    if src.pruned is not None:
        fingerprint, same = _pruned_row_tests(src, fingerprint, same)
    groups: list[list[int]] = []
    by_fp: dict = {}
    for label in range(c):
        cands = by_fp.setdefault(fingerprint(label), [])
        for gi in cands:
            if same(groups[gi][0], label):
                groups[gi].append(label)
                break
        else:
            cands.append(len(groups))
            groups.append([label])
    group_of_label = np.empty(c, np.int32)
    for gi, members in enumerate(groups):
        group_of_label[members] = gi
    return (np.array([len(m) for m in groups], np.float32), group_of_label,
            np.array([m[0] for m in groups], np.int32))


def _pruned_row_tests(src: StreamPrior, fingerprint, same):
    """The tests with pruned labels' rows taken as their shared row (prune.py): two pruned labels are the same where
    the same pixels are locked to each (none, unless painted); a pruned and a kept label never are."""
    def own_locks(label) -> bytes:
        return b"" if src.hard is None else src.hard[0][src.hard[1] == label].tobytes()

    def fingerprint_pruned(label):
        return ("pruned", own_locks(label)) if src.pruned[label] else fingerprint(label)

    def same_pruned(l1, l2):
        if src.pruned[l1] or src.pruned[l2]:
            return bool(src.pruned[l1] and src.pruned[l2]) and own_locks(l1) == own_locks(l2)
        return same(l1, l2)

    return fingerprint_pruned, same_pruned


def _row_tests(src: StreamPrior):
    """(fingerprint(label), same(l1, l2)) on prior rows made a chunk at a time (float32 probabilities)."""
    n = src.n_points
    buf_a, buf_b = np.empty(min(n, CHUNK), np.float32), np.empty(min(n, CHUNK), np.float32)

    def fingerprint(label):
        return sum(float(src.label_row(label, a, min(n, a + CHUNK), buf_a[:min(n, a + CHUNK) - a]).sum(dtype=np.float64))
                   for a in range(0, n, CHUNK))

    def same(l1, l2):
        for a in range(0, n, CHUNK):
            b = min(n, a + CHUNK)
            if not np.array_equal(src.label_row(l1, a, b, buf_a[:b - a]), src.label_row(l2, a, b, buf_b[:b - a])):
                return False
        return True

    return fingerprint, same


def _half_row_tests(src: StreamPrior):
    """The same tests for float16 probabilities, on their bits through the table (kernels, no row copies); locked
    pixels, whose prior values the locks set, are compared apart."""
    codes, table = src.flat.view(np.uint16), half_table()
    hard = np.zeros(1, np.uint8)
    if src.hard is not None:
        hard = np.zeros(src.n_points, np.uint8)
        hard[src.hard[0]] = 1
    use_hard = src.hard is not None
    parts = 64  # fixed: the fingerprint of a row does not depend on the thread count

    def locked_values(label):
        if src.hard is None:
            return b""
        return np.where(src.hard[1] == label, src.hard_values[1], src.hard_values[0]).tobytes()

    def fingerprint(label):
        with PARALLEL_LOCK:
            sums = sk.row_sums_lut(codes, label, table, hard, use_hard, parts)
        return (float(sum(sums.tolist())), hash(locked_values(label)))

    def same(l1, l2):
        if locked_values(l1) != locked_values(l2):
            return False
        with PARALLEL_LOCK:
            return bool(sk.rows_equal_lut(codes, l1, l2, table, hard, use_hard))

    return fingerprint, same


@functools.lru_cache(maxsize=1)
def _splatter() -> ThreadPoolExecutor:
    """The thread a sweep's splats run on, one tile after another, beside the step kernel (see sweep)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="crf-splat")


BESIDE_WIDTH = 16  # rows up to this many floats: the splat runs as one task beside the step (splat_tasks)


def splat_tasks(width: int, threads: int | None = None) -> int:
    """How many tasks a tile's splat of rows `width` floats wide is split into. Each task scans the whole tile for
    the vertex rows it owns, so the scans add up; one task runs on a thread of its own beside the step kernel of
    the next tile instead (StreamEngine.sweep). Measured on the 2-core machine, a weight change's exact run, best
    of 3-4 alternating in one process: 8 floats (5 classes, 12 MP) 11.2 s beside against 12.3 split in two;
    16 (13 classes, 6 MP) 7.6 against 8.4; 24 (21 classes, 6 MP) 11.0 against 10.2 with the DeepLab v1 preset and
    22.3 against 20.8 with v2: wide rows make the one splat thread the slower side. So up to two threads and 16
    floats it is one task; otherwise one task per thread (more threads: not measured here)."""
    threads = max(1, numba.get_num_threads() if threads is None else int(threads))
    return 1 if threads <= 2 and width <= BESIDE_WIDTH else threads


def tile_cuts(lat: Lattice, tile: int, tasks: int) -> list[np.ndarray]:
    """Per tile, (tasks+1,) int64 vertex-row cuts splitting its splat between tasks by (pixel, vertex) pairs
    (quantiles of a sample of the tile's vertex ids): balance only, results do not depend on them. Cached."""
    per_lattice = _CUTS.setdefault(lat, {})
    found = per_lattice.get((tile, tasks))
    if found is not None:
        return found
    m, out = lat.n_vertices, []
    for a in range(0, lat.n_points, tile):
        cuts = np.zeros(tasks + 1, np.int64)
        cuts[-1] = m
        if tasks > 1:
            sample = lat.offsets[a:a + tile:4].ravel()
            ks = [sample.size * k // tasks for k in range(1, tasks)]
            cuts[1:-1] = np.partition(sample, ks)[ks]
        out.append(cuts)
    per_lattice[(tile, tasks)] = out
    return out


def vertex_bytes(lattices: list, width: int, fused: bool) -> int:
    """Bytes of the (M+1, W) float32 vertex buffers a streamed run holds: two per lattice, one for the xy kernel's
    grid lattice when `fused` (its splat and blur inside the sweep, grid_stream.py)."""
    return sum(4 * width * (lat.n_vertices + 1) * (1 if fused and isinstance(lat, GridLattice) else 2)
               for lat in lattices)


def fuses(lattices: list, width: int, budget: int) -> bool:
    """Whether a run takes its grid lattice fused: where the splat runs as one task beside the step (the blur then
    runs beside it too: faster as well as smaller; 12 MP, 16-float rows: 20.5 s against 22.1-23.3 s), and where
    two buffers would pass `budget`. Otherwise it keeps two: with the splat split between tasks under the step's
    lock, the side thread's blur made a 6 MP, 24-float-row run about 15 % slower."""
    return splat_tasks(width) == 1 or vertex_bytes(lattices, width, False) > budget


@dataclass(eq=False)
class _Term:
    lat: Lattice | GridLattice   # (a grid lattice: the xy kernel's, whose blur finds neighbours by arithmetic)
    coef: np.float32
    cuts: list
    bufs: list  # two (M+1, W) float32 vertex buffers, or None before the first pass
    vals: np.ndarray | None = None  # the buffer the current pass splats into
    fused: FusedGrid | None = None  # a grid lattice's one buffer, splat and blur inside the sweep (grid_stream.py)


class StreamEngine:
    """Mean-field passes over pixel tiles for a StreamPrior and up to two Potts kernels [(lattice, weight)].

    sweep(consumer, splat) computes the next Q tile by tile (Q_0 = softmax(prior) before any blur), giving each
    tile to consumer(a, b, q) (q (b-a, W) float32 scratch: use it at once) and splatting it; blur() turns the
    splat into the messages (`blurred`, per kernel (M+1, W)) the next sweep slices."""

    kind = "cpu"
    mode = "streamed"

    def __init__(self, prior: StreamPrior, terms: list[tuple[Lattice, float]], tile: int | None = None,
                 fuse: bool = True):
        tile = TILE if tile is None else int(tile)
        if tile % 64:
            raise ValueError("tiles must start on the step kernel's 64-pixel blocks")
        if len(terms) > 2:
            raise ValueError("the CPU engine takes at most two pairwise kernels")
        self.prior = prior
        self.tile = tile
        self.tasks = tasks = splat_tasks(prior.width)
        self.terms = [_Term(lat, np.float32(np.float32(w) * lat.alpha), tile_cuts(lat, tile, tasks), None,
                            fused=FusedGrid(lat, tile, prior.width) if fuse and isinstance(lat, GridLattice) else None)
                      for lat, w in terms if w != 0]
        for t in self.terms:
            if t.lat.n_points != prior.n_points:
                raise ValueError(f"lattice has {t.lat.n_points} points, the prior {prior.n_points}")
        self.blurred: list | None = None
        rows = min(tile, prior.n_points)
        self._p = np.empty((rows, prior.width), np.float32) if prior.whole is None else None
        self._q = np.empty((rows, prior.width), np.float32)
        self._q2 = None  # the second Q tile, while a splat runs beside the step (sweep)

    @property
    def nbytes(self) -> int:
        tiles = sum(x.nbytes for x in (self._p, self._q, self._q2) if x is not None)
        return int(tiles + sum(b.nbytes for t in self.terms for b in (t.bufs or ()))
                   + sum(t.fused.nbytes for t in self.terms if t.fused is not None))

    def sweep(self, consumer=None, splat: bool = True, should_cancel=None) -> None:
        """One pass over the tiles: Q from the prior and the messages; to consumer, and splatted if `splat`.
        should_cancel() is checked before each tile (a pass takes seconds at 12 MP: a stroke must not wait for it);
        a cancelled pass leaves the engine unusable (the run ends)."""
        n, tile = self.prior.n_points, self.tile
        slice_on = self.blurred is not None and bool(self.terms)
        splat = splat and bool(self.terms)
        if splat:
            self._start_splat()
        else:  # the last sweep: only the messages are read, the splat buffers can go before the result is made
            for k, t in enumerate(self.terms):
                if t.fused is not None:
                    t.fused.drop_staging()
                elif t.bufs is not None:
                    t.bufs = [b for b in t.bufs if self.blurred is not None and b is self.blurred[k]] or None
        beside = splat and self.tasks == 1   # the splat of a tile runs beside the step of the next one
        if beside and self._q2 is None:
            self._q2 = np.empty_like(self._q)
        fuse_beside = splat and not beside and any(t.fused is not None for t in self.terms)
        pending = None   # the side thread's task: tile k-1's splat (and grid blur), or its grid blur
        try:
            for k, a in enumerate(range(0, n, tile)):
                check_cancel(should_cancel)
                b = min(n, a + tile)
                q = (self._q2 if beside and k % 2 else self._q)[:b - a]   # (the splat of tile k-1 reads the other)
                p = self.prior.rows(a, b, None if self._p is None else self._p[:b - a])
                args = []
                for idx in range(2):
                    if slice_on and idx < len(self.terms):
                        t = self.terms[idx]
                        args += [t.lat.offsets[a:b], t.lat.weights[a:b], self.blurred[idx], t.coef]
                    else:
                        args += [_NO_OFF, _NO_W, _NO_W, np.float32(0)]
                with PARALLEL_LOCK:
                    ck.step(p, self.prior.counts, *args, q, slice_on, slice_on and len(self.terms) > 1)
                    if splat and not beside:
                        if pending is not None:   # tile k-1's grid blur is done before this splat stages rows
                            pending.result()
                            pending = None
                        for t in self.terms:
                            if t.fused is not None:
                                t.fused.splat(q, a, k, t.cuts[k])
                            else:
                                sk.splat_tile(q, a, t.lat.offsets, t.lat.weights, t.vals, t.cuts[k], np.int64(0))
                    if consumer is not None:  # (its kernels launch under the lock too)
                        consumer(a, b, q)
                if fuse_beside:   # the grid blur of the bands tile k made final, beside the next tile's step
                    pending = _splatter().submit(self._fuse_serial, k)
                if beside:
                    if pending is not None:
                        pending.result()   # tile k-1 is splatted: every vertex row stays a pixel-ordered sum
                    pending = _splatter().submit(self._splat_serial, q, a, k)
        finally:
            if pending is not None:   # (the last tile's splat or blur: the messages are whole after it)
                pending.result()

    def _splat_serial(self, q: np.ndarray, a: int, k: int) -> None:
        for t in self.terms:
            if t.fused is not None:
                t.fused.splat(q, a, k)
                t.fused.fuse(k)
            else:
                sk.splat_tile_serial(q, a, t.lat.offsets, t.lat.weights, t.vals, np.int64(0))

    def _fuse_serial(self, k: int) -> None:
        """The grid lattices' messages of the bands tile k's splat made final (grid_stream.FusedGrid.fuse), on the
        side thread: the blur runs beside the next tile's step, as a splat does."""
        for t in self.terms:
            if t.fused is not None:
                t.fused.fuse(k)

    def _start_splat(self) -> None:
        """Pick each kernel's splat buffer (the one not holding the messages) and zero it."""
        for k, t in enumerate(self.terms):
            if t.fused is not None:
                t.fused.start()
                continue
            m1 = t.lat.n_vertices + 1
            if t.bufs is None:
                t.bufs = [np.empty((m1, self.prior.width), np.float32) for _ in range(2)]
                t.bufs[1][m1 - 1] = 0.0  # the blur reads row M (missing neighbours) of its scratch too
            if len(t.bufs) == 1:  # (after a last sweep: a splat buffer again)
                t.bufs.append(np.empty((m1, self.prior.width), np.float32))
                t.bufs[1][m1 - 1] = 0.0
            held = None if self.blurred is None else self.blurred[k]
            t.vals = t.bufs[1] if held is t.bufs[0] else t.bufs[0]
            with PARALLEL_LOCK:
                sk.zero_rows(t.vals)

    def seed(self, blurred: list) -> None:
        """Start from messages made before (Q_0's, which no weight changes: the session keeps them): the next
        sweep slices them. They are only read."""
        if len(blurred) != len(self.terms):
            raise ValueError(f"{len(blurred)} message arrays for {len(self.terms)} kernels")
        self.blurred = list(blurred)

    def blur(self) -> None:
        """The splat of the last sweep, blurred: the messages of that sweep's Q."""
        out = []
        for t in self.terms:
            if t.fused is not None:   # (blurred inside the sweep)
                out.append(t.fused.main)
                continue
            scratch = t.bufs[1] if t.vals is t.bufs[0] else t.bufs[0]
            with PARALLEL_LOCK:
                out.append(t.lat.blur(t.vals, scratch) if isinstance(t.lat, GridLattice)
                           else ck.blur(t.lat.neighbours, t.vals, scratch))
            t.vals = None
        self.blurred = out

    def release(self) -> None:
        """Drop the vertex buffers and tiles (the engine is one run's)."""
        for t in self.terms:
            t.bufs = t.vals = t.fused = None
        self.blurred = None
        self._p = self._q = self._q2 = None
