"""numpy <-> Qt image conversion in one place (Qt must not keep pointers into numpy buffers)."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 RGB -> an owning QImage."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """(H, W, 4) uint8 RGBA (not premultiplied) -> an owning QImage."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def colour_icon(rgb, size: int = 14) -> QIcon:
    """A solid swatch for class lists."""
    pm = QPixmap(size, size)
    pm.fill(QColor(*[int(c) for c in rgb]))
    return QIcon(pm)
