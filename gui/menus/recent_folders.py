"""File > Open Recent: the last folders opened, most recent first, kept in QSettings ('recent_folders').

A folder that no longer exists stays listed but disabled (a USB disk may come back); Clear empties the list.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu

MAX_RECENT = 10


def updated(recent: list[str], folder: str, limit: int = MAX_RECENT) -> list[str]:
    """``folder`` moved to the front of ``recent`` (once), cut to ``limit`` entries."""
    return ([folder] + [f for f in recent if f != folder])[:limit]


class RecentFolders(QObject):
    def __init__(self, window):
        """The File > Open Recent submenu (``menu``, placed by gui.menus.menubar); records every folder the window
        opens."""
        super().__init__(window)
        self.window, self.prefs = window, window.prefs
        self.menu = QMenu("Open &Recent", window)
        self.menu.aboutToShow.connect(self.rebuild)
        window.ctl.folder_opened.connect(self._on_folder_opened)
        self.rebuild()

    def folders(self) -> list[str]:
        return self.prefs.recent_folders

    def add(self, folder) -> None:
        self.prefs.recent_folders = updated(self.folders(), str(Path(folder).resolve()))
        self.rebuild()

    def clear(self) -> None:
        self.prefs.recent_folders = []
        self.rebuild()

    def rebuild(self) -> None:
        self.menu.clear()
        folders = self.folders()
        for i, folder in enumerate(folders):
            path = Path(folder)
            label = f"&{i + 1 if i < 9 else 0}  {path.name or folder}  —  {path.parent}"
            act = self.menu.addAction(label + ("" if path.is_dir() else "  (missing)"))
            act.setToolTip(folder)
            act.setData(folder)
            act.setEnabled(path.is_dir())
            act.triggered.connect(lambda _=False, f=folder: self.window.open_folder(Path(f)))
        if not folders:
            self.menu.addAction("No recent folders").setEnabled(False)
        self.menu.addSeparator()
        clear = self.menu.addAction("&Clear list")
        clear.setEnabled(bool(folders))
        clear.triggered.connect(self.clear)

    def _on_folder_opened(self) -> None:
        ds = self.window.ctl.dataset
        if ds is not None:
            self.add(ds.folder)
