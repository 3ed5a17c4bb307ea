"""engine/boxes.py: pixel boxes (x0, y0, x1, y1), x1/y1 exclusive, None for "no box".

The helpers replace copies in engine/annotate/edits.py (_tight_box), engine/learn/grid.py (changed_box),
engine/crf/interactive/refiner.py (_union, dirty_box), engine/crf/fast/window.py (window_for) and can serve
gui/session/adaptation.py (_union); the old copies are kept below as references and compared on random input."""
from __future__ import annotations

import numpy as np
import pytest

from engine.boxes import grow_clip, is_empty, mask_box, union

# --- the copies these helpers replaced, verbatim ---------------------------------------------------------------

def _tight_box_edits(changed):          # engine/annotate/edits.py
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(changed.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _mask_box_refiner(region):          # engine/crf/interactive/refiner.py, dirty_box's mask branch
    ys, xs = np.nonzero(region)
    return None if ys.size == 0 else (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def _changed_box_grid(old_labels, new_labels, margin=0):   # engine/learn/grid.py
    h, w = new_labels.shape
    diff = np.asarray(old_labels) != np.asarray(new_labels)
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return (max(int(cols[0]) - margin, 0), max(int(rows[0]) - margin, 0),
            min(int(cols[-1]) + 1 + margin, w), min(int(rows[-1]) + 1 + margin, h))


def _union_gui(a, b):                   # gui/session/adaptation.py
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _window_for(box, margin, height, width):   # engine/crf/fast/window.py, after the margin is computed
    x0, y0, x1, y1 = box
    return max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin)


# --- mask_box ----------------------------------------------------------------------------------------------------

def test_mask_box_is_tight_and_exclusive():
    mask = np.zeros((10, 12), bool)
    mask[2, 5] = mask[3, 8] = True
    assert mask_box(mask) == (5, 2, 9, 4)
    box = mask_box(mask)
    assert mask[box[1]:box[3], box[0]:box[2]].sum() == mask.sum()   # slicing with it keeps every True pixel
    assert all(type(v) is int for v in box)


def test_mask_box_of_nothing_is_none():
    assert mask_box(np.zeros((4, 5), bool)) is None
    assert mask_box(np.zeros((0, 0), bool)) is None


def test_mask_box_whole_image_and_non_bool_masks():
    assert mask_box(np.ones((3, 7), bool)) == (0, 0, 7, 3)
    m = np.zeros((6, 6), np.uint8)
    m[5, 0] = 3
    assert mask_box(m) == (0, 5, 1, 6)


@pytest.mark.parametrize("seed", range(20))
def test_mask_box_matches_the_old_copies(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 30)))) < rng.choice([0.0, 0.01, 0.1, 0.5])
    assert mask_box(mask) == _tight_box_edits(mask) == _mask_box_refiner(mask)


# --- union -------------------------------------------------------------------------------------------------------

def test_union():
    assert union((3, 4, 10, 12), (20, 1, 25, 5)) == (3, 1, 25, 12)
    assert union((3, 4, 10, 12)) == (3, 4, 10, 12)
    assert union((1, 1, 2, 2), (5, 5, 6, 6), (0, 3, 1, 4)) == (0, 1, 6, 6)


def test_union_skips_none():
    assert union(None, (1, 2, 3, 4)) == (1, 2, 3, 4)
    assert union((1, 2, 3, 4), None) == (1, 2, 3, 4)
    assert union(None, None) is None
    assert union() is None


def test_union_keeps_empty_boxes_unless_filtered():
    """Like the gui's two-box _union: an empty box still counts; dirty_box filters them with is_empty."""
    assert union((0, 0, 0, 0), (5, 5, 6, 6)) == (0, 0, 6, 6)
    boxes = [(0, 0, 0, 0), (5, 5, 6, 6), (9, 9, 3, 10)]
    assert union(*(b for b in boxes if not is_empty(b))) == (5, 5, 6, 6)


@pytest.mark.parametrize("seed", range(20))
def test_union_matches_the_gui_copy(seed):
    rng = np.random.default_rng(seed)

    def box():
        if rng.random() < 0.25:
            return None
        x0, y0 = (int(v) for v in rng.integers(0, 50, 2))
        return x0, y0, x0 + int(rng.integers(0, 20)), y0 + int(rng.integers(0, 20))
    a, b = box(), box()
    assert union(a, b) == _union_gui(a, b)


def test_is_empty():
    assert is_empty(None)
    assert is_empty((3, 3, 3, 9)) and is_empty((3, 3, 9, 3)) and is_empty((5, 0, 2, 4))
    assert not is_empty((3, 3, 4, 4))


# --- grow_clip ---------------------------------------------------------------------------------------------------

def test_grow_clip():
    assert grow_clip((5, 2, 9, 4), 3, (10, 12)) == (2, 0, 12, 7)
    assert grow_clip((5, 2, 9, 4), 0, (10, 12)) == (5, 2, 9, 4)
    assert grow_clip((0, 0, 12, 10), 100, (10, 12)) == (0, 0, 12, 10)
    assert grow_clip((5, 2, 9, 4), 1, (10, 12, 3)) == (4, 1, 10, 5)   # an RGB image's shape works too


def test_grow_clip_of_none_is_none():
    assert grow_clip(None, 5, (10, 10)) is None


@pytest.mark.parametrize("seed", range(20))
def test_grow_clip_matches_the_old_copies(seed):
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(1, 40, 2))
    old = rng.integers(0, 3, (h, w)).astype(np.uint8)
    new = old.copy()
    new[rng.random((h, w)) < rng.choice([0.0, 0.02, 0.3])] = 7
    margin = int(rng.integers(0, 10))
    box = grow_clip(mask_box(old != new), margin, new.shape)
    assert box == _changed_box_grid(old, new, margin)
    if box is not None:
        assert grow_clip(box, margin, (h, w)) == _window_for(box, margin, h, w)
