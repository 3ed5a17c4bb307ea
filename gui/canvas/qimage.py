"""numpy <-> Qt image conversion in one place (Qt must not keep pointers into numpy buffers)."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap


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
    """A solid swatch with a thin grey rim, for class lists. The same pixmap serves every icon mode: the style
    would otherwise tint a selected row's swatch with the highlight colour, so a blue class on a blue selection
    vanished."""
    colour = QColor(*[int(c) for c in rgb])
    pm = QPixmap(size, size)
    pm.fill(colour)
    painter = QPainter(pm)
    painter.setPen(QColor(128, 128, 128))   # mid grey: visible on light and dark rows, on any class colour
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.end()
    icon = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Active, QIcon.Mode.Selected):
        icon.addPixmap(pm, mode)
    return icon
