"""Image > Bands and scaling…: asks for the folder's band choice and scaling (gui/dialogs/image_scaling.py) and hands
it to the session (AnnotatorController.set_image_settings), which writes labels/project.json, reads the open image
again in the image lane and predicts it again. ``ask`` is replaceable (tests answer it without a dialog)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from engine.io.scaling import ImageScaling
from engine.io.tiff import is_tiff, tiff_bands
from gui.dialogs.image_scaling import ImageScalingDialog


def describe_file(path: Path | None) -> str:
    """'img.tif: 5 bands of float32' from the TIFF header (nothing is decoded), or ''."""
    if path is None or not is_tiff(path):
        return ""
    found = tiff_bands(path)
    if found is None:
        return ""
    bands, dtype = found
    return f"{path.name}: {bands} band{'s' if bands != 1 else ''} of {dtype}"


class ImageScalingMenu(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.action = QAction("&Bands and scaling…", window)
        self.action.setToolTip("Which bands of a 16-bit, float or multi-band image are shown and predicted, and how "
                               "their values become colours (stored for the folder)")
        self.action.triggered.connect(self.choose)
        self.ask = self._ask_dialog

    def _ask_dialog(self, current: ImageScaling, about: str) -> ImageScaling | None:
        dialog = ImageScalingDialog(self.window, current, about)
        return dialog.scaling if dialog.exec() else None

    def choose(self) -> bool:
        ctl = self.window.ctl
        if ctl.dataset is None:
            ctl.activity.emit("Open a folder first: the bands and scaling are stored per folder")
            return False
        st = ctl.state
        scaling = self.ask(ctl.dataset.image_settings, describe_file(st.path if st is not None else None))
        if scaling is None:
            return False
        return ctl.set_image_settings(scaling)
