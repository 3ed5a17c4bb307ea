"""A veil over the canvas while the next image opens, so the last one is not taken for it.

Why: after D the list and the position named the next image while the canvas, its labels and the title still
showed the last one for 0.4 s or more (a fast walk; a stroke then was refused with "No image to edit yet"). The
veil comes only when the opening takes longer than SHOW_AFTER_MS: a prefetched image opens at once, unveiled.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel

SHOW_AFTER_MS = 150


class OpeningVeil(QLabel):
    def __init__(self, canvas):
        super().__init__(canvas.viewport())
        self.canvas = canvas
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: rgba(30, 30, 30, 170); color: white; font-size: 15px;")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._show)

    def show_after(self, name: str, ms: int = SHOW_AFTER_MS) -> None:
        """Image ``name`` is opening: veil the canvas if it is not shown within ``ms``."""
        self.setText(f"Opening {name}…")
        self._timer.start(ms)

    def done(self) -> None:
        """The image opened (or could not be read): lift the veil."""
        self._timer.stop()
        self.hide()

    def _show(self) -> None:
        self.setGeometry(self.canvas.viewport().rect())
        self.raise_()
        self.show()
