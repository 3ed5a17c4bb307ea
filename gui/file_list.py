"""File list: the folder's images with their status (new, predicted, edited, saved)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

from engine.dataset import Dataset, Status
from gui.qimage import colour_icon

STATUS_COLOURS = {
    Status.NEW: (150, 150, 150),
    Status.PREDICTED: (70, 130, 220),
    Status.EDITED: (230, 140, 20),   # unsaved work: the one to notice
    Status.SAVED: (40, 170, 70),
}


class FileList(QTreeWidget):
    image_requested = Signal(int)   # the user picked a row

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels(["Image", "Status"])
        self.setRootIsDecorated(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self._icons = {s: colour_icon(c, 10) for s, c in STATUS_COLOURS.items()}
        self._brushes = {s: QBrush(QColor(*c)) for s, c in STATUS_COLOURS.items()}
        # Fonts made up front: PySide builds QFont's Python enums on first use (~0.2 s), which must
        # not happen while the user waits for an image.
        self._fonts = {False: QFont(self.font()), True: QFont(self.font())}
        self._fonts[True].setBold(True)
        self.itemActivated.connect(self._on_pick)
        self.itemClicked.connect(self._on_pick)

    def set_dataset(self, dataset: Dataset | None) -> None:
        self.blockSignals(True)
        self.clear()
        if dataset is not None:
            for entry in dataset.entries:
                item = QTreeWidgetItem([entry.path.name, ""])
                item.setToolTip(0, str(entry.path))
                self.addTopLevelItem(item)
                self._paint(item, entry.status)
        self.blockSignals(False)

    def set_status(self, index: int, status: str) -> None:
        item = self.topLevelItem(index)
        if item is not None:
            self._paint(item, Status(status))

    def status_text(self, index: int) -> str:
        item = self.topLevelItem(index)
        return item.text(1) if item is not None else ""

    def set_current(self, index: int) -> None:
        """Highlight the open image without asking to open it again."""
        item = self.topLevelItem(index)
        if item is not None:
            self.blockSignals(True)
            self.setCurrentItem(item)
            self.scrollToItem(item)
            self.blockSignals(False)

    def _paint(self, item: QTreeWidgetItem, status: Status) -> None:
        item.setText(1, status.value)
        item.setIcon(1, self._icons[status])
        item.setForeground(1, self._brushes[status])
        item.setFont(0, self._fonts[status == Status.EDITED])

    def _on_pick(self, item, _column) -> None:
        self.image_requested.emit(self.indexOfTopLevelItem(item))

    def keyPressEvent(self, event) -> None:  # noqa: N802
        # A/D belong to the window's next/previous actions, not to type-ahead search in the list.
        if event.key() in (Qt.Key.Key_A, Qt.Key.Key_D) and not event.modifiers():
            event.ignore()
            return
        super().keyPressEvent(event)
