"""Margin uncertainty and the file-list order it drives."""
import numpy as np
import pytest

from engine.uncertainty import mean_uncertainty, order_by_uncertainty, uncertainty_map


def test_margin_values():
    p = np.zeros((3, 1, 3), np.float32)
    p[:, 0, 0] = (1, 0, 0)        # certain
    p[:, 0, 1] = (0.5, 0.5, 0)    # tie
    p[:, 0, 2] = (0.2, 0.7, 0.1)  # margin 0.5
    assert np.allclose(uncertainty_map(p), [[0, 1, 0.5]])
    assert mean_uncertainty(p) == pytest.approx(0.5)
    assert mean_uncertainty(p, valid=np.array([[True, False, False]])) == 0
    with pytest.raises(ValueError):
        uncertainty_map(np.zeros((4, 4), np.float32))


def test_order_puts_unsure_first_and_unscored_last():
    scores = {"a.jpg": 0.1, "b.jpg": None, "c.jpg": 0.9, "d.jpg": 0.5, "e.jpg": None}
    assert order_by_uncertainty(scores) == ["c.jpg", "d.jpg", "a.jpg", "b.jpg", "e.jpg"]
    assert order_by_uncertainty(scores, most_uncertain_first=False)[:3] == ["a.jpg", "d.jpg", "c.jpg"]


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("classes", [2, 5, 21])
def test_margin_and_labels_is_the_two_maps_bit_for_bit(dtype, classes, monkeypatch):
    """One pass over bands of rows gives exactly the margin of the two largest (sorted) and labels_from_probs:
    ties (first maximum wins, margin 0), a class that wins nowhere, one-hot pixels, and a last band shorter than
    the others."""
    import engine.uncertainty as u
    from engine.crf.base import labels_from_probs
    from engine.uncertainty import margin_and_labels

    monkeypatch.setattr(u, "BAND_BYTES", 4 * 37 * 7)   # 7 rows a band: 53 rows end on a short band
    rng = np.random.default_rng(classes)
    p = rng.random((classes, 53, 37)).astype(np.float32) ** 3
    p[classes - 1] *= 0.01                                # wins (almost) nowhere
    p /= p.sum(0)
    p = p.astype(dtype)
    p[1, :5] = p[0, :5]                                   # exact ties between the first two
    p[:, 5:8] = 0
    p[classes - 1, 5:8] = 1                               # one-hot on the last class
    unc, labels = margin_and_labels(p)
    top = np.sort(p.astype(np.float32), axis=0)                   # the margin spelled out: the two largest
    np.testing.assert_array_equal(unc, np.clip(np.float32(1.0) - (top[-1] - top[-2]), 0.0, 1.0))
    np.testing.assert_array_equal(unc, uncertainty_map(p))
    np.testing.assert_array_equal(labels, labels_from_probs(p))
    assert unc.dtype == np.float32 and labels.dtype == np.uint8
    assert (labels[:5] != 1).all() and (unc[:5] == 1).any()


def test_margin_and_labels_takes_float16_and_float32_only():
    from engine.uncertainty import margin_and_labels

    with pytest.raises(ValueError):
        margin_and_labels(np.full((2, 3, 4), 0.5))            # float64: Prediction.from_probs uses the two maps
    unc, labels = margin_and_labels(np.ones((1, 3, 4), np.float32))
    assert (unc == 0).all() and (labels == 0).all()
