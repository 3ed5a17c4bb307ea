"""numpy <-> Qt image conversion in one place (Qt must not keep pointers into numpy buffers).

Overlay pixmaps are made in the pixmap's own format (ARGB32, premultiplied): Qt shares an image of that format
with the pixmap instead of converting it again, and label maps are coloured straight into the image's pixels.
At 12 MP a full label redraw went from 110 to about 55 ms (no 48 MB copy and no second conversion).
"""
from __future__ import annotations

import sys

import numpy as np
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 RGB -> an owning QImage."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def argb32_lut(lut_rgba: np.ndarray) -> np.ndarray:
    """(256, 4) straight RGBA table -> the same colours as the bytes of premultiplied ARGB32 pixels (B, G, R, A in
    memory on little-endian machines), premultiplied with Qt's own rounding (qt_div_255)."""
    lut = np.asarray(lut_rgba, np.uint32).reshape(256, 4)
    a = lut[:, 3:4]
    t = lut[:, :3] * a + 128
    rgb = (t + (t >> 8)) >> 8
    argb = np.concatenate([rgb, a], axis=1).astype(np.uint8)    # R, G, B, A premultiplied
    order = [2, 1, 0, 3] if sys.byteorder == "little" else [3, 0, 1, 2]
    return np.ascontiguousarray(argb[:, order])


def labels_to_pixmap(labels: np.ndarray, lut_rgba: np.ndarray) -> QPixmap:
    """(H, W) uint8 labels coloured by a (256, 4) RGBA table (engine.display.overlays.label_lut) straight into a
    new image's pixels, which the pixmap then takes over without a copy."""
    from engine.display.overlays import apply_label_lut

    h, w = labels.shape
    image = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
    line = image.bytesPerLine()
    pixels = np.frombuffer(image.bits(), np.uint8, count=h * line).reshape(h, line)[:, :4 * w].reshape(h, w, 4)
    apply_label_lut(labels, argb32_lut(lut_rgba), out=pixels)
    del pixels   # (the pixmap takes the image: no numpy view may outlive this call)
    return QPixmap.fromImageInPlace(image)


def rgba_to_pixmap(rgba: np.ndarray) -> QPixmap:
    """(H, W, 4) uint8 RGBA (not premultiplied) -> a QPixmap that takes over rgba_to_premultiplied's image."""
    return QPixmap.fromImageInPlace(rgba_to_premultiplied(rgba))


def rgba_to_premultiplied(rgba: np.ndarray) -> QImage:
    """(H, W, 4) uint8 RGBA (not premultiplied) -> an owning QImage in the format a pixmap takes as it is: converted
    once (the conversion always makes an image of its own, so nothing points into rgba). Safe off the GUI thread."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


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
