"""The legend of the uncertainty overlay: its value range drawn with the same colours and transparency as the
overlay (engine.display.overlays.uncertainty_rgba over a checkerboard), and the choice of colour map.

It floats in the canvas's bottom-left corner while the overlay is on. 'Auto' takes the map least like any class
colour (engine.display.colormaps.most_distinct), so an unsure pixel never reads as a class.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QComboBox, QFrame, QGridLayout, QLabel

from engine.display import colormaps
from engine.display.overlays import uncertainty_rgba
from gui.canvas.qimage import rgba_to_qimage

BAR_W, BAR_H, MARGIN = 160, 12, 10


def legend_bar(cmap: str, width: int = BAR_W, height: int = BAR_H) -> np.ndarray:
    """(height, width, 4) RGBA: the overlay for values 0..1 left to right, composited over a grey checkerboard."""
    values = np.repeat(np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :], height, axis=0)
    over = uncertainty_rgba(values, cmap).astype(np.float32)
    ys, xs = np.mgrid[0:height, 0:width]
    checker = np.where(((xs // 4 + ys // 4) % 2)[..., None] == 0, 200.0, 140.0)
    a = over[..., 3:4] / 255.0
    out = np.empty((height, width, 4), np.uint8)
    out[..., :3] = (over[..., :3] * a + checker * (1 - a) + 0.5).astype(np.uint8)
    out[..., 3] = 255
    return out


class UncertaintyLegend(QFrame):
    cmap_changed = Signal(str)   # engine.display.colormaps name or 'auto'

    def __init__(self, canvas, cmap: str = colormaps.AUTO):
        super().__init__(canvas)
        self.canvas = canvas
        self.setObjectName("uncertainty_legend")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.title = QLabel("Uncertainty 1 − (p1 − p2)")
        self.bar = QLabel()
        self.bar.setToolTip("Transparent where the model is sure (0), the map's brightest colour where two classes "
                            "tie (1)")
        self.box = QComboBox()
        self.box.addItem("Auto", colormaps.AUTO)
        for name in colormaps.COLORMAPS:
            self.box.addItem(name, name)
        self.box.setToolTip("Colour map of the uncertainty overlay; Auto picks the one least like the class colours")
        self.box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setVerticalSpacing(2)
        grid.addWidget(self.title, 0, 0, 1, 3)
        grid.addWidget(self.bar, 1, 0, 1, 3)
        grid.addWidget(QLabel("0 sure"), 2, 0, Qt.AlignmentFlag.AlignLeft)
        grid.addWidget(QLabel("0.5"), 2, 1, Qt.AlignmentFlag.AlignHCenter)
        grid.addWidget(QLabel("1 unsure"), 2, 2, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.box, 3, 0, 1, 3)
        self._palette = None
        self.set_cmap(cmap)
        self.box.activated.connect(lambda _i: self._picked())
        canvas.installEventFilter(self)
        self.hide()

    def choice(self) -> str:
        return self.box.currentData()

    def resolved(self) -> str:
        return colormaps.resolve(self.choice(), self._palette)

    def set_cmap(self, name: str) -> None:
        i = self.box.findData(name)
        self.box.setCurrentIndex(i if i >= 0 else 0)
        self._redraw()

    def set_palette(self, palette) -> None:
        """Class colours changed: 'Auto' may now mean another map."""
        self._palette = palette
        self._redraw()

    def _picked(self) -> None:
        self._redraw()
        self.cmap_changed.emit(self.choice())

    def _redraw(self) -> None:
        name = self.resolved()
        self.box.setItemText(0, f"Auto ({colormaps.resolve(colormaps.AUTO, self._palette)})")
        self.bar.setPixmap(QPixmap.fromImage(rgba_to_qimage(legend_bar(name))))

    def set_shown(self, on: bool) -> None:
        self.setVisible(on)
        if on:
            self.adjustSize()
            self._place()
            self.raise_()

    def _place(self) -> None:
        vp = self.canvas.viewport().geometry()   # inside the frame, above a horizontal scroll bar
        self.move(vp.left() + MARGIN, max(vp.bottom() - self.height() - MARGIN, 0))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if obj is self.canvas and event.type() == QEvent.Type.Resize and self.isVisible():
            QTimer.singleShot(0, self._place)   # once the viewport inside has its new size too
        return False
