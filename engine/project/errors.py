"""Errors of the folder project (class list and settings); each says which file and what to do."""
from __future__ import annotations

from ..errors import EngineError, LabelIOError


class ProjectFileError(LabelIOError):
    """labels/project.json or labels/class_names.txt cannot be read or is not valid."""


class ClassEditError(EngineError):
    """A class edit that would break the folder's labels (duplicate name, deleting a used class, ...)."""


class ClassListMismatch(EngineError):
    """Labels would be written into a folder whose class list names other classes (or the same in another order)."""


class UnknownLabelValues(EngineError):
    """A label map holds values that are not classes of the folder (nor void): saving them needs a decision."""

    def __init__(self, message: str, values: tuple[int, ...] = (), pixels: int = 0):
        super().__init__(message)
        self.values, self.pixels = tuple(values), int(pixels)
