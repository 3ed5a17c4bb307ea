"""The legend of the marking overlays: one row per overlay on screen (changed by CRF, hand-painted locks, the
probability heat map of the selected class, label values that are not classes), each with a swatch drawn by the
overlay's own function over a checkerboard, so the key shows exactly what the image shows.

It floats in the canvas's bottom-right corner while any of them is on; the uncertainty overlay has its own legend
(gui.canvas.uncertainty_legend) in the bottom-left corner. The rows come from OverlayPresenter.legend_items.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel

from gui.canvas.qimage import rgba_to_qimage

SWATCH_W, SWATCH_H, MARGIN = 48, 12, 10


def on_checker(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) overlay pixels composited over a grey checkerboard, opaque: how they look on an image."""
    h, w = rgba.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    checker = np.where(((xs // 4 + ys // 4) % 2)[..., None] == 0, 200.0, 140.0)
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = (rgba[..., :3].astype(np.float32) * a + checker * (1 - a) + 0.5).astype(np.uint8)
    out[..., 3] = 255
    return out


class OverlayLegend(QFrame):
    """Rows of (swatch, text) for the overlays shown; hidden when none is."""

    def __init__(self, canvas):
        super().__init__(canvas)
        self.canvas = canvas
        self.setObjectName("overlay_legend")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(6, 4, 6, 4)
        self.grid.setVerticalSpacing(2)
        self.rows: dict[str, tuple[QLabel, QLabel]] = {}
        self._shown: tuple = ()
        canvas.installEventFilter(self)
        self.hide()

    def set_items(self, items) -> None:
        """``items``: [(key, text, tip, (H, W, 4) swatch RGBA)], from OverlayPresenter.legend_items."""
        shown = tuple((key, text, swatch.tobytes()) for key, text, _tip, swatch in items)
        if shown == self._shown:
            return
        self._shown = shown
        keys = [key for key, *_ in items]
        for key, (swatch, label) in self.rows.items():
            if key not in keys:
                swatch.hide()
                label.hide()
        for key, text, tip, rgba in items:
            if key not in self.rows:   # one row per kind of overlay, made once, in the order first shown
                row = len(self.rows)
                self.rows[key] = (QLabel(), QLabel())
                self.grid.addWidget(self.rows[key][0], row, 0)
                self.grid.addWidget(self.rows[key][1], row, 1)
            swatch, label = self.rows[key]
            swatch.setPixmap(QPixmap.fromImage(rgba_to_qimage(on_checker(rgba))))
            label.setText(text)
            for w in (swatch, label):
                w.setToolTip(tip)
                w.show()
        self.setVisible(bool(items))
        if items:
            self.grid.activate()
            self.adjustSize()
            self._place()
            self.raise_()

    def texts(self) -> dict[str, str]:
        """key -> text of the rows shown (what a user reads)."""
        keys = [key for key, *_ in self._shown]
        return {key: self.rows[key][1].text() for key in keys}

    def _place(self) -> None:
        vp = self.canvas.viewport().geometry()   # inside the frame, left of a vertical scroll bar
        self.move(max(vp.right() - self.width() - MARGIN, 0), max(vp.bottom() - self.height() - MARGIN, 0))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if obj is self.canvas and event.type() == QEvent.Type.Resize and self.isVisible():
            QTimer.singleShot(0, self._place)   # once the viewport inside has its new size too
        return False
