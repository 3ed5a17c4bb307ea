"""SLIC superpixels: about the asked size and following edges, a cache per image and size with a bound, and a
mask painted as one undoable edit."""
import numpy as np
import pytest

from engine.annotate import superpixels
from engine.annotate.edits import EditableLabels


def _two_tone(h=60, w=80):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (200, 30, 30)
    img[:, w // 2:] = (30, 30, 200)
    return img


def test_slic_segments_have_about_the_asked_size_and_follow_edges():
    img = _two_tone()
    small, large = superpixels.compute(img, 10), superpixels.compute(img, 30)
    assert small.dtype == np.int32 and small.shape == img.shape[:2]
    assert small.max() + 1 > large.max() + 1 >= 2
    for seg in np.unique(small):                               # no superpixel straddles the colour edge
        cols = np.nonzero(small == seg)[1]
        assert cols.max() < 40 or cols.min() >= 40
    region = superpixels.region_of(small, [(5, 5), (5, 6), (200, 5)])
    assert region[5, 5] and region.sum() == (small == small[5, 5]).sum()
    edges = superpixels.boundaries(small)
    assert edges.dtype == bool and edges.any() and not edges.all()


def test_superpixel_cache_is_per_image_and_size_and_bounded():
    calls = []

    def fake(image, size):
        calls.append(size)
        return np.full(image.shape[:2], size, np.int32)
    cache = superpixels.SuperpixelCache(max_bytes=3 * 60 * 80 * 4)
    img = _two_tone()
    for size in (10, 10, 20):
        cache.get_or_compute("a", img, size, fake)
    assert calls == [10, 20]
    for key in ("b", "c", "d"):
        cache.get_or_compute(key, img, 10, fake)
    assert len(cache) == 3 and cache.get("a", 10) is None and cache.get("d", 10) is not None


def test_paint_mask_is_one_edit_that_undoes():
    ed = EditableLabels(np.zeros((10, 10), np.uint8), n_classes=3)
    mask = np.zeros((10, 10), bool)
    mask[2:4, 3:8] = True
    edit = ed.paint_mask(mask, 2, kind="superpixel")
    assert (ed.labels[mask] == 2).all() and ed.locked[mask].all() and not ed.locked[~mask].any()
    assert edit.box == (3, 2, 8, 4) and edit.kind == "superpixel"
    ed.undo(edit)
    assert not ed.labels.any() and not ed.has_locks
    with pytest.raises(ValueError):
        ed.paint_mask(np.zeros((3, 3), bool), 1)
