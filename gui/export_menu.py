"""File > Export: the folder's saved labels as one COCO JSON (RLE masks, loadable by pycocotools) or
as labelme JSON files (one per image). The formats are engine.io.exports; this menu picks the
destination and runs the export in the background, so a large folder does not freeze the window.
Only saved labels are exported: unsaved edits of the open image are not (the user is told).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from engine.errors import LabelIOError
from engine.io.exports import CocoImage, write_coco, write_labelme
from engine.io.labels import read_label_png
from gui import prompts
from gui.workers import Lane


def _saved(dataset):
    """(entry, labels) of every image with a label file, in folder order."""
    for entry in dataset.entries:
        if entry.label_path.is_file():
            yield entry, read_label_png(entry.label_path)


def export_coco(dataset, class_list, path: Path) -> int:
    """Write the COCO file; returns how many images it holds."""
    images = [CocoImage(entry.path.name, labels) for entry, labels in _saved(dataset)]
    write_coco(path, images, class_list)
    return len(images)


def export_labelme(dataset, class_list, folder: Path) -> int:
    """Write <label name>.json per saved image into ``folder``; returns how many."""
    n = 0
    for entry, labels in _saved(dataset):
        write_labelme(folder / f"{entry.label_path.stem}.json", labels, class_list, entry.path)
        n += 1
    return n


class ExportMenu(QMenu):
    finished = Signal(str)    # what was written, for tests and the status bar

    def __init__(self, window):
        super().__init__("&Export", window)
        self.window = window
        self.coco_action = QAction("&COCO JSON (RLE masks) of all saved labels…", self)
        self.coco_action.triggered.connect(lambda: self.export("coco"))
        self.labelme_action = QAction("&labelme JSON, one per saved image…", self)
        self.labelme_action.triggered.connect(lambda: self.export("labelme"))
        self.addAction(self.coco_action)
        self.addAction(self.labelme_action)
        self.lane = Lane("export", self)
        self.lane.finished.connect(self._on_done)
        self.lane.failed.connect(lambda _k, msg: self.window.show_error(f"Export failed: {msg}"))

    def export(self, kind: str, target: str | Path | None = None) -> bool:
        """Ask where (unless ``target`` is given), then export in the background. False if not started."""
        ctl, w = self.window.ctl, self.window
        if ctl.dataset is None or ctl.class_list is None:
            w.show_error("Open a folder and load a model (or a class list) before exporting.")
            return False
        folder = ctl.dataset.folder
        if target is None:
            if kind == "coco":
                target = prompts.ask_save_path(w, "Export COCO JSON", str(folder / "coco.json"), "JSON (*.json)")
            else:
                target = prompts.ask_folder(w, "Export labelme JSON into", str(folder))
            if not target:
                return False
        target, dataset, class_list = Path(target), ctl.dataset, ctl.class_list
        fn = export_coco if kind == "coco" else export_labelme

        def job(cancel, report):
            try:
                return fn(dataset, class_list, target)
            except ValueError as exc:   # labels that do not fit the class list
                raise LabelIOError(str(exc)) from exc
        self.lane.submit((kind, str(target)), job)
        w.status.set_activity(f"Exporting {kind} to {target}…")
        return True

    def _on_done(self, key, count: int) -> None:
        kind, target = key
        note = ""
        st = self.window.ctl.state
        if st is not None and st.dirty:
            note = f" ({st.path.name} has unsaved edits, not included: save and export again)"
        text = f"Exported {count} image{'s' if count != 1 else ''} as {kind} to {target}{note}"
        self.window.status.set_activity(text)
        self.finished.emit(text)
