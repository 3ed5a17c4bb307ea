"""A labels folder's own class list and settings (labels/project.json), and how a model's classes map onto it.

- classes.py:   FolderClasses, the class list with stable ids (add, rename, recolour, reorder, hide, delete)
- schema.py:    project.json, versioned and strictly validated
- folder.py:    FolderProject: read on open (project.json, else class_names.txt), atomic writes
- reconcile.py: folder list vs model list -> Match, the user's Decision, ChannelMap for the probabilities
- values.py:    label values that are not classes: found, shown, resolved
- guard.py:     for headless writers: may a model's labels go into this folder, and how
Qt-free; the window binds it in gui/session/classes.py and gui/panels/class_editor.py.
"""
from .classes import FolderClasses, ProjectClass, match_key
from .errors import ClassEditError, ClassListMismatch, ProjectFileError, UnknownLabelValues
from .folder import CLASS_NAMES_FILE, PROJECT_FILE, FolderProject, parse_class_names
from .guard import LabelsTarget, is_labels_folder, labels_target
from .reconcile import (BY_NAME, BY_POSITION, ChannelMap, Decision, MappedPredictor, Match, Reconciliation, decide,
                        reconcile)
from .schema import CRFSettings, ModelSettings, Project, parse_project, project_json
from .values import check_known, unknown_mask, unknown_values, void_unknown

__all__ = ["FolderClasses", "ProjectClass", "match_key", "ClassEditError", "ClassListMismatch", "ProjectFileError",
           "UnknownLabelValues", "CLASS_NAMES_FILE", "PROJECT_FILE", "FolderProject", "parse_class_names",
           "LabelsTarget", "is_labels_folder", "labels_target", "BY_NAME", "BY_POSITION", "ChannelMap", "Decision",
           "MappedPredictor", "Match", "Reconciliation", "decide", "reconcile", "CRFSettings", "ModelSettings",
           "Project", "parse_project", "project_json", "check_known", "unknown_mask", "unknown_values",
           "void_unknown"]
