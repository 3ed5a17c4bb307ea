"""Local refinement: re-solve the mean-field in a window around a change, every pixel outside it held fixed.

Why: after a brush stroke only pixels near it can change much, and a whole-image run costs seconds at 6 MP.
The window's pixels are iterated from their own Q_0, as a whole-image run would, on the whole-image lattices
(so vertices, barycentric weights and normalisation are exactly the full run's); the pixels outside keep their
current Q. Their messages are the current solution's blurred splat minus the window's own share
(sublattice.py: blurring on the part of the lattice the window reaches is exact for the window's share). After
the window is pasted back, the solution's Q and blurred splat are updated by the window's change, so the next
stroke starts from the current state. The margin around the change comes from the kernels' xy widths.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from ...boxes import grow_clip
from ...errors import check_cancel
from ..constraints import enforce_locks, hard_unary_probs
from ..params import CRFParams
from . import cpu_kernels as ck
from . import simd
from .cpu_engine import CpuEngine, owner_spans
from .lattice import Lattice
from .prior import make_prior
from .prune import PRUNE_MASS, negligible_labels
from .sublattice import SubLattice, sub_lattice
from .threads import PARALLEL_LOCK

MARGIN_SIGMAS = 1.25  # window = dirty box grown by this many xy stds of the widest kernel in use
MIN_MARGIN = 8       # pixels, whatever the kernels
EDGE_BAND = 6        # pixels: the band along the window's inner sides whose label changes say the window is too small
EDGE_TOLERANCE = 0.02  # (bench: at this tolerance the windows agreed 99.8-99.9 % with whole-image runs)
GROW = 1.6
TRIES = 3
MAX_FRACTION = 0.5   # a window larger than this share of the image: run the whole image instead


def kernel_reach(params: CRFParams) -> float:
    """The widest xy std among the kernels in use (a kernel with weight 0 does not count)."""
    widths = [s for w, s in ((params.pos_w, params.pos_xy_std), (params.bi_w, params.bi_xy_std)) if w > 0]
    return max(widths, default=0.0)


def window_for(box: tuple[int, int, int, int], params: CRFParams, height: int, width: int,
               sigmas: float = MARGIN_SIGMAS) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the window re-solved around a dirty box (x0, y0, x1, y1), clipped to the image."""
    margin = max(MIN_MARGIN, int(math.ceil(sigmas * kernel_reach(params))))
    return grow_clip(box, margin, (height, width))


def _filtered(lat: Lattice, q: np.ndarray) -> np.ndarray:
    """blur(splat(q)) on lat: (M+1, W) float32, row M zero (a fresh array the caller owns)."""
    m1, w = lat.n_vertices + 1, q.shape[1]
    vals = np.empty((m1, w), np.float32)
    tmp = np.empty((m1, w), np.float32)
    vals[-1] = tmp[-1] = 0.0
    owners = owner_spans(lat, max(1, numba.get_num_threads()))
    with PARALLEL_LOCK:
        ck.splat(q, 0, lat.offsets, lat.weights, vals, owners, np.zeros((1, 4), np.float32), False)
        return ck.blur(lat.neighbours, vals, tmp)


@dataclass(eq=False)
class Solution:
    """The whole-image mean-field state local refinement holds fixed outside its window.

    trajectory[t][k]: the blurred splat (M+1,W) of Q_t through term k's lattice, t = 0..T-1, i.e. the messages
    every pixel received in iteration t+1 (window pixels iterate against the outside's messages of the same
    iteration; holding the outside at its final Q instead left 1-2 % of a window's labels wrong even where
    nothing changed). Any pixel's Q_t can be recomputed from them and its prior. terms: the whole-image
    [(lattice, weight)]; locks (labels, locked): the constraints the state reflects (a pasted window brings its
    own). Memory: T x (vertices of both lattices) x W x 4 bytes, e.g. about 350 MB at 6 MP / 5 classes.
    """

    params: CRFParams
    shape: tuple[int, int]
    terms: list
    trajectory: list
    counts: np.ndarray
    group_of_label: np.ndarray
    rep_label: np.ndarray
    locks: tuple
    kind: str = "exact"   # 'local' once a window has been pasted
    windows: int = field(default=0)
    pruned: np.ndarray | None = None  # (C,) bool: the labels the solve pruned (prune.py)
    prune_mass: float = PRUNE_MASS    # at which combined mass (a wide streamed run may prune more: session.py)

    @property
    def nbytes(self) -> int:
        return int(sum(b.nbytes for step in self.trajectory for b in step))

    def regroup(self, group_of_label: np.ndarray, rep_label: np.ndarray, counts: np.ndarray) -> None:
        """Switch to finer label groups (each new group inside an old one): copy the old groups' columns."""
        cols = self.group_of_label[rep_label].astype(np.int64)
        width = simd.row_width(len(rep_label))

        def widen(a):
            out = np.zeros((a.shape[0], width), a.dtype)
            out[:, :len(cols)] = a[:, cols]
            return out

        self.trajectory = [[widen(b) for b in step] for step in self.trajectory]
        self.group_of_label, self.rep_label, self.counts = group_of_label, rep_label, counts


@dataclass(frozen=True, eq=False)
class WindowResult:
    """box (x0, y0, x1, y1); labels (h,w) uint8 and probs (C,h,w) float32 of the window (locks enforced);
    the rest is what paste() needs: per iteration and term, the change of the messages on the sub-lattice."""

    box: tuple[int, int, int, int]
    labels: np.ndarray
    probs: np.ndarray
    changes: list
    subs: tuple
    locks: tuple
    edge_change: float = 0.0  # fraction of the window's edge band whose label the refinement changed
    pruned: np.ndarray | None = None  # the labels still pruned in it: new probabilities can make one likely there


def _points(box, width: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    return (np.arange(y0, y1, dtype=np.int64)[:, None] * width + np.arange(x0, x1, dtype=np.int64)[None, :]).ravel()


def _crop_locks(locks, box):
    x0, y0, x1, y1 = box
    return (np.ascontiguousarray(locks[0][y0:y1, x0:x1], np.uint8),
            np.ascontiguousarray(locks[1][y0:y1, x0:x1], bool))


def _priors(solution: Solution, crop: np.ndarray, held_crop: np.ndarray, new_locks, old_locks):
    """Window priors under the new locks (and probabilities) and under the solution's, in one label grouping
    that refines the solution's (a newly painted class splits from the group of classes absent so far).
    The held side keeps the solution's pruned labels; the new side only those still negligible in the window (a
    class the new probabilities make likely, e.g. one a stroke just taught, gets its own row back)."""
    held_pruned = solution.pruned
    new_pruned = None if held_pruned is None else held_pruned & negligible_labels(crop, solution.prune_mass)
    new = make_prior(crop, key=("window",), locks=new_locks, within=solution.group_of_label, pruned=new_pruned)
    old = make_prior(held_crop, key=("window",), locks=old_locks, within=new.group_of_label, pruned=held_pruned)
    if not np.array_equal(old.group_of_label, new.group_of_label):
        new = make_prior(crop, key=("window",), locks=new_locks, within=old.group_of_label, pruned=new_pruned)
    if not np.array_equal(new.group_of_label, solution.group_of_label):
        solution.regroup(new.group_of_label, new.rep_label, new.counts)
    return new, old


@dataclass(frozen=True)
class HeldProbs:
    """What a solution was computed from, pixel by pixel, once windows re-solved new probabilities into it:
    ``base`` (the probabilities of its exact run) everywhere but in ``boxes``, where those windows used the new
    ones, the probabilities a request now brings. Why: after a stroke's learning the window around the stroke
    re-solves the head's new probabilities; the next stroke's window must hold the rest of the image as the
    solution has it, or it could not be solved before the next exact run (a walk: a second stroke during that
    run got a 1/7 preview instead of its window)."""
    base: np.ndarray
    boxes: tuple = ()

    def crop(self, probs: np.ndarray, box) -> np.ndarray:
        """(C, h, w) float32 of the window ``box`` as the solution holds it."""
        x0, y0, x1, y1 = box
        out = np.ascontiguousarray(self.base[:, y0:y1, x0:x1], np.float32)
        for bx0, by0, bx1, by1 in self.boxes:
            ix0, iy0, ix1, iy1 = max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1)
            if ix0 < ix1 and iy0 < iy1:
                out[:, iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = probs[:, iy0:iy1, ix0:ix1]
        return out


def refine(solution: Solution, probs: np.ndarray, box: tuple[int, int, int, int], locks=None,
           should_cancel=None, held_probs: np.ndarray | HeldProbs | None = None) -> WindowResult:
    """Re-solve the window `box` (x0, y0, x1, y1) of probabilities (C,H,W) with `locks` (labels, locked) as hard
    unaries, pixels outside held at `solution`, its number of iterations. held_probs: the probabilities the
    solution was computed from, when `probs` are new ones (a head adaptation's); None: the same. Leaves the
    solution's state as it was (it may switch to finer label groups): paste() takes the result in."""
    h, w = solution.shape
    x0, y0, x1, y1 = box
    crop = np.ascontiguousarray(probs[:, y0:y1, x0:x1], dtype=np.float32)
    if held_probs is None:
        held_crop = crop
    elif isinstance(held_probs, HeldProbs):
        held_crop = held_probs.crop(probs, box)
    else:
        held_crop = np.ascontiguousarray(held_probs[:, y0:y1, x0:x1], np.float32)
    if locks is None:
        locks = (np.zeros((h, w), np.uint8), np.zeros((h, w), bool))
    new_locks, old_locks = _crop_locks(locks, box), _crop_locks(solution.locks, box)
    new, old = _priors(solution, crop, held_crop, new_locks, old_locks)
    check_cancel(should_cancel)
    points = _points(box, w)
    subs = [sub_lattice(lat, points) for lat, _ in solution.terms]
    terms = [(sub.lattice, weight) for sub, (_, weight) in zip(subs, solution.terms)]

    def on_sub(t):  # the solution's messages of iteration t on the sub-lattices (zero row appended)
        out = []
        for sub, b in zip(subs, solution.trajectory[t]):
            a = np.empty((sub.lattice.n_vertices + 1, b.shape[1]), np.float32)
            a[:-1] = b[sub.ids]
            a[-1] = 0.0
            out.append(a)
        return out

    # Iteration t+1 of the solution gave the window softmax(prior + slice(M_t)), M_t = trajectory[t]. With the
    # window's new prior its Q_t changes by D_t, so its messages become M_t + blur(splat(D_t)) (the outside's
    # share is unchanged): one splat and blur per iteration, of the change only.
    held = CpuEngine(old.prior, old.counts, terms)
    engine = CpuEngine(new.prior, new.counts, terms)
    q_old, q_new = held.initial(), engine.initial()
    changes = []
    for t in range(len(solution.trajectory)):
        check_cancel(should_cancel)
        messages = on_sub(t)
        change = [_filtered(sub.lattice, q_new - q_old) for sub in subs]
        changes.append(change)
        q_old = held.step_from(messages)
        q_new = engine.step_from([np.add(m, c, out=m) for m, c in zip(messages, change)])
    out_probs, labels = engine.expand(q_new, new.group_of_label, new.rep_label)
    labels = labels.reshape(y1 - y0, x1 - x0)
    before = held.labels(q_old, old.rep_label).reshape(labels.shape)
    edge = _edge_band(box, h, w)
    edge_change = float((labels != before)[edge].mean()) if edge.any() else 0.0
    labels = enforce_locks(labels, *new_locks)
    out_probs = hard_unary_probs(out_probs.reshape(-1, y1 - y0, x1 - x0), *new_locks)
    return WindowResult(box=box, labels=labels, probs=out_probs, changes=changes, subs=tuple(subs), locks=new_locks,
                        edge_change=edge_change, pruned=new.pruned)


def _edge_band(box, height: int, width: int, band: int = EDGE_BAND) -> np.ndarray:
    """(h,w) bool: the window's pixels within `band` of a side that is not the image's border."""
    x0, y0, x1, y1 = box
    out = np.zeros((y1 - y0, x1 - x0), bool)
    if y0 > 0:
        out[:band] = True
    if y1 < height:
        out[-band:] = True
    if x0 > 0:
        out[:, :band] = True
    if x1 < width:
        out[:, -band:] = True
    return out


def refine_around(solution: Solution, probs: np.ndarray, dirty: tuple[int, int, int, int], locks=None,
                  should_cancel=None, sigmas: float = MARGIN_SIGMAS, max_fraction: float = MAX_FRACTION,
                  held_probs: np.ndarray | None = None) -> WindowResult | None:
    """refine() in the window around a dirty box (x0, y0, x1, y1), grown while the change still reaches its edge.

    Why: how far a stroke's effect spreads depends on the image and the labels, not only on the kernels. If more
    than EDGE_TOLERANCE of the window's edge band changed label, the held outside would have reacted too: the
    window is grown by GROW and solved again (at most TRIES times). None when the window would cover more than
    max_fraction of the image: a whole-image run is then as cheap and exact.
    """
    h, w = solution.shape
    result = None
    for _ in range(TRIES):
        box = window_for(dirty, solution.params, h, w, sigmas)
        if (box[2] - box[0]) * (box[3] - box[1]) > max_fraction * h * w:
            return None
        result = refine(solution, probs, box, locks=locks, should_cancel=should_cancel, held_probs=held_probs)
        if result.edge_change <= EDGE_TOLERANCE:
            break
        sigmas *= GROW
    return result


def paste(solution: Solution, result: WindowResult) -> None:
    """Take a window's result into the solution: each iteration's messages gain the window's change (exact on
    its sub-lattices), and the window's locks become the solution's there."""
    for t, change in enumerate(result.changes):
        for k, sub in enumerate(result.subs):
            kept = solution.trajectory[t][k]
            if kept.dtype == np.float32:
                with PARALLEL_LOCK:
                    ck.add_rows(kept, sub.ids, change[k])
            else:  # float16 (large images): numpy
                kept[sub.ids] += change[k][:-1]
    x0, y0, x1, y1 = result.box
    solution.locks[0][y0:y1, x0:x1] = result.locks[0]
    solution.locks[1][y0:y1, x0:x1] = result.locks[1]
    # a label the window's new probabilities made likely has its own row there now: a later window must hold it so
    # (measured: a second window over a learnt class's first one differed from it at 2.6 % of its pixels)
    solution.pruned = result.pruned
    solution.kind = "local"
    solution.windows += 1


__all__ = ["Solution", "WindowResult", "HeldProbs", "refine", "refine_around", "paste", "window_for", "kernel_reach",
           "SubLattice"]
