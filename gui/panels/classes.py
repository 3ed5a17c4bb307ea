"""Class panel: one row per class with its colour, a visibility check box and its pixel share.

Clicking a row makes it the paint class of the editing tools (marked with a pencil). Double-clicking
a row shows that class's probability heat map; double-clicking it again (or Clear) removes it.
The panel only shows and reports; the window decides what to draw. Rows are shown in the folder's
display order and each carries its class id (gui.panels.class_editor edits the list); every index in and
out of the panel is a class id.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.canvas.qimage import colour_icon


class ClassPanel(QWidget):
    visibility_changed = Signal(object)   # (N,) bool array
    class_selected = Signal(int)          # class index for the heat map, -1 = none
    paint_class_selected = Signal(int)    # class index to paint with
    PAINT_MARK = "\u270e "                 # pencil

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Class", "Pixels", "From"])
        self._names: list[str] = []
        self._items: dict[int, QTreeWidgetItem] = {}   # class id -> its row
        self._paint = -1
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setToolTip("Click: paint with this class (keys 0-9). Double-click: show its probability map. "
                             "Tick: show the class in the label overlay.")
        self.show_all = QPushButton("Show all")
        self.clear = QPushButton("Clear heat map")
        buttons = QHBoxLayout()
        buttons.addWidget(self.show_all)
        buttons.addWidget(self.clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        self._selected = -1
        self._names: list[str] = []
        self._check_click = False
        self._paint_before_click: int | None = None
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemClicked.connect(self._on_clicked)
        self.tree.itemDoubleClicked.connect(self._on_double_clicked)
        self.tree.installEventFilter(self)   # Enter: paint with the highlighted row (classes 10 and up too)
        self.show_all.clicked.connect(self._on_show_all)
        self.clear.clicked.connect(lambda: self.select(-1))

    def set_classes(self, names, palette, order=None, hidden=None) -> None:
        """Fill the list: names and palette by id, rows in ``order`` (ids; default id order), ``hidden`` flags by
        id (default all visible). The heat map's class stays selected while the same class keeps its id (a class
        added, recoloured, hidden or renamed: walks saw adding or renaming one turn the heat map off); otherwise
        nothing is."""
        keep, old = self._selected, self._names
        same = 0 <= keep < min(len(old), len(names)) and (
            old[keep] == names[keep]                                   # the same name at that id
            or (len(old) == len(names) and all(a == b for i, (a, b) in enumerate(zip(old, names)) if i != keep)))
        keep = keep if same else -1                                     # (or only that class's name changed)
        self.tree.blockSignals(True)
        self.tree.clear()
        self._names = list(names)
        self._items = {}
        order = range(len(self._names)) if order is None or sorted(order) != list(range(len(names))) else order
        for i in order:
            name, rgb = names[i], palette[i]
            item = QTreeWidgetItem([f"{i}  {name}", "", ""])
            item.setData(0, Qt.ItemDataRole.UserRole, i)
            item.setIcon(0, colour_icon(rgb))
            item.setFlags((item.flags() | Qt.ItemFlag.ItemIsUserCheckable) & ~Qt.ItemFlag.ItemIsDropEnabled)
            shown = hidden is None or i >= len(hidden) or not hidden[i]
            item.setCheckState(0, Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked)
            self._items[i] = item
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.tree.addTopLevelItem(item)
        self.tree.blockSignals(False)
        self._selected = -1
        paint, self._paint = self._paint, -1
        self.set_paint_class(paint)
        self.visibility_changed.emit(self.visible())
        self.class_selected.emit(-1)
        self.select(keep)

    def set_paint_class(self, index: int) -> None:
        """Mark ``index`` as the paint class (shown only; the editor owns the value)."""
        self.tree.blockSignals(True)
        for i in (self._paint, index):
            item = self._item(i)
            if item is not None:
                mark = self.PAINT_MARK if i == index else ""
                item.setText(0, f"{mark}{i}  {self._names[i]}")
                font = item.font(0)
                font.setBold(i == index)
                item.setFont(0, font)
        self.tree.blockSignals(False)
        self._paint = index

    def paint_class(self) -> int:
        return self._paint

    def set_shares(self, shares: np.ndarray | None) -> None:
        """Pixel share per class (fractions), or None to blank the column."""
        self.tree.blockSignals(True)
        for i, item in self._items.items():
            text = "" if shares is None or i >= len(shares) else f"{100 * shares[i]:.1f} %"
            item.setText(1, text)
        self.tree.blockSignals(False)

    def set_origins(self, origins) -> None:
        """Where each class's predictions come from, by id: (short text, tooltip) pairs, e.g. ("model", …) or
        ("learnt: 3 strokes", …) for a class this folder's strokes taught."""
        self.tree.blockSignals(True)
        for i, item in self._items.items():
            text, tip = origins[i] if i < len(origins) else ("", "")
            item.setText(2, text)
            item.setToolTip(2, tip)
        self.tree.blockSignals(False)

    def origin(self, class_id: int) -> str:
        item = self._item(class_id)
        return "" if item is None else item.text(2)

    def visible(self) -> np.ndarray:
        """(N,) bool by class id."""
        return np.array([self._items[i].checkState(0) == Qt.CheckState.Checked for i in range(len(self._names))],
                        dtype=bool)

    def ids_in_order(self) -> list[int]:
        """Class ids as the rows show them now (after a drag, say)."""
        return [self._id(self.tree.topLevelItem(r)) for r in range(self.tree.topLevelItemCount())]

    def current_id(self) -> int:
        """The class of the current row (keyboard focus), -1 if none."""
        item = self.tree.currentItem()
        return -1 if item is None else self._id(item)

    def add_tools(self, widget) -> None:
        """Put a row of tools (the class editor's buttons) under the list."""
        self.layout().insertWidget(1, widget)

    def _item(self, class_id: int):
        return self._items.get(class_id)

    @staticmethod
    def _id(item) -> int:
        value = item.data(0, Qt.ItemDataRole.UserRole)
        return -1 if value is None else int(value)

    def set_visible(self, index: int, visible: bool) -> None:
        self.tree.blockSignals(True)
        self._item(index).setCheckState(0, Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
        self.tree.blockSignals(False)
        self.visibility_changed.emit(self.visible())

    def selected(self) -> int:
        return self._selected

    def select(self, index: int) -> None:
        """Select class ``index`` for the heat map (-1 clears)."""
        self.tree.blockSignals(True)
        self.tree.clearSelection()
        item = self._item(index)
        if item is not None:
            item.setSelected(True)
            self.tree.setCurrentItem(item)
        else:
            index = -1
        self.tree.blockSignals(False)
        if index != self._selected:
            self._selected = index
            self.class_selected.emit(index)

    def _on_clicked(self, item, column) -> None:
        self.select(self._selected)  # the row highlight follows the heat map, not the click
        if self._check_click:  # a tick is not a request to paint with the class
            self._check_click = False
            return
        self._paint_before_click = self._paint
        self.paint_class_selected.emit(self._id(item))

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        """Enter on a highlighted row paints with its class, as a click does (a walk moved the highlight with the
        arrows and nothing chose the class; digits reach only classes 0-9)."""
        if obj is self.tree and event.type() == QEvent.Type.KeyPress and \
                event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            item = self.tree.currentItem()
            if item is not None:
                self.paint_class_selected.emit(self._id(item))
        return False

    def _on_double_clicked(self, item, column) -> None:
        index = self._id(item)
        self.select(-1 if index == self._selected else index)
        # A double click arrives as click + double click: the click made the row the paint class, which is not
        # what asking for a heat map means, so the paint class goes back to what it was.
        before, self._paint_before_click = self._paint_before_click, None
        if before is not None and before != self._paint:
            self.paint_class_selected.emit(before)

    def _on_item_changed(self, item, column) -> None:
        if column == 0:
            self._check_click = True
            self.visibility_changed.emit(self.visible())

    def _on_show_all(self) -> None:
        self.tree.blockSignals(True)
        for i in range(self.tree.topLevelItemCount()):
            self.tree.topLevelItem(i).setCheckState(0, Qt.CheckState.Checked)
        self.tree.blockSignals(False)
        self.visibility_changed.emit(self.visible())
