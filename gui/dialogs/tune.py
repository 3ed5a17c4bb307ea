"""CRF > Tune on saved labels…: search the CRF values that best match this folder's saved labels (in a background
lane, cancellable), show them and their mIoU beside the current settings', and offer to keep them as this folder's
CRF values (the `crf` entry of labels/project.json, taken again whenever the folder is opened). A search belongs to
the folder it ran on: opening another folder stops it and forgets its result."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from engine.crf.fast import FastBackend
from engine.crf.params import FIELD_LABELS
from engine.errors import LabelIOError
from engine.learn.crf_search import tune_on_folder
from engine.learn.folder_preset import save_folder_preset
from engine.learn.saved import saved_count
from gui.session.lanes import Lane

MAX_IMAGES = 20
ROWS = ("pos_w", "pos_xy_std", "bi_w", "bi_xy_std", "bi_rgb_std", "iterations")


class _LockedPredictor:
    """The controller's predictor, each prediction under its model lock (a device move must not overlap it)."""

    def __init__(self, predictor, lock):
        self.predictor, self.lock, self.n_classes = predictor, lock, predictor.n_classes

    def predict(self, image, should_cancel=None):
        with self.lock:
            return self.predictor.predict(image, should_cancel=should_cancel)


class TuneDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.window, self.ctl = window, window.ctl
        self.setWindowTitle("Tune the CRF on saved labels")
        self.lane = Lane("tune-crf", self)
        self.ctl.lanes["tune-crf"] = self.lane   # so closing the window stops it (AnnotatorController.shutdown)
        self.lane.progress.connect(self._on_progress)
        self.lane.finished.connect(self._on_finished)
        self.lane.failed.connect(self._on_failed)
        self.ctl.folder_opened.connect(self._on_folder_opened)
        self.result = None
        self.searched = None   # the folder the running search or its result belongs to
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.table = QTableWidget(len(ROWS) + 1, 2)
        self.table.setHorizontalHeaderLabels(["Current", "Found"])
        self.table.setVerticalHeaderLabels([FIELD_LABELS[r] for r in ROWS] + ["mIoU (saved labels)"])
        for row, name in enumerate(ROWS):   # the CRF panel's names; the raw field name for who scripts it
            self.table.verticalHeaderItem(row).setToolTip(name)
        self.table.resizeRowsToContents()
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setMinimumSize(360, rows + self.table.horizontalHeader().height() + 6)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Search", QDialogButtonBox.ButtonRole.ActionRole)
        self.keep_button = self.buttons.addButton("Keep as this folder's preset",
                                                  QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel search", QDialogButtonBox.ButtonRole.RejectRole)
        close = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.start_button.clicked.connect(self.start)
        self.keep_button.clicked.connect(self.keep)
        self.cancel_button.clicked.connect(self.cancel)
        close.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.info)
        layout.addWidget(self.table)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self._running(False)
        self.keep_button.setEnabled(False)

    def refresh(self) -> None:
        ds = self.ctl.dataset
        self._show(self.ctl.crf.params, None, 0)
        n, problem = saved_count(self.ctl.dataset, self.ctl.loader.loaded)
        if n is None or self.ctl.classes.predictor is None:
            self.info.setText(problem or "The model is still loading.")
            self.start_button.setEnabled(False)
            return
        which = f"the {n} saved image{'s' * (n != 1)}" if n <= MAX_IMAGES else f"{MAX_IMAGES} of the {n} saved images"
        self.info.setText(f"Searches the bilateral kernel (weight and widths) on {which} of {ds.folder.name}, "
                          f"scored by mIoU against their labels (a coarse grid, then a fine one around the best)."
                          + (f" {problem}" if problem else ""))
        self.start_button.setEnabled(not self.lane.busy)

    def _show(self, current, found, column: int) -> None:
        for col, params in ((0, current), (1, found)):
            if params is None:
                continue
            for row, name in enumerate(ROWS):
                self.table.setItem(row, col, QTableWidgetItem(f"{getattr(params, name):g}"))

    def _running(self, on: bool) -> None:
        self.start_button.setEnabled(not on)
        self.cancel_button.setEnabled(on)

    def start(self) -> None:
        ds, pred = self.ctl.dataset, self.ctl.classes.predictor
        if ds is None or pred is None:
            return
        folder, baseline = ds.folder, self.ctl.crf.params
        predictor = _LockedPredictor(pred, self.ctl.loader.lock)
        device = self.ctl.loader.device_pref

        def job(cancel, report):
            return tune_on_folder(folder, predictor, baseline, backend=FastBackend(device=device, previews=None),
                                  max_images=MAX_IMAGES, should_cancel=cancel, on_progress=report)
        self.result, self.searched = None, folder
        self.keep_button.setEnabled(False)
        self.table.setItem(len(ROWS), 0, QTableWidgetItem(""))
        self.table.setItem(len(ROWS), 1, QTableWidgetItem(""))
        self._running(True)
        self.progress.setRange(0, 0)
        self.status.setText("Searching…")
        self.lane.submit(("tune", str(folder), baseline), job)

    def _on_folder_opened(self) -> None:
        """Values searched on one folder are never recorded for another: the search stops, its result goes."""
        ds = self.ctl.dataset
        if self.searched is None or (ds is not None and ds.folder == self.searched):
            return
        self.lane.cancel()
        self._running(False)
        self.result, self.searched = None, None
        self.keep_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        for col in (0, 1):
            self.table.setItem(len(ROWS), col, QTableWidgetItem(""))
        for row in range(len(ROWS)):
            self.table.setItem(row, 1, QTableWidgetItem(""))
        self.refresh()
        self.status.setText("Another folder was opened: search again to tune on its saved labels.")

    def cancel(self) -> None:
        if self.lane.busy:
            self.lane.cancel()
            self._running(False)
            self.progress.setRange(0, 1)
            self.status.setText("Cancelled.")

    def _on_progress(self, _key, done: int, total: int, text: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        self.status.setText(text)

    def _on_finished(self, _key, result) -> None:
        self.result = result
        self._running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self._show(result.baseline, result.best, 1)
        self.table.setItem(len(ROWS), 0, QTableWidgetItem(f"{result.baseline_miou * 100:.2f}%"))
        self.table.setItem(len(ROWS), 1, QTableWidgetItem(f"{result.best_miou * 100:.2f}%"))
        better = result.best_miou > result.baseline_miou
        self.keep_button.setEnabled(better)
        self.status.setText(result.summary() if better else
                            f"The current values are already the best found ({result.evaluated} settings tried).")

    def _on_failed(self, _key, message: str) -> None:
        self._running(False)
        self.progress.setRange(0, 1)
        self.status.setText(f"⚠ {message}")

    def keep(self) -> None:
        """Record the values as the folder's CRF values (labels/project.json) and switch the CRF panel to them."""
        res, ds = self.result, self.ctl.dataset
        if res is None or ds is None or ds.folder != self.searched:
            return
        try:
            path = save_folder_preset(ds.folder, res.best, self.ctl.crf.backend_name, project=ds.project)
        except LabelIOError as exc:
            self.status.setText(f"⚠ {exc}")
            return
        self.ctl.classes.crf_from_folder = True   # the model's own preset must not replace them
        self.window.crf_panel.use_folder_preset(res.best)
        self.keep_button.setEnabled(False)
        self.status.setText(f"Kept as this folder's preset ({path}); the CRF panel uses it now.")
