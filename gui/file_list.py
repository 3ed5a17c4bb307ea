"""File list: the folder's images with their status (new, predicted, edited, saved, pre-labelled) and the mean
uncertainty of their prediction once known. Rows can be shown in any order (e.g. most uncertain
first); rows are addressed by dataset index whatever the order."""
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
    Status.PRELABELLED: (150, 90, 200),  # machine labels on disk, waiting for review
}
INDEX_ROLE = Qt.ItemDataRole.UserRole


class FileList(QTreeWidget):
    image_requested = Signal(int)   # the user picked a row (dataset index)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["Image", "Status", "Unsure"])
        self.headerItem().setToolTip(2, "Mean uncertainty 1 - (p1 - p2) of the prediction (once predicted)")
        self.setRootIsDecorated(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self._icons = {s: colour_icon(c, 10) for s, c in STATUS_COLOURS.items()}
        self._brushes = {s: QBrush(QColor(*c)) for s, c in STATUS_COLOURS.items()}
        # Fonts made up front: PySide builds QFont's Python enums on first use (~0.2 s), which must
        # not happen while the user waits for an image.
        self._fonts = {False: QFont(self.font()), True: QFont(self.font())}
        self._fonts[True].setBold(True)
        self._items: list[QTreeWidgetItem] = []   # by dataset index
        self.itemActivated.connect(self._on_pick)
        self.itemClicked.connect(self._on_pick)

    def set_dataset(self, dataset: Dataset | None) -> None:
        self.blockSignals(True)
        self.clear()
        self._items = []
        if dataset is not None:
            for i, entry in enumerate(dataset.entries):
                item = QTreeWidgetItem([entry.path.name, "", ""])
                item.setToolTip(0, str(entry.path))
                item.setData(0, INDEX_ROLE, i)
                item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.addTopLevelItem(item)
                self._items.append(item)
                self._paint(item, entry.status)
        self.blockSignals(False)

    def item_for(self, index: int) -> QTreeWidgetItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def set_status(self, index: int, status: str) -> None:
        item = self.item_for(index)
        if item is not None:
            self._paint(item, Status(status))

    def status_text(self, index: int) -> str:
        item = self.item_for(index)
        return item.text(1) if item is not None else ""

    def set_score(self, index: int, score: float | None) -> None:
        item = self.item_for(index)
        if item is not None:
            item.setText(2, "" if score is None else f"{score:.3f}")

    def set_order(self, order: list[int]) -> None:
        """Show the rows in this order of dataset indices (the current row stays selected)."""
        current = self.currentItem()
        self.blockSignals(True)
        self.invisibleRootItem().takeChildren()
        self.addTopLevelItems([self._items[i] for i in order])
        if current is not None:
            self.setCurrentItem(current)
        self.blockSignals(False)

    def order(self) -> list[int]:
        """Dataset indices in display order."""
        return [self.topLevelItem(r).data(0, INDEX_ROLE) for r in range(self.topLevelItemCount())]

    def set_current(self, index: int) -> None:
        """Highlight the open image without asking to open it again."""
        item = self.item_for(index)
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
        self.image_requested.emit(int(item.data(0, INDEX_ROLE)))

    def keyPressEvent(self, event) -> None:  # noqa: N802
        # A/D belong to the window's next/previous actions, not to type-ahead search in the list.
        if event.key() in (Qt.Key.Key_A, Qt.Key.Key_D) and not event.modifiers():
            event.ignore()
            return
        super().keyPressEvent(event)
