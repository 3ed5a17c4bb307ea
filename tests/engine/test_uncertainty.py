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
