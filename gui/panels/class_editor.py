"""The class editor under the Classes panel: add, rename (F2), recolour, reorder (drag, or Alt+Up/Down),
hide (the row's tick box) and delete the folder's classes; plus the window side of the folder's project
(the questions the controller asks, and applying the folder's CRF values to the CRF panel).

Edits act on the paint class (the row marked with the pencil: click a row to pick it). Each one makes a new
engine.project.FolderClasses and hands it to the controller, which writes labels/project.json at once.
Ids never change, so no saved label file is rewritten: reordering only changes the order shown here, and
only the class with the highest id can be deleted, once no saved label uses it.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QMenu, QToolButton, QWidget

from engine.labels import VOID
from engine.project import ClassEditError, FolderClasses, match_key
from engine.project.reconcile import add_model_classes
from gui.dialogs import classes as class_dialogs
from gui.panels.crf import FOLDER_VALUES_LABEL
from gui.session.lanes import Lane


class ClassEditor(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window, self.ctl, self.panel = window, window.ctl, window.class_panel
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self.add_action = self._action("+", "Add a class (it gets the next id)", self.add, row, "Ctrl+Shift+N",
                                       "Add a class")
        self.model_button = QToolButton()
        self.model_button.setText("From model")
        self.model_button.setToolTip("Add classes the model knows and this folder lacks")
        self.model_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.model_menu = QMenu(self.model_button)
        self.model_menu.aboutToShow.connect(self._fill_model_menu)
        self.model_button.setMenu(self.model_menu)
        row.addWidget(self.model_button)
        self.rename_action = self._action("Rename", "Rename the paint class (F2)", self.rename, row, "F2",
                                          "Rename the paint class")
        self.colour_action = self._action("Colour", "Change the paint class's colour", self.recolour, row)
        self.up_action = self._action("\u2191", "Show the paint class higher (Alt+Up; ids do not change)",
                                      lambda: self.move(-1), row, "Alt+Up", "Move the paint class up")
        self.down_action = self._action("\u2193", "Show the paint class lower (Alt+Down; ids do not change)",
                                        lambda: self.move(+1), row, "Alt+Down", "Move the paint class down")
        self.delete_action = self._action("Delete", "Delete the paint class (only the highest id, and only if "
                                          "no saved label uses it)", self.delete, row)
        row.addStretch(1)
        self.panel.add_tools(bar)
        tree = self.panel.tree
        tree.setDragDropMode(tree.DragDropMode.InternalMove)
        tree.setDefaultDropAction(Qt.DropAction.MoveAction)
        self._order_timer = QTimer(self)
        self._order_timer.setSingleShot(True)
        self._order_timer.setInterval(0)
        self._order_timer.timeout.connect(self._on_rows_moved)
        tree.model().rowsInserted.connect(lambda *_: self._order_timer.start())
        self.panel.visibility_changed.connect(self._on_visibility)
        self.lane = Lane("classes", self)   # scanning saved labels for a delete is not GUI-thread work
        self.lane.finished.connect(self._on_usage)
        self.lane.failed.connect(lambda _k, msg: self.window.show_error(msg))
        ctl = self.ctl
        ctl.classes.ask_classes = lambda rec: class_dialogs.ask_mismatch(
            window, rec, ctl.loader.loaded.spec.name if ctl.loader.loaded is not None else "")
        ctl.classes.ask_settings = lambda lines: class_dialogs.ask_settings(window, lines)
        ctl.classes.ask_unknown = lambda text, values: class_dialogs.ask_unknown(window, text, values)
        ctl.project_settings_applied.connect(self._on_settings_applied)
        ctl.guard.mode_changed.connect(self._on_mode)

    def _on_mode(self, read_only: bool) -> None:
        """A read-only window (another holds the folder) does not edit the folder's classes: its buttons are off,
        not refusing after a name was typed (a walk). Hiding a class stays: it only changes this window's view."""
        for act in (self.add_action, self.rename_action, self.colour_action, self.up_action, self.down_action,
                    self.delete_action):
            act.setEnabled(not read_only)
        self.model_button.setEnabled(not read_only)
        tree = self.panel.tree
        tree.setDragDropMode(tree.DragDropMode.NoDragDrop if read_only else tree.DragDropMode.InternalMove)

    def _action(self, text, tip, slot, row, shortcut=None, name=None) -> QAction:
        act = QAction(text, self.panel)
        act.setToolTip(tip)
        act.setProperty("help_name", name or text)           # what F1 calls it (a button may show only an arrow)
        act.setProperty("help_where", "Classes panel (with the focus)")
        act.triggered.connect(slot)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.panel.addAction(act)
        button = QToolButton()
        button.setDefaultAction(act)
        row.addWidget(button)
        return act

    # ----- what the edits act on ----------------------------------------------------------------------
    def classes(self) -> FolderClasses | None:
        project = self.ctl.classes.project
        if project is None:
            self.window.show_error("Open a folder before editing its classes.")
            return None
        if project.classes is None and self.ctl.classes.class_list is not None:
            return FolderClasses.from_class_list(self.ctl.classes.class_list)
        if project.classes is None:
            self.window.show_error("Load a model or pick a class list first: the folder has no classes yet.")
        return project.classes

    def target(self) -> int:
        """The class the edit acts on: the paint class."""
        c = self.ctl.editor.paint_class
        classes = self.ctl.classes.project.classes if self.ctl.classes.project is not None else None
        if c == VOID or classes is None or not 0 <= c < len(classes):
            self.window.show_error("Click a class in the list first (the edit acts on the paint class).")
            return -1
        return c

    def _apply(self, make, what: str) -> bool:
        """Run ``make()`` -> FolderClasses; a ClassEditError is shown, nothing changes."""
        try:
            new = make()
        except ClassEditError as exc:
            class_dialogs.inform(self.window, "Classes", str(exc))
            return False
        return self.ctl.classes.edit_classes(new, what)

    # ----- edits ------------------------------------------------------------------------------------
    def add(self) -> bool:
        classes = self.classes()
        if classes is None:
            return False
        name = class_dialogs.ask_class_name(self.window, "Add a class")
        if not name:
            return False
        if self._apply(lambda: classes.add(name), f"Added class {len(classes)} {name.strip()!r}"):
            self.ctl.editor.set_paint_class(len(classes))
            return True
        return False

    def add_from_model(self, names=None) -> bool:
        classes, model = self.classes(), self.ctl.classes.model_classes
        if classes is None or model is None:
            return False
        return self._apply(lambda: add_model_classes(classes, model, names), "Added the model's classes")

    def _missing_model_classes(self) -> list[str]:
        classes, model = self.ctl.classes.project.classes if self.ctl.classes.project else None, self.ctl.classes.model_classes
        if classes is None or model is None:
            return []
        have = {match_key(n) for n in classes.names}
        return [n for n in model.names if match_key(n) not in have]

    def _fill_model_menu(self) -> None:
        self.model_menu.clear()
        missing = self._missing_model_classes()
        if not missing:
            self.model_menu.addAction("The folder has every class the model knows").setEnabled(False)
            return
        for name in missing[:40]:
            self.model_menu.addAction(name, lambda n=name: self.add_from_model([n]))
        self.model_menu.addSeparator()
        self.model_menu.addAction(f"All {len(missing)} missing classes", self.add_from_model)

    def rename(self) -> bool:
        c, classes = self.target(), self.classes()
        if c < 0 or classes is None:
            return False
        old = classes.by_id(c).name
        name = class_dialogs.ask_class_name(self.window, f"Rename class {c}", old)
        if name is None or name.strip() == old:
            return False
        return self._apply(lambda: classes.rename(c, name), f"Renamed class {c} {old!r} to {name.strip()!r}")

    def recolour(self) -> bool:
        c, classes = self.target(), self.classes()
        if c < 0 or classes is None:
            return False
        rgb = class_dialogs.ask_colour(self.window, classes.by_id(c).color)
        if rgb is None:
            return False
        return self._apply(lambda: classes.recolour(c, rgb), f"Recoloured class {c}")

    def move(self, step: int) -> bool:
        c, classes = self.target(), self.classes()
        if c < 0 or classes is None:
            return False
        pos = classes.order.index(c)
        return self._apply(lambda: classes.move(c, pos + step), "Reordered the classes (ids unchanged)")

    def _on_rows_moved(self) -> None:
        """After a drag: the rows' order becomes the display order."""
        classes = self.ctl.classes.project.classes if self.ctl.classes.project is not None else None
        ids = self.panel.ids_in_order()
        if classes is None or sorted(ids) != list(range(len(classes))) or tuple(ids) == classes.order:
            return
        self._apply(lambda: classes.reorder(ids), "Reordered the classes (ids unchanged)")

    def _on_visibility(self, visible) -> None:
        """The tick boxes are the hidden flags, saved with the folder."""
        classes = self.ctl.classes.project.classes if self.ctl.classes.project is not None else None
        if classes is None or len(visible) != len(classes):
            return
        hidden = tuple(not bool(v) for v in visible)
        if hidden != classes.hidden:
            self.ctl.classes.set_hidden(hidden)

    def delete(self) -> bool:
        """Check ids first, then (in the background) that no label uses the class; then confirm."""
        c, classes = self.target(), self.classes()
        if c < 0 or classes is None:
            return False
        why = classes.can_delete(c)
        if why:
            class_dialogs.inform(self.window, "Delete a class", f"Cannot delete {classes.by_id(c).name!r}: {why}.")
            return False
        self.window.status.set_activity(f"Checking the saved labels for {classes.by_id(c).name!r}…")
        open_use, job = self.ctl.classes.class_usage(c)
        self.lane.submit(("usage", c, classes, tuple(open_use)), job)
        return True

    def _on_usage(self, key, saved: list[str]) -> None:
        _, c, classes, open_use = key
        used = list(open_use) + saved
        if self.ctl.classes.project is None or self.ctl.classes.project.classes != classes:
            return   # the list changed meanwhile
        name = classes.by_id(c).name
        self.window.status.set_activity(f"{name!r} is used in {len(used)} image{'s' * (len(used) != 1)}")  # checked
        if used:
            shown = ", ".join(used[:8]) + (f" and {len(used) - 8} more" if len(used) > 8 else "")
            class_dialogs.inform(self.window, "Delete a class",
                                 f"{name!r} is used in {len(used)} image{'s' if len(used) != 1 else ''}: "
                                 f"{shown}. Paint those pixels with another class and save, "
                                 "or hide the class instead.")
            return
        held = self.ctl.editor.history_holding(c)
        undo = (f" Undo steps that would paint it back are dropped, with the steps before them, in the history of "
                f"{len(held)} image{'s' * (len(held) != 1)} ({', '.join(Path(k).name for k in held[:4])}"
                f"{' …' if len(held) > 4 else ''}).") if held else ""
        if class_dialogs.confirm(self.window, "Delete a class",
                                 f"Delete class {c} {name!r}? No saved label uses it.{undo}"):
            self.ctl.editor.forget_class(c)
            self._apply(lambda: classes.delete(c), f"Deleted class {c} {name!r}")

    # ----- the folder's settings ----------------------------------------------------------------------
    def _on_settings_applied(self, params, backend: str) -> None:
        """The folder's CRF values were taken: the panel shows them (and what it shows is what runs)."""
        w = self.window   # (the engine box follows CrfRequests.backend_set)
        w.crf_panel.use_folder_preset(params, FOLDER_VALUES_LABEL, emit=False)   # not "Custom": the folder's own
        self.ctl.crf.take_params(w.crf_panel.params())
