"""The Images dock: a filter box over the file list. Typing narrows the list by name (substring or glob) or
status (e.g. "edited", "error", "belt_0?"); D / A then step through the rows shown (see FileList.step)."""
from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget

from gui.panels.file_list import FileList


class ImagesPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: name, glob or status (Ctrl+F)")
        self.filter.setToolTip("Words match the file name (part of it, or a glob such as *_0?.png) or the status "
                               "(new, predicted, edited, saved, error).")
        self.filter.setClearButtonEnabled(True)
        self.list = FileList()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.filter)
        layout.addWidget(self.list)
        self.filter.textChanged.connect(self.list.set_filter)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(self.list.sizeHint().width(), super().sizeHint().height())
