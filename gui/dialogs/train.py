"""Model > Train on saved labels…: choose whole network or head only, start, watch (epoch, loss, a live loss curve,
held-out mIoU), cancel; at the end the new checkpoint can be loaded at once.

The work is engine.learn.finetune.train_on_folder in a background lane, on a copy of the loaded model (taken under
the controller's model lock), so predicting and correcting go on meanwhile. Cancel or a failure writes nothing.
"""
from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
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
from engine.learn.finetune import HOLDOUT_MIN, Recipe, held_out_count, train_on_folder
from engine.learn.saved import saved_count
from gui.dialogs.number_box import DecimalBox
from gui.session.lanes import Lane

MODELS_DIRNAME = ".models"   # labels/.models/: new checkpoints, out of the image list and of VOC tools' way


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and round steps (1, 2 or 5 x 10^k) up to ``top``: the loss axis' ticks."""
    if not top > 0:
        return [0.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return [i * step for i in range(int(top / step + 1e-9) + 1)]


class LossCurve(QWidget):
    """Every step's loss as a polyline against its step, on axes with ticks and labels (loss on the left, from 0
    to the largest loss seen; held-out mIoU in % on the right, as green dots at each epoch's end)."""
    MARGIN = (46, 10, 40, 38)   # left, top, right, bottom: room for the tick labels and axis names

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(360, 160)
        self.losses: tuple = ()
        self.mious: tuple = ()
        self.steps = 1
        self.epochs = 1

    def set_data(self, losses, mious, steps: int, epochs: int = 1) -> None:
        self.losses, self.mious, self.steps = tuple(losses), tuple(mious), max(int(steps), 1)
        self.epochs = max(int(epochs), 1)
        self.update()

    def top(self) -> float:
        """The loss axis' upper end: the largest finite loss seen, rounded up to a tick."""
        finite = [v for v in self.losses if v == v]
        top = max(finite) if finite and max(finite) > 0 else 1.0
        ticks = nice_ticks(top)
        return ticks[-1] if ticks[-1] >= top else ticks[-1] + (ticks[1] - ticks[0] if len(ticks) > 1 else top)

    def paintEvent(self, _event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.white)
        left, top_m, right, bottom = self.MARGIN
        x0, y0 = left, top_m
        w, h = self.width() - left - right, self.height() - top_m - bottom
        fm = p.fontMetrics()
        top = self.top()
        p.setPen(QPen(Qt.GlobalColor.black))
        p.drawLine(x0, y0 + h, x0 + w, y0 + h)          # x: steps
        p.drawLine(x0, y0, x0, y0 + h)                  # y: loss
        p.drawLine(x0 + w, y0, x0 + w, y0 + h)          # y right: mIoU
        for v in nice_ticks(top):                       # loss ticks
            y = round(y0 + h * (1 - v / top))
            p.drawLine(x0 - 4, y, x0, y)
            text = f"{v:g}"
            p.drawText(x0 - 6 - fm.horizontalAdvance(text), y + fm.ascent() // 2, text)
        for pct in (0, 50, 100):                        # mIoU ticks
            y = round(y0 + h * (1 - pct / 100))
            p.drawLine(x0 + w, y, x0 + w + 4, y)
            p.drawText(x0 + w + 6, y + fm.ascent() // 2, f"{pct}%")
        for v in nice_ticks(self.steps):                # step ticks
            x = round(x0 + w * v / self.steps)
            p.drawLine(x, y0 + h, x, y0 + h + 4)
            text = f"{v:g}"
            p.drawText(x - fm.horizontalAdvance(text) // 2, y0 + h + 4 + fm.ascent(), text)
        p.drawText(x0 + w // 2 - fm.horizontalAdvance("step") // 2,   # a line below the tick labels, not on them
                   min(y0 + h + 4 + fm.ascent() + fm.height(), self.height() - fm.descent()), "step")
        p.save()
        p.translate(fm.ascent(), y0 + h // 2 + fm.horizontalAdvance("loss") // 2)
        p.rotate(-90)
        p.setPen(QPen(Qt.GlobalColor.darkBlue))
        p.drawText(0, 0, "loss")
        p.restore()
        p.setPen(QPen(Qt.GlobalColor.darkGreen))
        p.drawText(x0 + w - fm.horizontalAdvance("held-out mIoU") - 4, y0 + fm.ascent(), "held-out mIoU")
        pts = [QPointF(x0 + w * (i + 1) / self.steps, y0 + h * (1 - min(v / top, 1.0)))
               for i, v in enumerate(self.losses) if v == v]
        if pts:
            p.setPen(QPen(Qt.GlobalColor.darkBlue, 1.5))
            p.drawPolyline(QPolygonF(pts))
        if self.mious:
            p.setPen(QPen(Qt.GlobalColor.darkGreen, 5))
            for e, m in self.mious:
                p.drawPoint(QPointF(x0 + w * e / self.epochs, y0 + h * (1 - m)))
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
        self.lr = DecimalBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(d.lr)
        self.out = QLineEdit()
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(self.browse)
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
        self.info.setText(f"{n} saved image{'s' * (n != 1)} in {ds.labels_dir} (unsaved edits are not used"
                          + (f"; {problem[0].lower()}{problem[1:-1]}" if problem else "") + "); "
                          f"base model: {loaded.spec.name or loaded.path.name} (SHA-256 {loaded.sha256[:12]}…). "
                          + self.holdout_note(n))
        if not self.out.text():   # beside the labels, never among the images
            self.out.setText(str(ds.labels_dir / MODELS_DIRNAME / f"{Path(loaded.path).stem}_finetuned.pt"))
        self.start_button.setEnabled(not self.lane.busy)

    def holdout_note(self, n: int) -> str:
        """What the held-out mIoU will be measured on, or why there is none."""
        held = held_out_count(n, Recipe().holdout)
        if held == 0:
            return (f"No held-out mIoU: with fewer than {HOLDOUT_MIN} saved images every one is used to train, so "
                    "none is kept aside to measure on; only the loss is shown.")
        return f"{held} of them {'is' if held == 1 else 'are'} held out to measure mIoU before and after."

    def recipe(self) -> Recipe:
        return Recipe(mode="head" if self.head.isChecked() else "all", epochs=self.epochs.value(),
                      batch_size=self.batch.value(), lr=self.lr.value())

    def _running(self, on: bool) -> None:
        self.start_button.setEnabled(not on)
        self.cancel_button.setEnabled(on)
        for w in (self.whole, self.head, self.epochs, self.batch, self.lr, self.out, self.browse):
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
        self.curve.set_data(p.losses, p.mious, p.steps, p.epochs)
        self.status.setText(p.text)

    def _on_finished(self, _key, result) -> None:
        res, out = result
        self._running(False)
        self.result_path = out
        mious = res.mious
        gain = (f" Held-out mIoU {mious[0][1] * 100:.1f}% before, {mious[-1][1] * 100:.1f}% after."
                if len(mious) >= 2 else " " + self.holdout_note(len(res.provenance["images"])
                                                                  + len(res.provenance["held_out"])))
        if res.folder_head is not None:
            gain += (" It keeps a head over the folder's classes, fitted to the saved labels"
                     + (f" (held-out mIoU {res.head_miou * 100:.1f}% with it)." if res.head_miou is not None
                        else "."))
        lost = f"\n\n⚠ {res.lost_text()[0].upper()}{res.lost_text()[1:]}." if res.lost else ""
        self.status.setText(f"Saved {out}.{gain}" + (" ⚠ It lost classes: see the question." if res.lost else ""))
        if QMessageBox.question(self, "Training finished", f"Saved {out}.{gain}{lost}\n\nLoad the new model now?") \
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
