"""A folder's saved labels as training and tuning data: which images have a label PNG, and loading them checked
against the model (same size as the image, class ids the model has, a class_names.txt with as many classes).

Every problem is a TrainingDataError that names the file and says what was expected, raised before any work."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.folder.dataset import CLASS_NAMES_FILE, Dataset, is_machine_label

from ..errors import EngineError
from ..io.images import read_image
from ..io.labels import read_label_png
from ..io.scaling import DEFAULT_SCALING, ImageScaling
from ..labels import VOID, load_class_list


class TrainingDataError(EngineError):
    """The saved labels cannot be used with this model (none saved, other classes, unreadable, wrong size)."""


@dataclass(frozen=True)
class SavedImage:
    """One image with a saved label PNG, read with its folder's band choice and scaling (as the window shows it)."""
    name: str
    image_path: Path
    label_path: Path
    scaling: ImageScaling = DEFAULT_SCALING

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """(H,W,3) uint8 RGB image and (H,W) uint8 labels (255 = void)."""
        image = read_image(self.image_path, scaling=self.scaling)
        labels = read_label_png(self.label_path)
        if labels.shape != image.shape[:2]:
            raise TrainingDataError(f"{self.label_path}: label size {labels.shape[1]}x{labels.shape[0]} does not "
                                    f"match its image {image.shape[1]}x{image.shape[0]}")
        return image, labels

    def label_sha256(self) -> str:
        return hashlib.sha256(self.label_path.read_bytes()).hexdigest()


def _label_files(folder: str | Path) -> tuple[Dataset, list[SavedImage], int]:
    """(the folder, its images whose label PNG a person saved, how many label files are pre-labelled). Pre-labelled
    files (a batch run wrote them and nobody saved them since, engine.folder.dataset.is_machine_label, checked
    against the labels they hold) are not training data: training on them teaches the model its own mistakes (a
    walk: 3 images saved by hand and 4 pre-labelled, held-out mIoU 50.6 % -> 43.9 % after training on all 7)."""
    dataset = Dataset(folder)
    found, machine = [], 0
    for e in dataset.entries:
        if not e.label_path.is_file():
            continue
        if is_machine_label(e.label_path, verify=True):
            machine += 1
            continue
        found.append(SavedImage(e.path.name, e.path, e.label_path, dataset.image_settings))
    return dataset, found, machine


def saved_images(folder: str | Path) -> list[SavedImage]:
    """The images of ``folder`` whose label PNG a person saved, in folder order (not the pre-labelled ones:
    _label_files). TrainingDataError if there are none."""
    dataset, found, machine = _label_files(folder)
    if not found:
        raise _none_saved(dataset, machine)
    return found


def _none_saved(dataset, machine: int) -> TrainingDataError:
    unused = (f"; its {machine} pre-labelled image{'s count' if machine != 1 else ' counts'} once you check "
              f"and save {'them' if machine != 1 else 'it'}") if machine else ""
    return TrainingDataError(f"{dataset.folder}: no saved labels in {dataset.labels_dir} to learn from{unused}; "
                             f"label and save some images first (Ctrl+S)")


def folder_class_names(folder: str | Path) -> tuple[str, ...] | None:
    """The class names of the folder's labels/class_names.txt, or None without one."""
    classes = folder_class_list(folder)
    return None if classes is None else classes.names


def folder_class_list(folder: str | Path):
    """The folder's labels/class_names.txt as a ClassList (names and colours), or None without one."""
    path = Dataset(folder).labels_dir / CLASS_NAMES_FILE
    return load_class_list(path) if path.is_file() else None


def check_class_count(folder: str | Path, n_classes: int) -> None:
    """TrainingDataError when labels/class_names.txt lists another number of classes than the model predicts."""
    names = folder_class_names(folder)
    if names is not None and len(names) != n_classes:
        path = Dataset(folder).labels_dir / CLASS_NAMES_FILE
        raise TrainingDataError(f"{path}: the saved labels have {len(names)} classes but the model predicts "
                                f"{n_classes}; pick a model with the same classes")


def check_label_values(item: SavedImage, labels: np.ndarray, n_classes: int) -> None:
    """TrainingDataError when a label map uses a class id the model does not have (void 255 is fine)."""
    values = np.unique(labels)
    bad = values[(values >= n_classes) & (values != VOID)]
    if bad.size:
        raise TrainingDataError(f"{item.label_path}: has class ids {', '.join(map(str, bad[:8].tolist()))} but the "
                                f"model predicts {n_classes} classes (0..{n_classes - 1}, 255 = void)")


def load_checked(items: list[SavedImage], n_classes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every (image, labels) pair, each checked; the first problem raises before anything is used."""
    pairs = []
    for item in items:
        image, labels = item.load()
        check_label_values(item, labels, n_classes)
        pairs.append((image, labels))
    return pairs


def saved_count(dataset, loaded) -> tuple[int | None, str]:
    """(how many images of the open folder a person saved labels for, a note on the pre-labelled ones not used, or
    "") or (None, why there is nothing to learn from); what the Train and Tune dialogs show before they start."""
    if dataset is None or loaded is None:
        return None, "Open a folder and load a model first."
    try:
        folder, found, machine = _label_files(dataset.folder)   # one pass: each pre-label's PNG is read once
    except EngineError as exc:
        return None, str(exc)
    if not found:
        return None, str(_none_saved(folder, machine))
    n = len(found)
    note = (f"{machine} pre-labelled image{'s are' if machine != 1 else ' is'} not used until checked and saved."
            if machine else "")
    return n, note
