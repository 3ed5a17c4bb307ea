"""Process-wide lattice caches, bounded by bytes (reference dense_crf.md §3.1: what invalidates what).

The Gaussian lattice depends only on (H, W, sxy), so every image of the same size shares it. The bilateral
lattice depends on the image and (sxy, srgb). Weights, iterations and the unary never rebuild a lattice.
Keys use float32 sigmas, the precision pydensecrf sees, so 3.0 and 3.0000000001 share a lattice.

A lattice over its cache's budget (both lattices at 24 MP with the DeepLab v1 preset; at 12 MP with the v2 preset)
is not kept, but whatever still holds it (the last run's solution, which local windows slice; a run in progress)
keeps it alive: LIVE finds it by key, so the next run for the same image and sigmas shares that copy instead of
building a second one beside it (measured at 24 MP, demo model: a stroke's exact run held two copies of both).
"""
from __future__ import annotations

import hashlib
import threading
import weakref

import numpy as np

from .cache import ByteLRU
from .features import bilateral_features, gaussian_features
from .grid_lattice import GridLattice
from .grid_lattice import make as make_grid
from .lattice import Lattice, build_lattice

GAUSS_BUDGET = 384 << 20      # holds the lattice of a 12 MP image (about 330 MB)
BILATERAL_BUDGET = 768 << 20  # and its bilateral one (about 620 MB)

GAUSSIAN_LATTICES = ByteLRU(GAUSS_BUDGET)
BILATERAL_LATTICES = ByteLRU(BILATERAL_BUDGET)

# Every lattice handed out that something still references, by key (weak: it holds no memory itself).
LIVE: "weakref.WeakValueDictionary[tuple, Lattice]" = weakref.WeakValueDictionary()
_LIVE_LOCK = threading.Lock()

# Counters so tests (and the bench) can see what was rebuilt.
BUILD_COUNTS = {"gaussian": 0, "gaussian-grid": 0, "bilateral": 0}


def image_key(image_rgb: np.ndarray) -> tuple:
    """Content key of an (H,W,3) uint8 image (size + BLAKE2b of its bytes)."""
    digest = hashlib.blake2b(np.ascontiguousarray(image_rgb).data, digest_size=16).hexdigest()
    return (image_rgb.shape, digest)


def gaussian_key(height: int, width: int, sxy: float) -> tuple:
    return ("gaussian", int(height), int(width), float(np.float32(sxy)))


def bilateral_key(img_key: tuple, sxy: float, srgb: float) -> tuple:
    return ("bilateral", img_key, float(np.float32(sxy)), float(np.float32(srgb)))


def gaussian_lattice(height: int, width: int, sxy: float) -> tuple[tuple, Lattice]:
    key = gaussian_key(height, width, sxy)

    def build():
        BUILD_COUNTS["gaussian"] += 1
        return build_lattice(gaussian_features(height, width, sxy))

    return key, _get_or_build(GAUSSIAN_LATTICES, key, build)


def grid_key(height: int, width: int, sxy: float) -> tuple:
    return ("gaussian-grid", int(height), int(width), float(np.float32(sxy)))


def gaussian_grid(height: int, width: int, sxy: float) -> tuple[tuple, GridLattice] | None:
    """The xy lattice in its grid form (grid_lattice.py), cached like the stored one (and in its budget), or None
    where it cannot be made (keys past the packed range: the stored lattice handles those)."""
    key = grid_key(height, width, sxy)

    def build():
        BUILD_COUNTS["gaussian-grid"] += 1
        return make_grid(height, width, sxy)

    lat = _get_or_build(GAUSSIAN_LATTICES, key, build)
    return None if lat is None else (key, lat)


def bilateral_lattice(image_rgb: np.ndarray, img_key: tuple, sxy: float, srgb: float) -> tuple[tuple, Lattice]:
    key = bilateral_key(img_key, sxy, srgb)

    def build():
        BUILD_COUNTS["bilateral"] += 1
        return build_lattice(bilateral_features(image_rgb, sxy, srgb))

    return key, _get_or_build(BILATERAL_LATTICES, key, build)


def held(key: tuple) -> bool:
    """A lattice for this key is cached or still referenced somewhere (reusing it costs nothing)."""
    if key in GAUSSIAN_LATTICES or key in BILATERAL_LATTICES:
        return True
    with _LIVE_LOCK:
        return LIVE.get(key) is not None


def _get_or_build(cache, key: tuple, build) -> Lattice | GridLattice | None:
    """The cached lattice for ``key``, else a live one (held elsewhere, over the budget), else a new one (None if
    build() gives none)."""
    lat = cache.get(key)
    if lat is None:
        with _LIVE_LOCK:
            lat = LIVE.get(key)
        if lat is None:
            lat = build()
            if lat is None:
                return None
        cache.put(key, lat)
    with _LIVE_LOCK:
        LIVE[key] = lat
    return lat


def clear() -> None:
    """Drop every cached lattice and forget the live ones, so the next run builds its own (tests, benches that
    time a run from scratch; or to give memory back)."""
    GAUSSIAN_LATTICES.clear()
    BILATERAL_LATTICES.clear()
    with _LIVE_LOCK:
        LIVE.clear()
