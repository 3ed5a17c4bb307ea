"""Where an image stands in annotation: one value per image, derived from its data (engine.annotate.state) and
recorded for every image of a folder (engine.folder.dataset, which re-exports it).

Here, beside the open image's data and below the folder, so the open image does not depend on the folder.
"""
from __future__ import annotations

from enum import Enum

__all__ = ["Status"]


class Status(str, Enum):
    """Where an image stands. Only EDITED holds work that exists nowhere but in memory."""
    NEW = "new"              # no labels yet
    PREDICTED = "predicted"  # labels from model + CRF, reproducible, not saved
    EDITED = "edited"        # labels differ from the saved file / changed by the user: unsaved work
    SAVED = "saved"          # labels on disk match what is shown
    PRELABELLED = "pre-labelled"  # labels on disk written by a batch run (machine labels), not reviewed yet
    ERROR = "error"          # the image file cannot be read (ImageEntry.error says why)
