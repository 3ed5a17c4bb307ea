"""Drag and drop onto the window: a folder opens it, an image opens its folder at that image.

An event filter on the window and on the children that would otherwise take drops for themselves (the canvas
viewport, the image list); anything else dropped gets a message saying what is accepted.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject

from engine.io.images import is_image_file


def dropped_target(paths) -> tuple[Path, Path | None] | None:
    """(folder to open, image to show or None) for the first usable dropped path; None if none is usable."""
    for p in map(Path, paths):
        if p.is_dir():
            return p, None
        if is_image_file(p):
            return p.parent, p
    return None


def _local_paths(mime) -> list[str]:
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


class DropOpener(QObject):
    def __init__(self, window, *widgets):
        super().__init__(window)
        self.window = window
        for w in (window, *widgets):
            w.setAcceptDrops(True)
            w.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if _local_paths(event.mimeData()):   # unusable files are refused at the drop, with a message
                event.acceptProposedAction()
            else:
                event.ignore()
            return True
        if kind == QEvent.Type.Drop:
            paths = _local_paths(event.mimeData())
            target = dropped_target(paths)
            if target is None:
                names = ", ".join(Path(p).name for p in paths[:3]) or "that"
                self.window.show_error(f"Cannot open {names}: drop a folder of images or an image file")
                event.ignore()
                return True
            event.acceptProposedAction()
            self.window.open_folder(*target)
            return True
        return False
