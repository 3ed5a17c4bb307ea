"""Every QSettings key the app keeps, in one place and typed.

Preferences (what the user chose) and window state (geometry, dock layout) persist in QSettings, as labelme's
ADR 0001 keeps window state. Before this module the string keys were spread over seven modules; now a widget
reads ``window.prefs.opacity`` and writes ``window.prefs.opacity = 70``, and a mistyped key is an
AttributeError instead of a silent default. A value of the wrong type in the store (an old or hand-edited ini)
reads as the default.
"""
from __future__ import annotations

import json

from PySide6.QtCore import QSettings


RESUME_LIMIT = 100   # folders whose last image is remembered


class _Key:
    """One QSettings key with its default and type (bool, int, str, or None for raw Qt values)."""

    def __init__(self, name: str, default, kind=None):
        self.name, self.default, self.kind = name, default, kind

    def __get__(self, prefs, owner=None):
        if prefs is None:
            return self
        value = prefs.qsettings.value(self.name, self.default)
        if self.kind is None or value is None:
            return value
        try:
            if self.kind is bool and isinstance(value, str):   # ini files store booleans as text
                return value.strip().lower() in ("true", "1", "yes")
            return self.kind(value)
        except (TypeError, ValueError):
            return self.default

    def __set__(self, prefs, value) -> None:
        prefs.qsettings.setValue(self.name, value)


class _JsonKey(_Key):
    """A dict kept as one JSON string (QSettings' own maps differ between ini and native stores)."""

    def __get__(self, prefs, owner=None):
        if prefs is None:
            return self
        try:
            data = json.loads(prefs.qsettings.value(self.name, "") or "{}")
        except (TypeError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def __set__(self, prefs, value: dict) -> None:
        prefs.qsettings.setValue(self.name, json.dumps(value))


class Preferences:
    """Typed access to the window's QSettings (``qsettings``: the store, e.g. an ini file in tests)."""

    # File
    autosave = _Key("autosave", False, bool)
    last_folder = _Key("last_folder", "", str)
    last_model = _Key("last_model", "", str)
    resume = _JsonKey("resume", {})              # folder -> file name of the image last open in it
    sort_by_uncertainty = _Key("navigate/sort_by_uncertainty", False, bool)   # the list's order last chosen
    # Edit
    auto_refine = _Key("edit/auto_refine", True, bool)
    tool = _Key("edit/tool", "pan", str)
    superpixel_size = _Key("edit/superpixel_size", 0, int)   # 0: engine.annotate.superpixels.DEFAULT_SIZE
    # View and window
    opacity = _Key("view/opacity", 50, int)
    uncertainty_cmap = _Key("view/uncertainty_cmap", "auto", str)
    theme = _Key("view/theme", "system", str)
    geometry = _Key("geometry", None)           # QByteArray from saveGeometry
    window_state = _Key("window_state", None)   # QByteArray from saveState
    # Model, CRF engine, learning (CRF values are each folder's: labels/project.json, gui.session.classes)
    device = _Key("device", "auto", str)
    crf_backend = _Key("crf/backend", "", str)
    learn_adapt = _Key("learn/adapt", True, bool)
    learn_carry = _Key("learn/carry", True, bool)

    def __init__(self, qsettings: QSettings | None = None):
        self.qsettings = qsettings if qsettings is not None else QSettings()

    def storage_problem(self) -> str:
        """'' if the settings file can be read and written, else what the user should know (a walk put a folder
        where the file goes, and a file where its folder goes: every setting was silently forgotten)."""
        self.qsettings.sync()
        if self.qsettings.status() == QSettings.Status.AccessError:
            return (f"Your settings cannot be kept: {self.qsettings.fileName()} cannot be read or written. The app "
                    "runs with its defaults and forgets what you change when it closes.")
        return ""

    # Recent folders: a list; QSettings (ini) gives a lone entry back as a plain string
    @property
    def recent_folders(self) -> list[str]:
        value = self.qsettings.value("recent_folders", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    @recent_folders.setter
    def recent_folders(self, folders: list[str]) -> None:
        self.qsettings.setValue("recent_folders", list(folders))

    def remember_image(self, folder_key: str, image_name: str) -> None:
        """The image last open in a folder (most recent last; the oldest folders are forgotten)."""
        data = self.resume
        data.pop(folder_key, None)
        data[folder_key] = image_name
        while len(data) > RESUME_LIMIT:
            data.pop(next(iter(data)))
        self.resume = data
