"""File > Export: the folder's saved labels as COCO JSON (RLE masks, pycocotools), labelme JSON (one per image, exact
under labelme's rasteriser, opens in X-AnyLabeling too, with labels.txt), a VOC segmentation dataset (seeded
train/val split, labelmap.txt for datumaro and CVAT), CVAT "Segmentation mask 1.1" (a ZIP) or a YOLO-seg dataset
(Ultralytics). The formats are engine.io (dataset_export); this menu picks the destination, asks before writing into
an existing file or a folder that is not empty, and runs the export in the background with its progress in the
status bar, so a large folder does not freeze the window.
Only saved labels are exported: unsaved edits of the open image are not (the user is told). Pre-labelled files nobody
reviewed are exported too unless *Only labels a person saved* is ticked, and the summary counts them.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from engine.errors import LabelIOError, check_cancel
from engine.io.dataset_export import EXPORTERS, target_conflict, unreviewed_note
from gui.dialogs import prompts
from gui.session.lanes import Lane

VOC_VAL_FRACTION, VOC_SEED = 0.2, 0
_SPLIT = f"train/val {100 - 100 * VOC_VAL_FRACTION:.0f}/{100 * VOC_VAL_FRACTION:.0f}, seed {VOC_SEED}"
# kind -> (menu text, dialog title, default name in the folder or "" for the folder itself, file filter or None)
KINDS = {
    "coco": ("&COCO JSON (RLE masks) of all saved labels…", "Export COCO JSON", "coco.json", "JSON (*.json)"),
    "labelme": ("&labelme JSON, one per saved image (labelme, X-AnyLabeling)…", "Export labelme JSON into", "", None),
    "voc": (f"&VOC dataset ({_SPLIT})…", "Export a VOC dataset into", "voc", None),
    "cvat-mask": ("CVAT &Segmentation mask 1.1 (ZIP)…", "Export CVAT masks", "cvat_masks.zip", "ZIP (*.zip)"),
    "yolo-seg": (f"&YOLO-seg dataset, Ultralytics ({_SPLIT})…", "Export a YOLO-seg dataset into", "yolo", None),
}


class ExportMenu(QMenu):
    finished = Signal(str)    # what was written, for tests and the status bar

    def __init__(self, window):
        super().__init__("&Export", window)
        self.window = window
        self.actions_by_kind: dict[str, QAction] = {}
        for kind, (text, *_rest) in KINDS.items():
            action = QAction(text, self)
            action.triggered.connect(lambda _=False, k=kind: self.export(k))
            self.addAction(action)
            self.actions_by_kind[kind] = action
        self.addSeparator()
        self.reviewed_action = QAction("Only labels a person &saved (leave out pre-labelled ones)", self,
                                       checkable=True)
        self.reviewed_action.setToolTip("Pre-labelled images nobody reviewed are not exported (File > Pre-label "
                                        "folder writes them; saving one in the window makes it a person's)")
        self.addAction(self.reviewed_action)
        self.coco_action, self.labelme_action = self.actions_by_kind["coco"], self.actions_by_kind["labelme"]
        self.voc_action = self.actions_by_kind["voc"]
        self.lane = Lane("export", self)
        self.lane.finished.connect(self._on_done)
        self.lane.progress.connect(lambda key, done, total, _t: self.window.status.set_activity(
            f"Exporting {key[0]} to {key[1]}: {done}/{total} images…"))
        self.lane.failed.connect(lambda _k, msg: self.window.show_error(f"Export failed: {msg}"))

    def _ask_target(self, kind: str, folder: Path) -> str | None:
        _text, title, default, filters = KINDS[kind]
        if filters:
            return prompts.ask_save_path(self.window, title, str(folder / default), filters)
        return prompts.ask_folder(self.window, title, str(folder / default) if default else str(folder))

    def export(self, kind: str, target: str | Path | None = None) -> bool:
        """Ask where (unless ``target`` is given), then export in the background. False if not started."""
        ctl, w = self.window.ctl, self.window
        if ctl.dataset is None or ctl.classes.class_list is None:
            w.show_error("Open a folder and load a model (or a class list) before exporting.")
            return False
        if target is None:
            target = self._ask_target(kind, ctl.dataset.folder)
            if not target:
                return False
        target = Path(target)
        wrong, existing = target_conflict(kind, target)
        if wrong:
            w.show_error(f"Export: {wrong}; pick another place.")
            return False
        if existing and not prompts.ask_overwrite(
                w, "Export", f"{existing}. Export into it anyway? Files of the same names are replaced."):
            return False
        dataset, class_list, fn = ctl.dataset, ctl.classes.class_list, EXPORTERS[kind]
        reviewed = self.reviewed_action.isChecked()

        def job(cancel, report):
            def progress(done, total):
                check_cancel(cancel)
                report(done, total, "")
            machine = dataset.machine_labelled()   # (a walk exported 1,992 unreviewed ones among 8, untold)
            try:
                summary = fn(dataset.reviewed() if reviewed else dataset, class_list, target,
                             val_fraction=VOC_VAL_FRACTION, seed=VOC_SEED, progress=progress)
            except ValueError as exc:   # labels that do not fit the class list, names a format cannot hold
                raise LabelIOError(str(exc)) from exc
            return summary + unreviewed_note(machine, reviewed, "Export > Only labels a person saved")
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
