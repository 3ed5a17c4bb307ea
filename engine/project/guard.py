"""For headless writers (``main.py predict --out``, batch runs): may a model's labels go into this folder?

A folder that holds a class list (labels/project.json or class_names.txt) decides what its label values
mean. Writing a model's argmax there is only allowed when it means the same: the same classes in the same
order, or a folder list that extends the model's. Anything else is a ClassListMismatch that says how the
lists differ and what to do, unless the caller chose a map (``by``: "name" or "position", the CLI's
``--map-classes``), in which case the model's probabilities are mapped into the folder's ids.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..labels import ClassList
from .errors import ClassListMismatch, ProjectFileError
from .folder import CLASS_NAMES_FILE, PROJECT_FILE, FolderProject
from .reconcile import BY_NAME, BY_POSITION, ChannelMap, Match, reconcile, recover_class0


@dataclass(frozen=True)
class LabelsTarget:
    """What to write: the class list for the PNG palette and class_names.txt, and the map from model channels."""
    class_list: ClassList
    channel_map: ChannelMap
    note: str = ""          # what the map does (dropped classes), for the command's summary line


def is_labels_folder(folder: str | Path) -> bool:
    folder = Path(folder)
    return any(os.path.lexists(folder / name) for name in (PROJECT_FILE, CLASS_NAMES_FILE))


def labels_target(folder: str | Path, model: ClassList, by: str | None = None) -> LabelsTarget:
    """How labels of a model with classes ``model`` are written into ``folder``; ClassListMismatch or
    ProjectFileError (with what to do) when they cannot be written there as asked."""
    identity = ChannelMap(tuple(range(len(model))), len(model))
    if not is_labels_folder(folder):
        return LabelsTarget(model, identity)
    project = FolderProject.open(folder)
    if project.classes is None:
        raise ProjectFileError(f"cannot tell which classes {folder} holds: {' '.join(project.problems)}. "
                               "Fix or remove that file, or write elsewhere")
    classes = recover_class0(project.classes, model)     # labelme2voc's "_background_" is the model's class 0
    rec = reconcile(classes, model)
    folder_list = classes.class_list()
    hint = ("pass --map-classes name to write the folder's ids by class name, --map-classes position to keep "
            "the folder's ids as they are, or write into another folder")
    if rec.match == Match.SAME:
        return LabelsTarget(folder_list, identity)
    if rec.match == Match.COMPATIBLE and not rec.model_only:
        return LabelsTarget(folder_list, rec.channel_map(BY_NAME))
    if by not in (BY_NAME, BY_POSITION):
        raise ClassListMismatch(f"{folder} holds labels for other classes than the model's: {rec.summary()}. "
                                f"Writing the model's class ids there would mislabel them; {hint}")
    cmap = rec.channel_map(by)
    if cmap.mapped == 0:
        raise ClassListMismatch(f"{folder}: mapping by {by} gives the model none of the folder's classes "
                                f"({rec.summary()})")
    dropped = [model.names[c] for c in cmap.dropped]
    note = f"classes mapped by {by}" + (f"; the folder lacks {', '.join(dropped)} (not written)" if dropped else "")
    return LabelsTarget(folder_list, cmap, note)
