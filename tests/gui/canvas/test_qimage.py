"""Overlay pixmaps made in the pixmap's own format: the same pixels as Qt's conversion of the straight RGBA arrays."""
import gc

import numpy as np
import pytest
from PySide6.QtGui import QImage, QPixmap

from engine.display.overlays import label_lut, label_rgba, uncertainty_rgba
from gui.canvas.qimage import argb32_lut, labels_to_pixmap, rgba_to_pixmap, rgba_to_qimage

PALETTE = np.array([[0, 0, 0], [200, 30, 7], [1, 255, 128], [90, 91, 92]], np.uint8)


def _qt_reference(rgba: np.ndarray) -> np.ndarray:
    """What Qt makes of the straight RGBA array (its own premultiplication), as premultiplied ARGB32 bytes."""
    img = QPixmap.fromImage(rgba_to_qimage(rgba)).toImage().convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    return _bytes(img)


def _bytes(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    h, w, line = img.height(), img.width(), img.bytesPerLine()
    return np.frombuffer(img.constBits(), np.uint8, count=h * line).reshape(h, line)[:, :4 * w].copy()


@pytest.mark.parametrize("alpha", [255, 200, 37, 0])
def test_labels_coloured_into_the_pixmap_match_qt_s_conversion(qtbot, alpha):
    rng = np.random.default_rng(alpha)
    labels = rng.integers(0, 6, (31, 47)).astype(np.uint8)          # 4, 5: beyond the palette
    labels[0, :5] = 255                                              # void
    visible = np.array([True, True, False, True])
    got = labels_to_pixmap(labels, label_lut(PALETTE, visible, alpha))
    gc.collect()   # nothing of it may point into numpy memory that is gone
    want = _qt_reference(label_rgba(labels, PALETTE, visible, alpha))
    np.testing.assert_array_equal(_bytes(got.toImage()), want)


def test_premultiplied_table_follows_qt_for_every_alpha(qtbot):
    """All 256 alphas x a spread of colour values: argb32_lut's rounding is Qt's."""
    for value in (0, 1, 77, 128, 200, 254, 255):
        lut = np.zeros((256, 4), np.uint8)
        lut[:, :3] = value
        lut[:, 3] = np.arange(256)
        labels = np.arange(256, dtype=np.uint8).reshape(16, 16)
        want = _qt_reference(lut[labels])
        assert np.array_equal(argb32_lut(lut)[labels].reshape(16, 64), want), value


def test_rgba_pixmap_keeps_its_pixels_after_the_array_is_gone(qtbot):
    rng = np.random.default_rng(1)
    unc = rng.random((40, 30)).astype(np.float32)
    rgba = uncertainty_rgba(unc)
    want = _qt_reference(rgba)
    pm = rgba_to_pixmap(rgba)
    del rgba
    gc.collect()
    np.zeros((40, 30, 4), np.uint8)   # (memory that could reuse the freed array's)
    np.testing.assert_array_equal(_bytes(pm.toImage()), want)
