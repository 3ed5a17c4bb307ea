"""Model > Train on saved labels…: choose whole network or head only, start, watch (epoch, loss, a live loss curve,
held-out mIoU), cancel; at the end the new checkpoint can be loaded at once.

The work is engine.learn.finetune.train_on_folder in a background lane, on a copy of the loaded model (taken under
the controller's model lock), so predicting and correcting go on meanwhile. Cancel or a failure writes nothing.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.errors import EngineError
from engine.learn.finetune import Recipe, train_on_folder
from engine.learn.saved import saved_count
from gui.session.lanes import Lane


class LossCurve(QWidget):
    """Every step's loss as a polyline (log-free, scaled to the largest loss seen); held-out mIoU as dots."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(360, 140)
        self.losses: tuple = ()
        self.mious: tuple = ()
        self.steps = 1

    def set_data(self, losses, mious, steps: int) -> None:
        self.losses, self.mious, self.steps = tuple(losses), tuple(mious), max(int(steps), 1)
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.white)
        w, h = self.width() - 8, self.height() - 8
        p.setPen(QPen(Qt.GlobalColor.lightGray))
        p.drawRect(4, 4, w, h)
        finite = [v for v in self.losses if v == v]
        if finite:
            top = max(finite) or 1.0
            pts = [QPointF(4 + w * (i + 1) / self.steps, 4 + h * (1 - v / top)) for i, v in enumerate(self.losses)
                   if v == v]
            p.setPen(QPen(Qt.GlobalColor.darkBlue, 1.5))
            p.drawPolyline(QPolygonF(pts))
        if self.mious:
            epochs = max(e for e, _ in self.mious) or 1
            p.setPen(QPen(Qt.GlobalColor.darkGreen, 5))
            for e, m in self.mious:
                p.drawPoint(QPointF(4 + w * e / max(epochs, 1), 4 + h * (1 - m)))
        p.end()


class TrainDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.window, self.ctl = window, window.ctl
        self.setWindowTitle("Train on saved labels")
        self.lane = Lane("train", self)
        self.ctl.lanes["train"] = self.lane   # so closing the window stops it (AnnotatorController.shutdown)
        self.lane.preview.connect(self._on_progress)
        self.lane.finished.connect(self._on_finished)
        self.lane.failed.connect(self._on_failed)
        self.result_path: Path | None = None
        d = Recipe()
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.whole = QRadioButton("Whole network")
        self.head = QRadioButton("Head only (faster, less memory)")
        self.whole.setChecked(True)
        modes = QHBoxLayout()
        modes.addWidget(self.whole)
        modes.addWidget(self.head)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(d.epochs)
        self.batch = QSpinBox()
        self.batch.setRange(1, 64)
        self.batch.setValue(d.batch_size)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(d.lr)
        self.out = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Train", modes)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch)
        form.addRow("Learning rate", self.lr)
        form.addRow("Save as", out_row)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.curve = LossCurve()
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel training", QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        for widget in (self.info,):
            layout.addWidget(widget)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.curve, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self._running(False)

    # ----- state -----------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """What would be trained on, and a default file name beside the images."""
        ds, loaded = self.ctl.dataset, self.ctl.loader.loaded
        n, problem = saved_count(self.ctl.dataset, self.ctl.loader.loaded)
        if n is None:
            self.info.setText(problem)     # Start still says why, with the engine's own message
            self.start_button.setEnabled(ds is not None and loaded is not None and not self.lane.busy)
            return
        self.info.setText(f"{n} saved image{'s' * (n != 1)} in {ds.labels_dir} (unsaved edits are not used); "
                          f"base model: {loaded.spec.name or loaded.path.name} (SHA-256 {loaded.sha256[:12]}…)")
        if not self.out.text():
            self.out.setText(str(ds.folder / f"{Path(loaded.path).stem}_finetuned.pt"))
        self.start_button.setEnabled(not self.lane.busy)

    def recipe(self) -> Recipe:
        return Recipe(mode="head" if self.head.isChecked() else "all", epochs=self.epochs.value(),
                      batch_size=self.batch.value(), lr=self.lr.value())

    def _running(self, on: bool) -> None:
        self.start_button.setEnabled(not on)
        self.cancel_button.setEnabled(on)
        for w in (self.whole, self.head, self.epochs, self.batch, self.lr, self.out):
            w.setEnabled(not on)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the new checkpoint as", self.out.text(),
                                              "Checkpoints (*.pt)")
        if path:
            self.out.setText(path)

    # ----- the job ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        ds, loaded = self.ctl.dataset, self.ctl.loader.loaded
        if ds is None or loaded is None or not self.out.text().strip():
            self.status.setText("Open a folder, load a model and choose where to save.")
            return
        try:
            recipe = self.recipe()
        except EngineError as exc:
            self._on_failed(None, str(exc))
            return
        out, folder, lock, device = Path(self.out.text().strip()), ds.folder, self.ctl.loader.lock, self.ctl.loader.device_pref

        def job(cancel, report):
            import copy
            from dataclasses import replace

            with lock:   # a private copy: the app keeps predicting with the loaded model meanwhile
                private = replace(loaded, model=copy.deepcopy(loaded.model).cpu())
            return train_on_folder(folder, loaded.path, out, recipe, device=device, should_cancel=cancel,
                                   on_progress=lambda p: report(p.step, p.steps, p.text, p), loaded=private), out
        self.result_path = None
        self.curve.set_data((), (), 1)
        self.progress.setRange(0, 0)
        self.status.setText("Preparing…")
        self._running(True)
        self.lane.submit(("train", str(out)), job)

    def cancel(self) -> None:
        if self.lane.busy:
            self.lane.cancel()
            self._running(False)
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.status.setText("Cancelled: nothing was written.")

    def _on_progress(self, _key, p) -> None:
        self.progress.setRange(0, max(p.steps, 1))
        self.progress.setValue(p.step)
        self.curve.set_data(p.losses, p.mious, p.steps)
        self.status.setText(p.text)

    def _on_finished(self, _key, result) -> None:
        res, out = result
        self._running(False)
        self.result_path = out
        mious = res.mious
        gain = (f" Held-out mIoU {mious[0][1] * 100:.1f}% before, {mious[-1][1] * 100:.1f}% after."
                if len(mious) >= 2 else "")
        self.status.setText(f"Saved {out}.{gain}")
        if QMessageBox.question(self, "Training finished", f"Saved {out}.{gain}\n\nLoad the new model now?") \
                == QMessageBox.StandardButton.Yes:
            self.ctl.loader.load(out)

    def _on_failed(self, _key, message: str) -> None:
        self._running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText(f"⚠ {message}")

    def closeEvent(self, event) -> None:  # noqa: N802
        """Closing while training asks nothing: training goes on; Cancel stops it."""
        super().closeEvent(event)
