"""This folder's CRF preset (what CRF > Tune on saved labels keeps): labels/crf_preset.json beside the labels.

One small reader/writer so the per-folder settings file (labels/project.json, being built elsewhere) can take it
over by changing only these two functions. The file holds the CRFParams fields plus how they were found."""
from __future__ import annotations

import json
from pathlib import Path

from ..crf.params import CRFParams
from ..dataset import LABELS_DIRNAME
from ..errors import EngineError
from ..io.atomic import write_text_atomic

PRESET_FILE = "crf_preset.json"


def preset_path(folder: str | Path) -> Path:
    return Path(folder) / LABELS_DIRNAME / PRESET_FILE


def save_folder_preset(folder: str | Path, params: CRFParams, about: dict | None = None) -> Path:
    """Write the folder's preset atomically; ``about`` (plain values, e.g. the mIoU it scored) is kept beside it.
    LabelIOError (from the atomic writer) when the folder is read-only or the disk is full."""
    path = preset_path(folder)
    data = {**params.to_dict(), **({"about": about} if about else {})}
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    return path


def load_folder_preset(folder: str | Path) -> CRFParams | None:
    """The folder's preset, or None when there is none or it cannot be read (a broken file never stops the app)."""
    path = preset_path(folder)
    if not path.is_file():
        return None
    try:
        return CRFParams.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, EngineError):
        return None
