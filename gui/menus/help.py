"""Help menu: Keyboard shortcuts (F1) and About.

The shortcut list is generated from the window's QActions (menus, toolbars and the keys that have no menu entry,
such as the paint-class digits), so it cannot go stale: a new action with a shortcut shows up by itself. Mouse
gestures and keys a tool reads itself are not actions; they are listed from TOOL_INPUTS below.
"""
from __future__ import annotations

import platform
from importlib import metadata

from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLineEdit,
    QMenu,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

APP_NAME = "DeepLab Annotator"
TOOL_INPUTS = (  # (where, what, input): read by the canvas and its tools, not QActions
    ("Canvas", "Zoom around the cursor", "Mouse wheel"),
    ("Canvas", "Pan", "Middle-button drag (any tool), left drag with the Pan tool"),
    ("Canvas", "Pick the class under the cursor", "Alt+click (any tool)"),
    ("Polygon tool", "Finish the polygon", "Double-click, Enter"),
    ("Polygon tool", "Drop the last point", "Backspace"),
    ("Polygon tool", "Drop the polygon being drawn", "Esc"),
    ("Classes panel", "Paint with a class / show its probability map", "Click / double-click a row"),
    ("Classes panel", "Paint with the highlighted class", "Enter"),
    ("Canvas", "Pan when zoomed in", "Arrow keys, Page Up / Page Down"),
)
# what the app imports (pyproject.toml's dependencies), and pydensecrf2, the optional reference CRF ("not installed"
# without the [reference] extra); not torchvision, which nothing imports
VERSIONED = ("deeplab-annotator", "PySide6-Essentials", "torch", "numpy", "numba", "pydensecrf2",
             "opencv-python-headless", "scikit-image", "pillow", "pycocotools", "tqdm")


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").replace("…", "").strip()


def action_name(action: QAction) -> str:
    """What the list calls an action: its 'help_name' property if set (Undo/Redo, whose text names the command
    they would undo), else its text without mnemonics."""
    return _plain(action.property("help_name") or action.text())


def _keys(action: QAction) -> str:
    return ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts() if not k.isEmpty())


def shortcut_rows(window) -> list[tuple[str, str, str]]:
    """(menu, action, keys) for every action of ``window`` that has a shortcut, menus first in menu-bar order,
    then actions that live only on the window or a toolbar ('Other keys'). Each action once."""
    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()

    def visit(menu: QMenu, path: str) -> None:
        for act in menu.actions():
            if act.menu() is not None:
                visit(act.menu(), f"{path} › {_plain(act.menu().title())}")
            elif not act.isSeparator() and id(act) not in seen:
                seen.add(id(act))
                if _keys(act):
                    rows.append((path, action_name(act), _keys(act)))

    for top in window.menuBar().actions():
        if top.menu() is not None:
            visit(top.menu(), _plain(top.menu().title()))
    for act in window.findChildren(QAction):
        if id(act) not in seen and _keys(act) and act.text():
            seen.add(id(act))
            rows.append((act.property("help_where") or "Other keys", action_name(act), _keys(act)))
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(640, 560)
        rows = shortcut_rows(window) + list(TOOL_INPUTS)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by action or key…")
        self.filter.setClearButtonEnabled(True)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        # the action names whole, the keys in the rest: a walk saw 'Open …', 'Superpi…' at 640 px wide
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        wanted = sum(self.table.sizeHintForColumn(c) for c in range(3)) + 80   # frame, scroll bar, margins
        screen = (window.screen() if window is not None else None) or QApplication.primaryScreen()
        room = screen.availableGeometry().width() * 9 // 10 if screen is not None else wanted
        # and no taller than the screen (a walk at 1.5x on 1366x768 had Close 13 px below it); the table scrolls
        tall = screen.availableGeometry().height() * 9 // 10 if screen is not None else 560
        self.resize(min(max(640, min(wanted, room)), max(room, 320)), max(240, min(560, tall)))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.filter.textChanged.connect(self._apply_filter)

    def rows(self) -> list[tuple[str, str, str]]:
        """The rows shown (after the filter)."""
        t = self.table
        return [tuple(t.item(r, c).text() for c in range(3)) for r in range(t.rowCount()) if not t.isRowHidden(r)]

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for r in range(self.table.rowCount()):
            hay = " ".join(self.table.item(r, c).text().lower() for c in range(3))
            self.table.setRowHidden(r, bool(needle) and needle not in hay)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_text(window) -> str:
    """Versions, the device in use and the loaded model, as HTML for the About box (and bug reports)."""
    ctl = window.ctl
    lines = [f"<b>{APP_NAME}</b> {_version('deeplab-annotator')}",
             "Label semantic-segmentation datasets with DeepLab v1/v2 and a live-tunable dense CRF.", "",
             f"Python {platform.python_version()} on {platform.system()} {platform.machine()}; Qt {qVersion()}"]
    lines += [f"{d} {_version(d)}" for d in VERSIONED[1:]]
    device = window.status.device.text().removeprefix("Device: ") or ctl.loader.device_pref
    lines += ["", f"<b>Device:</b> {device} (preference: {ctl.loader.device_pref})"]
    loaded = ctl.loader.loaded
    if loaded is None:
        lines.append("<b>Model:</b> none loaded (Model > Load checkpoint…)")
    else:
        spec = loaded.spec
        lines.append(f"<b>Model:</b> {spec.name or loaded.path.name} ({spec.arch}, {spec.n_classes} classes)")
        lines.append(f"Checkpoint: {loaded.path}")
    lines.append(f"<b>CRF engine:</b> {ctl.crf.backend_name}")
    return "<br>".join(lines)


class HelpMenu(QMenu):
    def __init__(self, window):
        super().__init__("&Help", window)
        self.window = window
        self.shortcuts_action = QAction("&Keyboard shortcuts", self)
        self.shortcuts_action.setShortcut(QKeySequence("F1"))
        self.shortcuts_action.triggered.connect(self.show_shortcuts)
        self.about_action = QAction(f"&About {APP_NAME}", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        self.addAction(self.shortcuts_action)
        self.addSeparator()
        self.addAction(self.about_action)
        self.dialog: ShortcutsDialog | None = None

    def show_shortcuts(self) -> ShortcutsDialog:
        """Non-modal, so the user can keep it open while working; rebuilt each time (actions may have changed)."""
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = ShortcutsDialog(self.window)
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.dialog.show()
        return self.dialog

    def show_about(self) -> None:
        QMessageBox.about(self.window, f"About {APP_NAME}", about_text(self.window))

