"""File > Import labels…: another tool's annotations (labelme, COCO, CVAT masks, YOLO-seg) become the open folder's
saved hand labels (engine.io.imports reads them, engine.folder.imports writes them).

Three steps, the slow ones in a background lane with progress: *Read* parses the source and matches it to the
folder's images and classes; the user then says, per source class, which folder class it goes to (matched by name
where the names agree; otherwise a near name, a new class or void), and whether saved labels may be replaced (a
question, asked only when the import would replace some); *Import* adds the new classes through the session (so
the window's class list is the one written) and writes the labels. Images with unsaved edits are never written.
Afterwards the list shows the imported images as saved, and the open image is read again if it was imported.
"""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QTableWidget, QVBoxLayout,
                               QWidget)

from engine.annotate.status import Status
from engine.errors import EngineError
from engine.folder.dataset import Dataset
from engine.folder.imports import match_classes, plan_import, run_import
from engine.io.imports import FORMATS, read_source
from gui.dialogs import prompts
from gui.session.lanes import Lane

NEW, VOID = "+ new class", "void (not labelled)"
SOURCE_HINT = {"labelme": "a folder of labelme .json files", "coco": "a COCO instances .json file",
               "cvat-mask": "a CVAT Segmentation mask 1.1 export: its folder or .zip",
               "yolo-seg": "a YOLO-seg dataset folder (data.yaml + labels/) or its data.yaml"}


class ImportDialog(QDialog):
    planned = Signal(object)         # engine.folder.imports.ImportPlan after Read (for tests)
    run_finished = Signal(object)    # engine.folder.imports.ImportResult

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Import labels")
        self.setModal(False)
        self.resize(640, 520)
        self.format_box = QComboBox()
        self.format_box.addItems(FORMATS)
        self.format_box.currentTextChanged.connect(self._on_format)
        self.source_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.source_edit)
        line.addWidget(browse)
        form = QFormLayout()
        form.addRow("Format", self.format_box)
        form.addRow("Source", row)
        self.hint = QLabel()
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Source class", "Folder class"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.unlabelled_box = QComboBox()   # pixels no annotation covers: void, or a folder class
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.bar = QProgressBar()
        buttons = QDialogButtonBox()
        self.read_button = QPushButton("Read")
        self.import_button = QPushButton("Import")
        self.cancel_button = QPushButton("Cancel")
        self.close_button = QPushButton("Close")
        for b, role in ((self.read_button, QDialogButtonBox.ButtonRole.ActionRole),
                        (self.import_button, QDialogButtonBox.ButtonRole.ActionRole),
                        (self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole),
                        (self.close_button, QDialogButtonBox.ButtonRole.AcceptRole)):
            buttons.addButton(b, role)
        self.read_button.clicked.connect(lambda: self.read())
        self.import_button.clicked.connect(lambda: self.start())
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.hide)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for w in (self.hint, QLabel("Where each source class goes:"), self.table):
            layout.addWidget(w)
        fill = QFormLayout()
        fill.addRow("Pixels no annotation covers", self.unlabelled_box)
        layout.addLayout(fill)
        for w in (self.summary, self.bar, buttons):
            layout.addWidget(w)
        self.lane = Lane("import", self)
        self.lane.finished.connect(self._on_finished)
        self.lane.failed.connect(self._on_failed)
        self.lane.progress.connect(lambda _k, done, total, _t: (self.bar.setMaximum(total), self.bar.setValue(done)))
        self.lane.busy_changed.connect(lambda _b: self._sync_buttons())
        self.plan = None
        self._folder = None          # the folder the plan was made for
        self._stop = threading.Event()
        self._on_format(self.format_box.currentText())
        # from the start: Cancel only while something runs, Import once a plan is read, and Enter reads the source
        # (a walk found Cancel enabled and Close the default before anything was chosen)
        self.read_button.setDefault(True)
        for b in (self.import_button, self.cancel_button, self.close_button):
            b.setAutoDefault(False)
        self._sync_buttons()

    # ----- the File menu entry ---------------------------------------------------------------------
    @classmethod
    def for_window(cls, window) -> "ImportDialog":
        """The (hidden) dialog and its File > Import labels… ``action`` (placed by gui.menus.menubar)."""
        dialog = cls(window)
        act = QAction("&Import labels…", window)
        act.setToolTip("Turn labelme, COCO, CVAT mask or YOLO-seg annotations into this folder's saved labels")
        act.triggered.connect(dialog.open_dialog)
        dialog.action = act
        return dialog

    def open_dialog(self) -> None:
        if self.window.ctl.dataset is None:
            self.window.show_error("Open a folder of images before importing labels into it.")
            return
        self.show()
        self.raise_()

    def shutdown(self) -> None:
        self._stop.set()
        self.lane.wait(5000)

    # ----- step 1: read -----------------------------------------------------------------------------
    def _on_format(self, fmt: str) -> None:
        self.hint.setText(f"Source: {SOURCE_HINT.get(fmt, '')}")

    def browse(self) -> None:
        fmt, start = self.format_box.currentText(), str(self.window.ctl.dataset.folder if self.window.ctl.dataset
                                                         else Path.home())
        if fmt == "coco":
            path, _ = QFileDialog.getOpenFileName(self, "COCO instances JSON", start, "JSON (*.json)")
        elif fmt == "cvat-mask":
            path, _ = QFileDialog.getOpenFileName(self, "CVAT export (.zip; Cancel to pick a folder)", start,
                                                  "Zip (*.zip)")
            path = path or QFileDialog.getExistingDirectory(self, "CVAT export folder", start)
        else:
            path = QFileDialog.getExistingDirectory(self, f"{fmt} folder", start)
        if path:
            self.source_edit.setText(path)

    def _folder_classes(self):
        classes = self.window.ctl.classes.project
        return classes.classes if classes is not None else None

    def _protected(self) -> set[str]:
        ctl = self.window.ctl
        names = {ctl.dataset.entries[i].path.name for i in ctl.dataset.unsaved()}
        st = ctl.state
        if st is not None and st.dirty:
            names.add(st.path.name)
        return names

    def read(self, fmt: str | None = None, source: str | Path | None = None) -> bool:
        """Read ``source`` (default: the dialog's fields) in the background and show what it holds."""
        ctl = self.window.ctl
        if ctl.dataset is None or self.running:
            return False
        if fmt is not None:
            self.format_box.setCurrentText(fmt)
        if source is not None:
            self.source_edit.setText(str(source))
        fmt, path = self.format_box.currentText(), self.source_edit.text().strip()
        if not path:
            self.summary.setPlainText("Pick the source first (Browse…).")
            return False
        folder, classes, protect = ctl.dataset.folder, self._folder_classes(), self._protected()

        def job(cancel, report):
            source = read_source(fmt, path)
            return plan_import(Dataset(folder), source, classes, add_new=False, force=True, protect=protect)
        self.plan, self._folder = None, folder
        self.table.setRowCount(0)
        self.summary.setPlainText(f"Reading {path}…")
        self.bar.setRange(0, 0)   # busy: reading has no steps to count
        self.lane.submit(("read", fmt, path), job)
        return True

    def _show_plan(self, plan) -> None:
        self.plan = plan
        folder_names = list(plan.classes.names) if plan.classes is not None else []
        self.table.setRowCount(len(plan.source.names))
        for row, name in enumerate(plan.source.names):
            self.table.setCellWidget(row, 0, QLabel(name))
            box = QComboBox()
            box.addItems(folder_names + [NEW, VOID])
            target = plan.targets.get(name, -1)
            if name in plan.added:
                box.setCurrentText(NEW)
            elif target is None:
                box.setCurrentText(VOID)
            elif target is not None and target >= 0:
                box.setCurrentIndex(target)
            else:   # unmatched: a near name if there is one, else a new class
                near = plan.unmatched.get(name) or []
                box.setCurrentText(near[0] if near else NEW)
            self.table.setCellWidget(row, 1, box)
        self.unlabelled_box.clear()
        self.unlabelled_box.addItems([VOID] + folder_names)
        if plan.unlabelled is not None:   # the source names a class for them (labelme2voc's labels.txt)
            self.unlabelled_box.setCurrentIndex(plan.unlabelled + 1)
        found = len(plan.jobs)
        hand = [self.window.ctl.dataset.entries[j.index].path.name for j in plan.jobs if j.replaces == "hand"]
        lines = [plan.describe()]
        if hand:
            lines.append(f"{len(hand)} of the {found} image(s) have saved labels; you will be asked before they are "
                         "replaced.")
        lines.extend(f"note: {p}" for p in plan.problems[:20])
        self.summary.setPlainText("\n".join(lines))
        self.planned.emit(plan)

    def choices(self) -> dict[str, str]:
        """Source class -> the folder class name chosen, NEW or VOID."""
        return {name: self.table.cellWidget(row, 1).currentText() for row, name in enumerate(self.plan.source.names)}

    def set_choice(self, source_name: str, choice: str) -> None:
        row = self.plan.source.names.index(source_name)
        self.table.cellWidget(row, 1).setCurrentText(choice)

    # ----- step 2: import ---------------------------------------------------------------------------
    def start(self) -> bool:
        """Add the chosen new classes (through the session), ask about saved labels, then write in the background."""
        ctl, plan = self.window.ctl, self.plan
        if plan is None or self.running or ctl.dataset is None:
            return False
        if ctl.dataset.folder != self._folder:
            self.window.show_error("Another folder was opened since the source was read: read it again.")
            return False
        refusal = ctl.guard.refusal()
        if refusal:
            self.window.show_error(refusal)
            return False
        hand = [ctl.dataset.entries[j.index].path.name for j in plan.jobs if j.replaces == "hand"]
        force = False
        if hand:   # asked first: a cancelled import changes nothing, not even the class list
            answer = prompts.ask_replace_saved(self, hand)
            if answer == prompts.CANCEL:
                return False
            force = answer == prompts.REPLACE
        mapping = {name: ("void" if choice == VOID else choice) for name, choice in self.choices().items()
                   if choice != NEW}   # NEW: left to add_new
        base = self._folder_classes()
        try:
            classes, _, added, _ = match_classes(plan.source.names, base, mapping, add_new=True)
        except EngineError as exc:   # a class name the folder refuses (reserved, too long, too many classes)
            self.window.show_error(f"Cannot import: {exc}")
            return False
        if classes != base and not ctl.classes.edit_classes(
                classes, f"Classes added by the import: {', '.join(added)}"):
            return False
        folder, source, protect = ctl.dataset.folder, plan.source, self._protected()
        fill = self.unlabelled_box.currentText()
        unlabelled = "void" if fill in (VOID, "") else fill
        self._stop.clear()
        stop = self._stop

        def job(cancel, report):
            dataset = Dataset(folder)
            final = plan_import(dataset, source, classes, mapping=mapping, add_new=True, force=force,
                                protect=protect, unlabelled=unlabelled)
            result = run_import(dataset, final, stop.is_set,
                                lambda done, total, name: report(done, total, f"Imported {name}"))
            return final, result
        self.bar.setRange(0, max(len(plan.jobs), 1))
        self.bar.setValue(0)
        self.summary.appendPlainText("Importing…")
        self.lane.submit(("import", str(source.path)), job)
        self.window.status.set_activity(f"Importing labels from {source.path}…")
        return True

    def cancel(self) -> None:
        """Stop after the image being written (what is written stays)."""
        self._stop.set()

    @property
    def running(self) -> bool:
        return self.lane.busy

    def _sync_buttons(self) -> None:
        self.read_button.setEnabled(not self.running)
        self.import_button.setEnabled(not self.running and self.plan is not None)
        self.cancel_button.setEnabled(self.running)

    def _on_finished(self, key, value) -> None:
        self.bar.setRange(0, max(self.bar.maximum(), 1))
        if key[0] == "read":
            self._show_plan(value)
            self._sync_buttons()
            return
        plan, result = value
        self._take(plan, result)
        text = result.message(plan)
        lines = [f"Done: {text}"] + [f"error: {name}: {why}" for name, why in result.errors[:20]]
        self.summary.appendPlainText("\n".join(lines))
        self.window.status.set_activity(f"Import: {text}")
        self.plan = None
        self._sync_buttons()
        self.run_finished.emit(result)

    def _on_failed(self, key, message: str) -> None:
        self.bar.setRange(0, 1)
        self.summary.appendPlainText(f"Failed: {message}")
        self.window.show_error(f"Import failed: {message}")
        self._sync_buttons()

    def _take(self, plan, result) -> None:
        """The session learns what was written: statuses, and the open image read again if it was replaced."""
        ctl = self.window.ctl
        if ctl.dataset is None:
            return
        imported = set(result.imported)
        for i, entry in enumerate(ctl.dataset.entries):
            if entry.path.name not in imported:
                continue
            if i == ctl.index and ctl.state is not None and ctl.state.dirty:
                ctl.sync_status()        # edited while the import ran: the edits stay, and so does "edited"
                continue
            ctl.dataset.set_status(i, Status.SAVED)
            ctl.status_changed.emit(i, Status.SAVED.value)
            if i == ctl.index:
                ctl.open_index(i)        # show the imported labels, as a reopened image would
