"""This folder's CRF values (what CRF > Tune on saved labels keeps): the `crf` entry of labels/project.json.

One place for the fact: the folder's settings file (engine.project) already records the CRF values its labels are
made with and offers them to whoever opens the folder, so keeping tuned values means recording them there. The
window passes its open FolderProject (so its in-memory copy stays the one that writes); the CLI opens the folder's.
"""
from __future__ import annotations

from pathlib import Path

from engine.folder.dataset import LABELS_DIRNAME

from ..crf.params import CRFParams
from ..errors import LabelIOError
from ..project import CRFSettings, FolderClasses, FolderProject
from ..project.folder import PROJECT_FILE


def preset_path(folder: str | Path) -> Path:
    return Path(folder) / LABELS_DIRNAME / PROJECT_FILE


def _project(folder, project: FolderProject | None) -> FolderProject:
    return project if project is not None else FolderProject.open(Path(folder) / LABELS_DIRNAME)


def save_folder_preset(folder: str | Path, params: CRFParams, backend: str = "fast",
                       project: FolderProject | None = None) -> Path:
    """Record ``params`` as the folder's CRF values in labels/project.json (atomic). LabelIOError when the folder
    has no class list yet (nothing saved there), is read-only or the disk is full."""
    project = _project(folder, project)
    if project.classes is None:
        raise LabelIOError(f"{preset_path(folder)}: this folder has no class list yet; save a label image first")
    project.set_crf(CRFSettings(params, backend))
    project.write()
    return project.project_path


def keep_project(folder: str | Path, loaded) -> FolderProject:
    """The folder's settings, ready to keep CRF values: a folder whose labels came with no class list (another
    tool's, in the model's ids: the search checked their values against the model) takes the model's classes, as
    the window does when it opens such a folder."""
    project = _project(folder, None)
    if project.classes is None:
        project.set_classes(FolderClasses.from_class_list(loaded.spec.class_list()))
    return project


def load_folder_preset(folder: str | Path, project: FolderProject | None = None) -> CRFParams | None:
    """The folder's recorded CRF values, or None when there are none (a damaged file is reported by
    engine.project when the folder opens, and never stops the app)."""
    crf = _project(folder, project).project.crf
    return None if crf is None else crf.params
