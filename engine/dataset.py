"""A folder of images and its labels folder: which images exist, what is saved, what is not.

Labels live in ``<folder>/labels/<stem>.png`` (VOC indexed PNG) with ``class_names.txt`` beside
them, so the folder stays usable by VOC tooling without this app.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from engine.errors import LabelIOError
from engine.io.images import is_image_file
from engine.io.labels import encode_class_names, encode_label_png, read_label_png
from engine.io.provenance import encode_provenance, sidecar_path
from engine.io.transaction import SaveTransaction
from engine.labels import ClassList

LABELS_DIRNAME = "labels"
CLASS_NAMES_FILE = "class_names.txt"


class Status(str, Enum):
    """Where an image stands. Only EDITED holds work that exists nowhere but in memory."""
    NEW = "new"              # no labels yet
    PREDICTED = "predicted"  # labels from model + CRF, reproducible, not saved
    EDITED = "edited"        # labels differ from the saved file / changed by the user: unsaved work
    SAVED = "saved"          # labels on disk match what is shown


@dataclass
class ImageEntry:
    path: Path
    label_path: Path
    status: Status = Status.NEW


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (not recursive), in natural order (2 before 10)."""
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: _natural_key(p.name))


class Dataset:
    """The images of one folder with their label files and per-image status."""

    def __init__(self, folder: str | Path, labels_dirname: str = LABELS_DIRNAME):
        folder = Path(folder)
        if not folder.is_dir():
            raise LabelIOError(f"{folder}: not a folder of images")
        self.folder = folder
        self.labels_dir = folder / labels_dirname
        paths = list_images(folder)
        stems: dict[str, int] = {}
        for p in paths:
            stems[p.stem] = stems.get(p.stem, 0) + 1
        self.entries: list[ImageEntry] = []
        for p in paths:
            # Two images with one stem (a.jpg, a.png) must not share a label file.
            name = p.stem if stems[p.stem] == 1 else p.name
            lp = self.labels_dir / f"{name}.png"
            self.entries.append(ImageEntry(p, lp, Status.SAVED if lp.is_file() else Status.NEW))

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> ImageEntry:
        return self.entries[i]

    def index_of(self, path: str | Path) -> int:
        path = Path(path)
        for i, e in enumerate(self.entries):
            if e.path == path or e.path.name == path.name:
                return i
        raise KeyError(f"{path} is not an image of {self.folder}")

    def status(self, i: int) -> Status:
        return self.entries[i].status

    def set_status(self, i: int, status: Status) -> None:
        self.entries[i].status = Status(status)

    def progress_text(self, i: int) -> str:
        """'image 5/100' for a 0-based index."""
        return f"image {i + 1}/{len(self)}" if len(self) else "no images"

    def step(self, i: int, delta: int) -> int:
        """Index delta steps away from i, clamped to the list."""
        if not self.entries:
            return -1
        return min(max(i + delta, 0), len(self) - 1)

    def next_unsaved(self, i: int, order: list[int] | None = None) -> int | None:
        """First image after i (wrapping around) whose labels are not saved; None if all are.

        ``order`` is the display order (e.g. sorted by uncertainty) as a list of indices; default: folder order.
        """
        order = list(range(len(self))) if order is None else order
        n = len(order)
        start = order.index(i) if i in order else -1
        for k in range(1, n + 1):
            j = order[(start + k) % n]
            if self.entries[j].status != Status.SAVED:
                return j
        return None

    def image_id(self, i: int) -> str:
        """A stable name for image i within this folder (its file name), used by the recovery journal."""
        return self.entries[i].path.name

    def index_of_id(self, image_id: str) -> int | None:
        for i, e in enumerate(self.entries):
            if e.path.name == image_id:
                return i
        return None

    def unsaved(self) -> list[int]:
        """Indices holding unsaved hand work (status EDITED)."""
        return [i for i, e in enumerate(self.entries) if e.status == Status.EDITED]

    def load_labels(self, i: int) -> np.ndarray | None:
        """The saved label map of image i, or None if it has none."""
        lp = self.entries[i].label_path
        return read_label_png(lp) if lp.is_file() else None

    def save(self, i: int, labels: np.ndarray, class_list: ClassList, provenance=None) -> Path:
        """Write image i's labels, class_names.txt and, if given, the engine.io.provenance record as a sidecar
        (else an old sidecar is removed), all or nothing (engine.io.transaction); mark it saved. Returns the label
        path. LabelIOError (status unchanged, the previous files intact) on disk problems."""
        entry = self.entries[i]
        try:
            self.labels_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LabelIOError(f"{self.labels_dir}: cannot create the labels folder ({e.strerror})") from e
        txn = SaveTransaction(self.labels_dir)
        txn.stage(entry.label_path, encode_label_png(labels, class_list))
        txn.stage(self.labels_dir / CLASS_NAMES_FILE, encode_class_names(class_list))
        if provenance is not None:
            txn.stage(sidecar_path(entry.label_path), encode_provenance(provenance))
        else:
            txn.remove(sidecar_path(entry.label_path))
        txn.commit()
        entry.status = Status.SAVED
        return entry.label_path
