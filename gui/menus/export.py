"""File > Export: the folder's saved labels as one COCO JSON (RLE masks, loadable by pycocotools), as labelme
JSON files (one per image, exact under labelme's rasteriser, with labels.txt) or as a VOC segmentation dataset
(seeded train/val split). The formats are engine.io (dataset_export); this menu picks the destination and
runs the export in the background, so a large folder does not freeze the window.
Only saved labels are exported: unsaved edits of the open image are not (the user is told).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from engine.errors import LabelIOError
from engine.io.dataset_export import EXPORTERS
from gui.dialogs import prompts
from gui.session.lanes import Lane

VOC_VAL_FRACTION, VOC_SEED = 0.2, 0


class ExportMenu(QMenu):
    finished = Signal(str)    # what was written, for tests and the status bar

    def __init__(self, window):
        super().__init__("&Export", window)
        self.window = window
        self.coco_action = QAction("&COCO JSON (RLE masks) of all saved labels…", self)
        self.coco_action.triggered.connect(lambda: self.export("coco"))
        self.labelme_action = QAction("&labelme JSON, one per saved image…", self)
        self.labelme_action.triggered.connect(lambda: self.export("labelme"))
        self.voc_action = QAction(f"&VOC dataset (train/val {100 - 100 * VOC_VAL_FRACTION:.0f}/"
                                  f"{100 * VOC_VAL_FRACTION:.0f}, seed {VOC_SEED})…", self)
        self.voc_action.triggered.connect(lambda: self.export("voc"))
        for action in (self.coco_action, self.labelme_action, self.voc_action):
            self.addAction(action)
        self.lane = Lane("export", self)
        self.lane.finished.connect(self._on_done)
        self.lane.failed.connect(lambda _k, msg: self.window.show_error(f"Export failed: {msg}"))

    def export(self, kind: str, target: str | Path | None = None) -> bool:
        """Ask where (unless ``target`` is given), then export in the background. False if not started."""
        ctl, w = self.window.ctl, self.window
        if ctl.dataset is None or ctl.classes.class_list is None:
            w.show_error("Open a folder and load a model (or a class list) before exporting.")
            return False
        folder = ctl.dataset.folder
        if target is None:
            if kind == "coco":
                target = prompts.ask_save_path(w, "Export COCO JSON", str(folder / "coco.json"), "JSON (*.json)")
            elif kind == "labelme":
                target = prompts.ask_folder(w, "Export labelme JSON into", str(folder))
            else:
                target = prompts.ask_folder(w, "Export a VOC dataset into", str(folder / "voc"))
            if not target:
                return False
        target, dataset, class_list = Path(target), ctl.dataset, ctl.classes.class_list
        fn = EXPORTERS[kind]

        def job(cancel, report):
            try:
                return fn(dataset, class_list, target, val_fraction=VOC_VAL_FRACTION, seed=VOC_SEED)
            except ValueError as exc:   # labels that do not fit the class list, names labelme cannot hold
                raise LabelIOError(str(exc)) from exc
        self.lane.submit((kind, str(target)), job)
        w.status.set_activity(f"Exporting {kind} to {target}…")
        return True

    def _on_done(self, key, summary: str) -> None:
        kind, target = key
        note = ""
        st = self.window.ctl.state
        if st is not None and st.dirty:
            note = f" ({st.path.name} has unsaved edits, not included: save and export again)"
        text = f"Exported {summary} as {kind} to {target}{note}"
        self.window.status.set_activity(text)
        self.finished.emit(text)
