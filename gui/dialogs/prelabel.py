"""File > Pre-label folder…: label every image of the open folder with the loaded model and the CRF panel's
settings (engine.batch), in a background job, showing progress; Cancel stops it after the images in flight.

The window stays usable meanwhile: rows turn "pre-labelled" and get their uncertainty as images finish. Hand-saved
labels and images with unsaved edits are never written. The job uses the window's predictor (under its model lock)
and the fast CRF on the CPU, which releases the GIL (pydensecrf would hold it and freeze the window).
"""
from __future__ import annotations

import threading
import time

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QProgressBar, QPushButton,
                               QVBoxLayout)

from engine.batch import PrelabelSettings, prelabel
from engine.batch.report import EDITING, ERROR, HAND, LABELLED
from engine.checkpoints import load_checkpoint
from engine.learn.export import export_adapted
from engine.predict import Predictor
from gui.session.lanes import Lane


def _eta(done: int, total: int, elapsed: float) -> str:
    if done <= 0 or elapsed <= 0:
        return ""
    rate = done / elapsed
    left = (total - done) / rate
    return f", {rate:.2f} images/s, about {left:.0f} s left" if done < total else f", {rate:.2f} images/s"


class PrelabelDialog(QDialog):
    run_finished = Signal(object)   # engine.batch.Summary, for tests and the status bar

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Pre-label folder")
        self.setModal(False)
        self.resize(560, 380)
        self.about = QLabel()
        self.about.setWordWrap(True)
        self.bar = QProgressBar()
        self.progress = QLabel("Not started")
        self.use_adapted = QCheckBox("Use what the model learnt in this folder (the adapted head, new classes "
                                     "included)")
        self.use_adapted.setChecked(True)
        self.use_adapted.toggled.connect(lambda _on: self._describe())
        self.redo = QCheckBox("Label again the images pre-labelled with another model or other settings "
                              "(replaces their labels and scores)")
        self.redo.setChecked(True)   # (unticked: only the images with no labels yet; a walk wanted a resume)
        self.redo.toggled.connect(lambda _on: self._describe())
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        buttons = QDialogButtonBox()
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.close_button = QPushButton("Close")
        for b, role in ((self.start_button, QDialogButtonBox.ButtonRole.ActionRole),
                        (self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole),
                        (self.close_button, QDialogButtonBox.ButtonRole.AcceptRole)):
            buttons.addButton(b, role)
        self.start_button.setDefault(True)   # Enter starts the run (Close stays one click away)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.hide)
        layout = QVBoxLayout(self)
        for w in (self.about, self.use_adapted, self.redo, self.bar, self.progress, self.log, buttons):
            layout.addWidget(w)
        self.lane = Lane("prelabel", self)
        self.lane.preview.connect(self._on_image)
        self.lane.progress.connect(self._on_progress)
        self.lane.finished.connect(self._on_finished)
        self.lane.failed.connect(self._on_failed)
        self._stop = threading.Event()
        self._started = 0.0
        self._set_running(False)

    # ----- the File menu entry ---------------------------------------------------------------------
    @classmethod
    def for_window(cls, window) -> "PrelabelDialog":
        """The (hidden) dialog and its File > Pre-label folder… ``action`` (placed by gui.menus.menubar)."""
        dialog = cls(window)
        act = QAction("Pre-la&bel folder…", window)
        act.setToolTip("Label every image of the folder with the model and the CRF settings (machine labels)")
        act.triggered.connect(dialog.open_dialog)
        dialog.action = act
        return dialog

    def open_dialog(self) -> None:
        if not self.running:
            self._describe()
        self.show()
        self.raise_()

    @property
    def running(self) -> bool:
        return self.lane.busy

    def _set_running(self, on: bool) -> None:
        self.start_button.setEnabled(not on)
        self.cancel_button.setEnabled(on)

    def _ready(self) -> str:
        """'' when a run can start, else what is missing."""
        ctl = self.window.ctl
        if ctl.dataset is None:
            return "Open a folder of images first."
        if ctl.loader.loaded is None or ctl.classes.predictor is None:
            return "Load a model first (Model > Load checkpoint…)."
        return ""

    def _adapted(self) -> bool:
        """The run uses the adapted head: it learnt something and the box is ticked."""
        head = self.window.ctl.adapt.head
        return self.use_adapted.isChecked() and head is not None and not head.is_original

    def _settings(self) -> PrelabelSettings:
        params = self.window.ctl.crf.params
        return PrelabelSettings(crf_params=params if params.iterations else None, crf_backend="fast",
                                redo_other_runs=self.redo.isChecked())

    def _describe(self) -> None:
        problem = self._ready()
        if problem:
            self.about.setText(problem)
            self.start_button.setEnabled(False)
            return
        ctl = self.window.ctl
        head = ctl.adapt.head
        self.use_adapted.setEnabled(head is not None and not head.is_original)
        s = self._settings()
        crf = "none" if s.crf_params is None else ", ".join(f"{k} {v}" for k, v in s.crf_params.to_dict().items())
        self.about.setText(
            f"<b>{ctl.dataset.folder}</b>: {len(ctl.dataset)} images<br>"
            f"Model: {ctl.loader.loaded.spec.name or ctl.loader.loaded.path.name} ({ctl.classes.predictor.device})"
            f"{f', with what it learnt here ({head.strokes} stroke' + 's' * (head.strokes != 1) + ')' if self._adapted() else ''}<br>"
            f"CRF (the CRF panel's settings, fast engine on the CPU): {crf}<br>"
            "Writes labels/&lt;image&gt;.png as machine labels (shown as <i>pre-labelled</i>) and "
            "labels/prelabel.csv. Hand-saved labels and unsaved edits are never overwritten; images done before "
            "with the same model and CRF settings are skipped; those done with another model or other settings "
            "(what the model learnt here counts as another) are " +
            ("labelled again, replacing their labels and scores." if self.redo.isChecked() else "left as they are."))
        self.start_button.setEnabled(True)

    # ----- running -----------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the run in the background; False (with the reason shown) if it cannot start."""
        problem = self._ready()
        if problem:
            self.about.setText(problem)
            self.window.show_error(problem)
            return False
        if self.running:
            return False
        ctl = self.window.ctl
        dataset, loaded, predictor, lock = ctl.dataset, ctl.loader.loaded, ctl.classes.predictor, ctl.loader.lock
        protect = {dataset.image_id(i) for i in dataset.unsaved()}
        if ctl.state is not None and ctl.state.dirty:
            protect.add(dataset.image_id(ctl.state.index))
        settings, class_list, folder = self._settings(), ctl.classes.class_list, dataset.folder
        adapted = (ctl.adapt.adapter, ctl.adapt.head) if self._adapted() else None
        self._stop = stop = threading.Event()
        self.log.clear()
        self.bar.setRange(0, 0)
        self.progress.setText("Planning…")

        def job(cancel, report):
            counter = {"done": 0, "total": 0}

            def on_plan(plan):
                counter["total"] = len(plan.todo)
                report(0, len(plan.todo), "plan", ("plan", len(plan.todo), len(plan.skipped), len(plan.kept),
                                                          len(plan.editing), len(plan.replaced), len(plan.left),
                                                          len(plan.unscored)))

            def on_result(outcome, row):
                counter["done"] += 1
                report(counter["done"], counter["total"], "image",
                       ("image", row.image, row.status, row.mean_uncertainty, row.detail, outcome.labels))

            run_loaded, run_predictor = loaded, predictor
            if adapted is not None:   # the adapted model, exported next to the head it came from, predicts
                path = export_adapted(dataset.labels_dir / ".model" / f"adapted-{loaded.sha256[:16]}.pt", loaded,
                                      *adapted, class_list, folder=folder)
                run_loaded = load_checkpoint(path)
                run_predictor = Predictor(run_loaded, device=str(predictor.device))
            # its own Dataset object: the window's is only touched on the GUI thread (see _on_image)
            return prelabel(folder, run_loaded, settings, class_list=class_list, protect=protect,
                            predictor=run_predictor,
                            lock=lock, on_plan=on_plan, on_result=on_result,
                            should_cancel=lambda: cancel() or stop.is_set())
        self._started = time.monotonic()
        self.lane.submit(("prelabel", str(folder)), job)
        self._set_running(True)
        self.window.status.set_activity(f"Pre-labelling {folder}…")
        return True

    def cancel(self) -> None:
        """Stop after the images in flight; what finished stays written (a new run resumes)."""
        if self.running:
            self._stop.set()
            self.progress.setText(self.progress.text() + " — cancelling…")

    def shutdown(self) -> None:
        """The window closes: stop the run and wait for its threads."""
        self._stop.set()
        self.lane.wait(30000)

    def _on_progress(self, _key, done: int, total: int, _text: str) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)
        self.progress.setText(f"{done}/{total} images" + _eta(done, total, time.monotonic() - self._started))

    def _on_image(self, _key, payload) -> None:
        if payload[0] == "plan":
            _, todo, skipped, kept, editing, replaced, left, unscored = payload
            if skipped:
                self.log.appendPlainText(f"Skipping {skipped} already pre-labelled with this model and CRF settings.")
            if unscored:
                self.log.appendPlainText(f"Labelling again {unscored} pre-labelled with this model and CRF settings "
                                         "by a run that stopped before writing their scores.")
            if replaced:
                self.log.appendPlainText(f"Labelling again {replaced} pre-labelled with another model or other "
                                         "settings: their labels and scores are replaced.")
            if left:
                self.log.appendPlainText(f"Leaving {left} pre-labelled with another model or other settings as "
                                         "they are.")
            if kept:
                self.log.appendPlainText(f"Keeping {kept} hand-saved image(s): never overwritten.")
            if editing:
                self.log.appendPlainText(f"Leaving {editing} image(s) with unsaved edits in the window alone.")
            self._started = time.monotonic()
            return
        _, name, status, score, detail, labels = payload
        ctl = self.window.ctl
        i = ctl.dataset.index_of_id(name) if ctl.dataset is not None else None
        if status == ERROR:
            self.log.appendPlainText(f"Error: {detail}")
        elif status in (HAND, EDITING):
            self.log.appendPlainText(detail)
        if i is not None and status == LABELLED:
            ctl.take_prelabelled(i, score, labels)   # its status, score, and the open image if untouched

    def _on_finished(self, _key, summary) -> None:
        self._set_running(False)
        lines = summary.lines()
        self.log.appendPlainText("\n".join(lines))
        self.progress.setText(lines[0][:1].upper() + lines[0][1:])
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1)
            self.bar.setValue(1)
        self.window.status.set_activity(lines[0][:1].upper() + lines[0][1:]
                                        + (f"; {len(summary.errors)} errors" if summary.errors else ""))
        self.run_finished.emit(summary)

    def _on_failed(self, _key, message: str) -> None:
        self._set_running(False)
        self.log.appendPlainText(f"Pre-labelling stopped: {message}")
        self.progress.setText("Stopped")
        self.window.show_error(f"Pre-labelling stopped: {message}")
