"""Project state in the window frame: the title names the image, folder and model and carries Qt's modified
marker (*) while the open image holds unsaved work; reopening a folder resumes at the image last open there, in the
order last chosen (by name or by uncertainty).

The last image per folder lives in the user's preferences (gui.window.preferences: 'resume', folder -> image file
name, the most recent RESUME_LIMIT folders), so it follows the user, not the folder (a teammate opening it starts
where they left off).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject

from engine.folder.dataset import Status

APP_TITLE = "DeepLab Annotator"


def window_title(image: str = "", folder: str = "", model: str = "") -> str:
    """'belt_01.png[*] — samples — Demo v1 — DeepLab Annotator' ([*] is where Qt draws the modified marker)."""
    parts = [f"{image}[*]" if image else "", folder, model, APP_TITLE if image else f"{APP_TITLE}[*]"]
    return " — ".join(p for p in parts if p)


class ProjectState(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window, ctl = window, window.ctl
        ctl.folder_opened.connect(self.update_title)
        ctl.image_opened.connect(self._on_image_opened)
        ctl.model_changed.connect(self.update_title)
        ctl.status_changed.connect(self._on_status)
        ctl.ordering.by_uncertainty = window.prefs.sort_by_uncertainty   # the list's order follows the user too
        ctl.ordering.order_changed.connect(
            lambda: setattr(window.prefs, "sort_by_uncertainty", ctl.ordering.by_uncertainty))
        self.update_title()

    # ----- title and modified marker --------------------------------------------------------------
    def update_title(self) -> None:
        ctl = self.window.ctl
        ds, loaded = ctl.dataset, ctl.loader.loaded
        image = ds[ctl.index].path.name if ds is not None and 0 <= ctl.index < len(ds) else ""
        model = (loaded.spec.name or Path(loaded.path).name) if loaded is not None else ""
        self.window.setWindowTitle(window_title(image, ds.folder.name if ds is not None else "", model))
        self.window.setWindowModified(bool(ctl.state is not None and ctl.state.dirty))

    def _on_status(self, index: int, status: str) -> None:
        if index == self.window.ctl.index:
            self.window.setWindowModified(status == Status.EDITED.value)

    def _on_image_opened(self) -> None:
        self.update_title()
        ctl = self.window.ctl
        if ctl.state is not None and ctl.dataset is not None:
            self.remember(ctl.dataset.folder, ctl.state.path.name)

    # ----- resume ------------------------------------------------------------------------------
    def remember(self, folder, image_name: str) -> None:
        self.window.prefs.remember_image(str(Path(folder).resolve()), image_name)

    def last_image(self, folder) -> str | None:
        """File name of the image last open in ``folder``, or None."""
        name = self.window.prefs.resume.get(str(Path(folder).resolve()))
        return name if isinstance(name, str) and name else None
