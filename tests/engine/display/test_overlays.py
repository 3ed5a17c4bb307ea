"""engine.display.overlays: the RGBA layers the canvas shows, checked pixel by pixel (no Qt)."""
import numpy as np
import pytest

from engine.display.colormaps import lut
from engine.display.overlays import (changed_mask, class_heat_rgba, label_rgba, mask_rgba, pixel_share, uncertainty,
                                     uncertainty_rgba, vivid)
from engine.labels import VOID

PALETTE = np.array([[0, 0, 0], [128, 0, 0], [0, 128, 0]], np.uint8)


def test_label_rgba_colours_and_transparency():
    labels = np.array([[0, 1], [2, VOID]], np.uint8)
    out = label_rgba(labels, PALETTE, alpha=200)
    assert out.shape == (2, 2, 4) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert out[0, 1].tolist() == [128, 0, 0, 200]
    assert out[1, 0].tolist() == [0, 128, 0, 200]
    assert out[1, 1, 3] == 0  # void is see-through


def test_label_rgba_hidden_class_and_out_of_range_are_transparent():
    labels = np.array([[0, 1, 2, 7]], np.uint8)
    out = label_rgba(labels, PALETTE, visible=np.array([True, False, True]))
    assert out[0, :, 3].tolist() == [255, 0, 255, 0]
    with pytest.raises(ValueError, match="visible"):
        label_rgba(labels, PALETTE, visible=np.array([True, False]))
    with pytest.raises(ValueError, match="uint8"):
        label_rgba(labels.astype(np.int32), PALETTE)


def test_class_heat_follows_probability_in_vivid_class_colour():
    prob = np.array([[0.0, 0.5, 1.0]], np.float32)
    out = class_heat_rgba(prob, (128, 0, 0), max_alpha=220, floor_alpha=100)
    assert out[0, 2].tolist() == [255, 0, 0, 220]      # dark VOC red pushed to full red
    assert out[0, 0].tolist() == [0, 0, 0, 100]        # low probability: dark veil
    assert 100 < out[0, 1, 3] < 220 and out[0, 1, 0] == 128
    assert vivid((0, 0, 0)).tolist() == [255, 255, 255]


def test_uncertainty_is_one_minus_margin_of_top_two():
    probs = np.zeros((3, 1, 4), np.float32)
    probs[:, 0, 0] = [1.0, 0.0, 0.0]
    probs[:, 0, 1] = [0.5, 0.5, 0.0]
    probs[:, 0, 2] = [0.1, 0.6, 0.3]
    probs[:, 0, 3] = [0.2, 0.3, 0.5]
    unc = uncertainty(probs)
    assert unc.dtype == np.float32
    np.testing.assert_allclose(unc[0], [0.0, 1.0, 0.7, 0.8], atol=1e-6)
    one = uncertainty(np.full((1, 2, 2), 1.0, np.float32))
    assert np.all(one == 0)
    rgba = uncertainty_rgba(unc, cmap="viridis", max_alpha=200)
    assert rgba[0, 0, 3] == 0 and rgba[0, 1, 3] == 200
    assert rgba[0, 1, :3].tolist() == lut("viridis")[255].tolist()   # a tie: the map's top colour


def test_changed_mask_and_mask_rgba():
    a = np.array([[0, 1, 2]], np.uint8)
    b = np.array([[0, 2, 2]], np.uint8)
    m = changed_mask(a, b)
    assert m.tolist() == [[False, True, False]]
    rgba = mask_rgba(m, (255, 255, 0), alpha=180)
    assert rgba[0, 1].tolist() == [255, 255, 0, 180] and rgba[0, 0, 3] == 0
    with pytest.raises(ValueError, match="shape"):
        changed_mask(a, b[:, :2])


def test_pixel_share_counts_void_in_denominator_only():
    labels = np.array([[0, 0, 1, VOID]], np.uint8)
    np.testing.assert_allclose(pixel_share(labels, 3), [0.5, 0.25, 0.0])


def test_label_rgba_and_counts_match_numpy_on_every_value_and_layout():
    """The OpenCV paths (table lookup, histogram) give numpy's answers: every value 0-255, strided views, empty."""
    from engine.labels import label_counts
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 256, (21, 3)).astype(np.uint8)
    visible = rng.random(21) > 0.3
    lut = np.zeros((256, 4), np.uint8)
    lut[:21, :3], lut[:21, 3] = palette, np.where(visible, 200, 0)
    for labels in (rng.integers(0, 256, (37, 53)).astype(np.uint8),
                   rng.integers(0, 256, (40, 60)).astype(np.uint8)[:, ::3],
                   np.zeros((0, 5), np.uint8), np.full((1, 1), 255, np.uint8)):
        got = label_rgba(labels, palette, visible, alpha=200)
        assert got.shape == labels.shape + (4,) and got.dtype == np.uint8 and got.flags.c_contiguous
        assert np.array_equal(got, lut[labels])
        assert np.array_equal(label_counts(labels), np.bincount(labels.ravel(), minlength=256))


def _hatching(locked, x0, y0, color=(255, 255, 255), alpha=150, period=6):
    """The hatching spelled out pixel by pixel: stripes where (x + y) % period < period // 3, a veil between."""
    h, w = locked.shape
    out = np.zeros((h, w, 4), np.uint8)
    for y in range(h):
        for x in range(w):
            if locked[y, x]:
                out[y, x, :3] = color
                out[y, x, 3] = alpha if (x + x0 + y + y0) % period < max(period // 3, 1) else 40
    return out


def test_lock_hatching_is_drawn_from_the_locked_box_and_lines_up_across_patches():
    from engine.display.overlays import LOCK_COLOR, lock_rgba

    rng = np.random.default_rng(5)
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        locked = rng.random((h, w)) > rng.random()
        if trial % 3 == 0:
            locked[:] = False
            locked[h // 2:h // 2 + 2, w // 3:w // 3 + 4] = True      # a stroke, far from the corner
        x0, y0 = (int(v) for v in rng.integers(0, 50, 2))
        np.testing.assert_array_equal(lock_rgba(locked, x0, y0), _hatching(locked, x0, y0, LOCK_COLOR))
