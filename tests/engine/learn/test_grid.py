"""Stroke pixels counted per stride-8 cell: the footprint sums the learning step's targets are made of."""
import numpy as np

from engine.learn.grid import footprint_edges, footprint_sums, grid_targets


def _brute(mask, ey, ex):
    return np.array([[int(mask[ey[i]:ey[i + 1], ex[j]:ex[j + 1]].sum()) for j in range(len(ex) - 1)]
                     for i in range(len(ey) - 1)], np.int64)


def test_cell_sums_count_every_footprint_from_the_mask_s_box_only():
    """Random grids (repeated centres give empty footprints) and masks: a stroke, scattered pixels, pixels on the
    image's edges, nothing at all. The sums are computed around the mask's box; every cell must still be right."""
    rng = np.random.default_rng(0)
    for trial in range(200):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        rows = np.sort(rng.integers(0, h, int(rng.integers(1, h + 1))))
        cols = np.sort(rng.integers(0, w, int(rng.integers(1, w + 1))))
        ey, ex = footprint_edges(rows, h), footprint_edges(cols, w)
        mask = np.zeros((h, w), bool)
        kind = trial % 4
        if kind == 1:
            y, x = rng.integers(0, h), rng.integers(0, w)
            mask[y:y + int(rng.integers(1, 5)), x:x + int(rng.integers(1, 9))] = True
        elif kind == 2:
            mask = rng.random((h, w)) > 0.85
        elif kind == 3:
            mask[0, 0] = mask[-1, -1] = True
        np.testing.assert_array_equal(footprint_sums(mask, ey, ex), _brute(mask, ey, ex), err_msg=str(trial))


def test_grid_targets_of_a_short_stroke_on_a_large_image():
    h, w = 600, 800
    labels = np.zeros((h, w), np.uint8)
    locked = np.zeros((h, w), bool)
    labels[300:303, 400:430] = 2
    locked[300:303, 400:430] = True
    rows, cols = np.arange(4, h, 8), np.arange(4, w, 8)
    t = grid_targets(labels, locked, rows, cols, 3)
    assert t.n_locked == int(((t.target >= 0)).sum()) and set(np.unique(t.target)) == {-1, 2}
    ey, ex = footprint_edges(rows, h), footprint_edges(cols, w)
    counts = _brute(locked, ey, ex)
    np.testing.assert_array_equal(t.target >= 0, counts > 0)
    np.testing.assert_array_equal(t.free, counts == 0)
