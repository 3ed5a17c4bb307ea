"""View toolbar: zoom, overlay toggles (labels, hand-edit locks, uncertainty, changed by CRF,
before/after CRF) and the label opacity slider. Actions carry the shortcuts so they also work from
the View menu. Plain digits and B belong to the editing tools (paint class, brush)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QSlider, QToolBar


def _action(parent, text: str, shortcut: str | QKeySequence.StandardKey | None = None, checkable=False,
            checked=False, tip: str = "") -> QAction:
    act = QAction(text, parent)
    if shortcut is not None:
        act.setShortcut(QKeySequence(shortcut))
    act.setCheckable(checkable)
    if checkable:
        act.setChecked(checked)
    act.setToolTip(f"{tip or text} ({act.shortcut().toString()})" if shortcut is not None else (tip or text))
    return act


class ViewToolbar(QToolBar):
    def __init__(self, parent=None):
        super().__init__("View", parent)
        self.setObjectName("view_toolbar")
        self.fit = _action(self, "Fit", "F", tip="Fit the image to the window")
        self.actual = _action(self, "100%", "Ctrl+1", tip="One image pixel per screen pixel")
        self.zoom_in = _action(self, "Zoom in", QKeySequence.StandardKey.ZoomIn)
        # and Ctrl+=, the same key unshifted on most layouts (a walk's Ctrl+= did nothing)
        self.zoom_in.setShortcuts([*self.zoom_in.shortcuts(), QKeySequence("Ctrl+=")])
        self.zoom_out = _action(self, "Zoom out", QKeySequence.StandardKey.ZoomOut)
        self.labels = _action(self, "Labels", "L", True, True, "Show the label overlay")
        self.locks = _action(self, "Locks", "K", True, True,
                             "Hatch the hand-edited (locked) pixels that the CRF and new predictions keep")
        self.uncertainty = _action(self, "Uncertainty", "U", True, False, "Show 1 - (p1 - p2): bright = unsure")
        self.changed = _action(self, "Changed by CRF", "C", True, False, "Mark pixels the CRF relabelled")
        self.before = _action(self, "Before CRF", "Shift+B", True, False,
                              "Show the raw network result (argmax) instead of the CRF result")
        for act in (self.fit, self.actual):
            self.addAction(act)
        self.addSeparator()
        for act in (self.labels, self.locks, self.uncertainty, self.changed, self.before):
            self.addAction(act)
        self.addSeparator()
        self.addWidget(QLabel(" Opacity "))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setMaximumWidth(140)
        self.opacity.setToolTip("Label overlay opacity")
        self.addWidget(self.opacity)

    def zoom_actions(self) -> list[QAction]:
        return [self.fit, self.actual, self.zoom_in, self.zoom_out]

    def overlay_actions(self) -> list[QAction]:
        return [self.labels, self.locks, self.uncertainty, self.changed, self.before]
