"""CVAT "Segmentation mask 1.1": the layout CVAT writes and reads back (cvat/apps/dataset_manager/formats/mask.py:
datumaro's voc_segmentation export with painted masks and a label map that starts with background):

  labelmap.txt                       `# label:color_rgb:parts:actions`, background:0,0,0:: first, then the classes
  SegmentationClass/<name>.png       RGB, each pixel its label's colour
  SegmentationObject/<name>.png      RGB, instance i in the VOC colour of index i, 0 = none
  ImageSets/Segmentation/default.txt the names, one per line (CVAT's "default" subset)

as a folder, or as the ZIP CVAT uploads when the target ends in .zip. No images: CVAT puts the masks onto the
task's own images, matched by name (the file name without its extension).

CVAT has no void: void pixels are left unannotated (background). Background is a class named "background" if the
folder has one (CVAT's rule), else the line CVAT adds, black. A class whose colour is black or repeats another's
gets a free colour in this export only, so every label can be told apart by colour. Each class present in an
image is one instance (semantic labels have no objects), so any number of regions fits the 8-bit object PNG.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from ..labels import VOID, ClassList, voc_palette
from .atomic import open_atomic, write_bytes_atomic
from .labelmap import LABELMAP_FILE, labelmap_text
from .voc_export import check_item_name

CVAT_NAMES = "CVAT's mask subset file (ImageSets/Segmentation/default.txt)"

__all__ = ["CvatItem", "cvat_labels", "class_mask_png", "object_mask_png", "write_cvat_masks"]

BLACK = (0, 0, 0)
SUBSET_FILE = "ImageSets/Segmentation/default.txt"


@dataclass(frozen=True)
class CvatItem:
    """One image: its name (file stem, as CVAT names the task's images) and label map (H,W) uint8."""

    name: str
    image_path: Path
    labels: np.ndarray


def _is_background(name: str) -> bool:
    return name.strip().lower() == "background"


def cvat_labels(class_list: ClassList) -> tuple[list[tuple[str, tuple]], np.ndarray]:
    """The label map's (name, colour) lines, and the (256,3) uint8 colour of each label value (void: the
    background colour)."""
    names = [n.strip() for n in class_list.names]
    lines: list[tuple[str, tuple]] = [] if any(_is_background(n) for n in names) else [("background", BLACK)]
    used = {rgb for _, rgb in lines}
    free = (tuple(int(v) for v in rgb) for rgb in voc_palette(256)[1:255])
    lut = np.zeros((256, 3), np.uint8)
    for c, (name, rgb) in enumerate(zip(names, class_list.palette)):
        rgb = tuple(int(v) for v in rgb)
        if rgb in used:
            rgb = next(x for x in free if x not in used and x not in class_list.palette)
        used.add(rgb)
        lines.append((name, rgb))
        lut[c] = rgb
    background = next(rgb for name, rgb in lines if _is_background(name))
    lut[VOID] = background
    return lines, lut


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def class_mask_png(labels: np.ndarray, lut: np.ndarray) -> bytes:
    """SegmentationClass PNG: each pixel in its label's colour."""
    return _png(lut[labels])


def object_mask_png(labels: np.ndarray, class_list: ClassList) -> bytes:
    """SegmentationObject PNG: the classes present (background and void excepted) numbered 1, 2, ... in id
    order, painted in the VOC colours of those numbers (datumaro's instance colour map)."""
    ids = np.zeros(256, np.uint8)
    present = [int(v) for v in np.unique(labels) if v != VOID and not _is_background(class_list.names[v])]
    for k, c in enumerate(present, start=1):
        ids[c] = k
    return _png(voc_palette(256)[ids[labels]])


def _check(item: CvatItem, class_list: ClassList) -> np.ndarray:
    labels = np.asarray(item.labels)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"{item.name}: labels must be (H,W) uint8, got {labels.shape} {labels.dtype}")
    bad = np.unique(labels[(labels != VOID) & (labels >= len(class_list))])
    if bad.size:
        raise ValueError(f"{item.name}: label values {bad.tolist()} exceed the {len(class_list)}-class list")
    return labels


def _files(items: Iterable[CvatItem], class_list: ClassList):
    """(relative path, bytes) of every file of the dataset, the label map first."""
    lines, lut = cvat_labels(class_list)
    yield LABELMAP_FILE, labelmap_text(lines).encode("utf-8")
    names: list[str] = []
    for item in items:
        check_item_name(item.name, item.image_path, names, CVAT_NAMES)
        labels = _check(item, class_list)
        yield f"SegmentationClass/{item.name}.png", class_mask_png(labels, lut)
        yield f"SegmentationObject/{item.name}.png", object_mask_png(labels, class_list)
        names.append(item.name)
    yield SUBSET_FILE, "".join(f"{n}\n" for n in names).encode("utf-8")


def _write_zip(path: Path, files) -> None:
    """The ZIP, written through a temporary file beside ``path`` (open_atomic)."""
    with open_atomic(path) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in files:
            zf.writestr(rel, data)


def write_cvat_masks(target: str | Path, items: Iterable[CvatItem], class_list: ClassList) -> int:
    """Write the dataset into the folder ``target``, or into a ZIP if it ends in .zip; the number of images."""
    target = Path(target)
    counted = []

    def files():
        for rel, data in _files(items, class_list):
            if rel.startswith("SegmentationClass/"):
                counted.append(rel)
            yield rel, data
    if target.suffix.lower() == ".zip":
        _write_zip(target, files())
    else:
        for rel, data in files():
            write_bytes_atomic(target / rel, data)
    return len(counted)

