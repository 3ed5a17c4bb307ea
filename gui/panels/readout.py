"""Status-bar readouts: the zoom in percent, and under the cursor x, y, the label, the two likeliest classes and the
uncertainty of what the canvas shows (the CRF result, or the raw network output in "Before CRF" mode).

The numbers come from engine.display.readout; this module only follows the mouse and the zoom and writes two labels.
"""
from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QSizePolicy

from engine.display.readout import read_pixel
from gui.panels.status_bar import ElidedLabel

MOST = 0.45  # the readout asks for the room its longest text so far needs (a full one with two long class names:
#             330-480 px), up to this share of the window; the activity message (stretch 1) takes what is left


class Readout(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.pixel = ElidedLabel("", min_chars=30)
        self.pixel.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)   # its hint: reserve()
        self.pixel.setToolTip("Under the cursor: x, y, the two likeliest classes with their probability (the first is "
                              "the label; a label set otherwise comes first, as 'label: ...'), uncertainty "
                              "1 - (p1 - p2). In brackets, where the CRF is sure but the network gives a second class "
                              "20 % or more: the network's own probability of each class before the CRF")
        self.zoom = QLabel("")
        self.zoom.setToolTip("Zoom: 100 % = one image pixel per screen pixel (Ctrl+1); F fits")
        self.zoom.setMinimumWidth(self.zoom.fontMetrics().horizontalAdvance("Zoom 6400 %") + 8)
        window.status.addWidget(self.pixel)
        window.status.addPermanentWidget(self.zoom)
        self._last = (-1, -1)
        window.canvas.cursor_moved.connect(self.show_pixel)
        window.canvas.zoom_changed.connect(self.show_zoom)
        # the pixel under a still cursor changes when the labels do
        window.ctl.results_changed.connect(self.refresh)
        window.ctl.image_opened.connect(self.refresh)   # (a walk: an unreadable image kept the last one's values)
        window.ctl.preview_changed.connect(self.refresh)
        window.ctl.editor.region_changed.connect(lambda _box: self.refresh())

    def show_zoom(self, factor: float) -> None:
        self.zoom.setText(f"Zoom {factor * 100:.0f} %")

    def show_pixel(self, x: int, y: int) -> None:
        self._last = (x, y)
        presenter, st = self.window.presenter, self.window.ctl.state
        info = None
        if st is not None and x >= 0:
            info = read_pixel(x, y, presenter.labels(), presenter.probs(), presenter.uncertainty(), st.probs)
        if info is None:   # the cursor left the image (for a menu, a panel): the message gets the room (a walk
            self.pixel.setText("")   # at 1400 px read only "Renamed…" of a class rename's message)
            self.pixel.release()
            return
        cl = self.window.ctl.classes.class_list
        text = info.text(cl.names if cl is not None else ())
        self.pixel.setText(text)
        self.pixel.reserve(text, int(self.window.width() * MOST))

    def refresh(self) -> None:
        self.show_pixel(*self._last)
