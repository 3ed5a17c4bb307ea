"""The part of a whole-image lattice that a window of pixels reaches, as a small lattice of its own.

Why: local refinement (window.py) iterates only the window's pixels, but their messages pass through the
whole-image lattice (its vertices, barycentric weights and normalisation). Splatting the window touches a set S0
of vertices; blur pass j spreads values one step along axis j, so after the d+1 passes the values live on
S = S0 grown along axis 0, then 1, ..., then d. Blurring on S alone (neighbours outside S read as zero) is then
exact for anything splatted from the window: outside S those values are exactly zero. S is a few times |S0|,
far smaller than the lattice, so an iteration costs about what the window's size says.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .lattice import Lattice
from .threads import PARALLEL_LOCK


@njit(nogil=True, cache=True)
def _closure(off_p, nbr, m):
    """Sorted global ids of S (see module docstring) for the points' vertex ids off_p (P, d+1)."""
    mark = np.zeros(m + 1, np.bool_)
    mark[m] = True  # the zero row is never part of S
    found = np.empty(m, np.int64)
    n = 0
    for i in range(off_p.shape[0]):
        for j in range(off_p.shape[1]):
            v = off_p[i, j]
            if not mark[v]:
                mark[v] = True
                found[n] = v
                n += 1
    for axis in range(nbr.shape[0]):
        grown = n
        for k in range(n):
            v = found[k]
            for side in range(2):
                u = nbr[axis, v, side]
                if not mark[u]:
                    mark[u] = True
                    found[grown] = u
                    grown += 1
        n = grown
    return np.sort(found[:n])


@njit(nogil=True, cache=True)
def _localise(ids, off_p, nbr, m):
    """(local offsets (P, d+1) int32, local neighbours (d+1, S, 2) int32) with ids outside S -> S (zero row)."""
    s = ids.shape[0]
    local = np.full(m + 1, s, np.int32)
    for k in range(s):
        local[ids[k]] = k
    off = np.empty(off_p.shape, np.int32)
    for i in range(off_p.shape[0]):
        for j in range(off_p.shape[1]):
            off[i, j] = local[off_p[i, j]]
    d1 = nbr.shape[0]
    out = np.empty((d1, s, 2), np.int32)
    for axis in range(d1):
        for k in range(s):
            out[axis, k, 0] = local[nbr[axis, ids[k], 0]]
            out[axis, k, 1] = local[nbr[axis, ids[k], 1]]
    return off, out


@dataclass(frozen=True, eq=False)
class SubLattice:
    """lattice: the window's own Lattice (its points are the window's pixels, in the order given); ids (S,)
    int64: the whole-image vertex id of each of its vertices (its zero row S has none)."""

    lattice: Lattice
    ids: np.ndarray


def sub_lattice(lat: Lattice, points: np.ndarray) -> SubLattice:
    """The sub-lattice reached by whole-image points `points` (P,) int64, keeping their weights (normalisation)."""
    off_p = np.ascontiguousarray(lat.offsets[points])
    with PARALLEL_LOCK:  # not parallel, but keeps numba launches in one place at a time
        ids = _closure(off_p, lat.neighbours, lat.n_vertices)
        off, nbr = _localise(ids, off_p, lat.neighbours, lat.n_vertices)
    sub = Lattice(d=lat.d, n_points=int(points.shape[0]), n_vertices=int(ids.shape[0]), offsets=off,
                  weights=np.ascontiguousarray(lat.weights[points]), neighbours=nbr, alpha=lat.alpha)
    return SubLattice(sub, ids)
