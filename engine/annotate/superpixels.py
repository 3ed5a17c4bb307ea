"""SLIC superpixels (scikit-image) for the superpixel fill tool: one click relabels a whole colour-coherent region.

``size`` is the approximate side of a superpixel in image pixels, the number a labeller can judge by eye; SLIC is
asked for H*W / size^2 segments. Segmentations are cached per (image key, size) in a byte-bounded LRU, so going
back to an image or a size costs nothing. Computing one takes about 0.1 s at 0.08 MP and 1-2 s at 1 MP: callers
run ``compute`` off the GUI thread.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable

import numpy as np

# scikit-image is imported where it is used: importing it costs about 3 s cold, which a start-up must not pay
# for a tool that may never be picked (the callers run in a worker anyway).

MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 4, 200, 24
COMPACTNESS = 10.0          # skimage's default for colour images: shape vs colour adherence


def compute(image: np.ndarray, size: int = DEFAULT_SIZE, compactness: float = COMPACTNESS) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) int32 segment ids 0..K-1, segments about ``size`` pixels across."""
    from skimage.segmentation import slic

    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {image.shape}")
    size = int(min(max(size, MIN_SIZE), MAX_SIZE))
    h, w = image.shape[:2]
    n = max(1, round(h * w / float(size * size)))
    seg = slic(image, n_segments=n, compactness=compactness, start_label=0, channel_axis=-1)
    return np.ascontiguousarray(seg, dtype=np.int32)


def region_of(segments: np.ndarray, points) -> np.ndarray:
    """(H, W) bool: the union of the segments under the (x, y) ``points`` (points outside are ignored)."""
    h, w = segments.shape
    ids = {int(segments[int(y), int(x)]) for x, y in points if 0 <= int(x) < w and 0 <= int(y) < h}
    if not ids:
        return np.zeros(segments.shape, dtype=bool)
    return np.isin(segments, np.fromiter(ids, dtype=segments.dtype))


def boundaries(segments: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels on a segment's edge, to draw the superpixel outlines."""
    from skimage.segmentation import find_boundaries

    return find_boundaries(segments, mode="inner")


class SuperpixelCache:
    """LRU of segmentations keyed by (image key, size), bounded by bytes; thread-safe (filled by a worker)."""

    def __init__(self, max_bytes: int = 64 << 20):
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, size: int) -> np.ndarray | None:
        with self._lock:
            seg = self._items.get((key, int(size)))
            if seg is not None:
                self._items.move_to_end((key, int(size)))
            return seg

    def put(self, key: Hashable, size: int, segments: np.ndarray) -> None:
        with self._lock:
            self._items[(key, int(size))] = segments
            self._items.move_to_end((key, int(size)))
            while len(self._items) > 1 and sum(s.nbytes for s in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)

    def get_or_compute(self, key: Hashable, image: np.ndarray, size: int,
                       compute_fn: Callable[[np.ndarray, int], np.ndarray] | None = None) -> np.ndarray:
        seg = self.get(key, size)
        if seg is None:
            seg = (compute_fn or compute)(image, size)
            self.put(key, size, seg)
        return seg

    def __len__(self) -> int:
        return len(self._items)
