"""A small folder for the pre-labelling tests: synthetic images, a broken one, one with hand-saved labels."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from engine.checkpoints import load_checkpoint
from engine.crf import preset
from engine.folder.dataset import Dataset
from engine.io.provenance import make_provenance
from tests.support.gui_helpers import CLASS_NAMES, make_colour_model, make_folder

HAND_IMAGE = "img2.png"
BROKEN_IMAGE = "broken.png"
CRF = preset("deeplab-v1").replace(iterations=3)


def hand_labels(h: int = 96, w: int = 128) -> np.ndarray:
    labels = np.zeros((h, w), np.uint8)
    labels[10:40, 20:70] = 2
    return labels


def make_prelabel_folder(root: Path, n: int = 4) -> Path:
    """img1..imgN (96x128), broken.png (not an image) and hand-saved labels for img2 (saved as in the app)."""
    folder = make_folder(root, n=n)
    (folder / BROKEN_IMAGE).write_bytes(b"this is not a PNG")
    ds = Dataset(folder)
    i = ds.index_of(HAND_IMAGE)
    labels = hand_labels()
    record = make_provenance(labels, labels == 2, HAND_IMAGE)  # a person's save: origin hand
    ds.save(i, labels, colour_classes(), provenance=record)
    return folder


def colour_classes():
    from engine.labels import ClassList

    return ClassList(CLASS_NAMES)


def copy_folder(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def colour_model(path: Path):
    return load_checkpoint(make_colour_model(path))


def label_bytes(folder: Path) -> dict[str, bytes]:
    """Every label PNG of a folder by name."""
    return {p.name: p.read_bytes() for p in sorted((folder / "labels").glob("*.png"))}
