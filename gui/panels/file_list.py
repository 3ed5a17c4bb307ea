"""File list: the folder's images with their status (new, predicted, edited, saved, pre-labelled, error) and the mean
uncertainty of their prediction once known. Rows can be shown in any order (e.g. most uncertain
first) and filtered by name or status; rows are addressed by dataset index whatever the order.
The status and uncertainty columns have fixed widths that fit their longest text, so they neither
clip at the default dock size nor shift as values arrive."""
from __future__ import annotations

import fnmatch

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QTreeWidget, QTreeWidgetItem

from engine.folder.dataset import Dataset, Status
from gui.canvas.qimage import colour_icon

STATUS_COLOURS = {
    Status.NEW: (150, 150, 150),
    Status.PREDICTED: (70, 130, 220),
    Status.EDITED: (230, 140, 20),   # unsaved work: the one to notice
    Status.SAVED: (40, 170, 70),
    Status.PRELABELLED: (150, 90, 200),  # machine labels on disk, waiting for review
    Status.ERROR: (210, 50, 50),     # unreadable file: the reason is in the tooltip
}
INDEX_ROLE = Qt.ItemDataRole.UserRole
NAME_CHARS = 16      # image names the default dock width shows in full


def matches(query: str, name: str, status: str) -> bool:
    """Filter rule: every word of ``query`` matches the file name (substring, or a glob such as *_0?.png) or is
    the row's status (new, edited, error...), case-insensitively. An empty query matches everything."""
    name, status = name.lower(), status.lower()
    for word in query.lower().split():
        glob = any(ch in word for ch in "*?[")
        if not (word == status or (fnmatch.fnmatchcase(name, word) if glob else word in name)):
            return False
    return True


class FileList(QTreeWidget):
    image_requested = Signal(int)   # the user picked a row (dataset index)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["Image", "Status", "Unsure"])
        self.headerItem().setToolTip(2, "Mean uncertainty 1 - (p1 - p2) of the prediction (once predicted)")
        self.setRootIsDecorated(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column, width in ((1, self._status_width()), (2, self._text_width("0.000", "Unsure"))):
            self.header().setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            self.header().resizeSection(column, width)
        self._icons = {s: colour_icon(c, 10) for s, c in STATUS_COLOURS.items()}
        self._brushes = {s: QBrush(QColor(*c)) for s, c in STATUS_COLOURS.items()}
        # Fonts made up front: PySide builds QFont's Python enums on first use (~0.2 s), which must
        # not happen while the user waits for an image.
        self._fonts = {False: QFont(self.font()), True: QFont(self.font())}
        self._fonts[True].setBold(True)
        self._items: list[QTreeWidgetItem] = []   # by dataset index
        self._dataset: Dataset | None = None
        self._query = ""
        self.itemActivated.connect(self._on_pick)
        self.itemClicked.connect(self._on_pick)

    def _text_width(self, *texts: str, extra: int = 0) -> int:
        """Room for the widest of ``texts`` (+ ``extra``, e.g. an icon) with the item view's cell margins."""
        margin = self.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, self) + 1
        return max(self.fontMetrics().horizontalAdvance(t) for t in texts) + extra + 4 * margin + 8

    def _status_width(self) -> int:
        icon = self.iconSize().width()
        if icon <= 0:
            icon = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize, None, self)
        return self._text_width(*(s.value for s in Status), extra=icon + 4)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name): the default dock width shows every column
        fm = self.fontMetrics()
        width = (fm.horizontalAdvance("x" * NAME_CHARS) + self.header().sectionSize(1) + self.header().sectionSize(2)
                 + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth())
        return QSize(width, super().sizeHint().height())

    def set_dataset(self, dataset: Dataset | None) -> None:
        self.blockSignals(True)
        self.clear()
        self._items = []
        self._dataset = dataset
        if dataset is not None:
            for i, entry in enumerate(dataset.entries):
                item = QTreeWidgetItem([entry.path.name, "", ""])
                item.setData(0, INDEX_ROLE, i)
                item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.addTopLevelItem(item)
                self._items.append(item)
                self._paint(item, entry.status)
        self.blockSignals(False)
        self.set_filter(self._query)

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
        self.set_filter(self._query)   # rows taken out and put back lose their hidden flag

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

    # ----- filter ----------------------------------------------------------------------------------
    def set_filter(self, query: str) -> None:
        """Show only the rows matching ``query`` (see ``matches``)."""
        self._query = query
        for item in self._items:
            item.setHidden(not matches(query, item.text(0), item.text(1)))

    def shown(self, order: list[int]) -> list[int]:
        """The dataset indices of ``order`` whose rows the filter shows."""
        return [i for i in order if 0 <= i < len(self._items) and not self._items[i].isHidden()]

    @property
    def filtering(self) -> bool:
        """The filter hides rows (a step may find none that way)."""
        return bool(self._query)

    def step(self, current: int, delta: int, order: list[int]) -> int | None:
        """The image ``delta`` rows from ``current`` among the rows shown (clamped at the ends); from a row the
        filter hides, the nearest shown one in that direction. None if no row is shown that way."""
        shown = self.shown(order)
        if not shown:
            return None
        if current in shown:
            return shown[min(max(shown.index(current) + delta, 0), len(shown) - 1)]
        pos = order.index(current) if current in order else -1
        ahead = order[pos + 1:] if delta > 0 else order[:max(pos, 0)][::-1]
        return next((i for i in ahead if i in shown), None)

    def _paint(self, item: QTreeWidgetItem, status: Status) -> None:
        item.setText(1, status.value)
        item.setIcon(1, self._icons[status])
        item.setForeground(1, self._brushes[status])
        item.setFont(0, self._fonts[status == Status.EDITED])
        index = item.data(0, INDEX_ROLE)
        entry = self._dataset[index] if self._dataset is not None and index is not None else None
        reason = entry.error if entry is not None and status == Status.ERROR else ""
        item.setToolTip(0, f"{entry.path}\n{reason}" if reason else (str(entry.path) if entry is not None else ""))
        item.setToolTip(1, reason or status.value)
        if self._query:
            item.setHidden(not matches(self._query, item.text(0), status.value))

    def _on_pick(self, item, _column) -> None:
        self.image_requested.emit(int(item.data(0, INDEX_ROLE)))

    def keyPressEvent(self, event) -> None:  # noqa: N802
        # A/D belong to the window's next/previous actions, not to type-ahead search in the list.
        if event.key() in (Qt.Key.Key_A, Qt.Key.Key_D) and not event.modifiers():
            event.ignore()
            return
        super().keyPressEvent(event)
