"""YOLO-seg, the Ultralytics segmentation dataset (docs.ultralytics.com/datasets/segment/):

  images/train/<name>.<ext>, images/val/...   the images (a JPEG or PNG source is copied as is when upright)
  labels/train/<name>.txt, labels/val/...      one line per polygon: `class x1 y1 x2 y2 ...`, coordinates divided
                                               by the image width and height (0..1), six decimals
  data.yaml                                    path (this folder), train, val, names (id: name)

Ultralytics finds an image's labels by swapping `images` for `labels` in its path. The polygons are made the
way Ultralytics' own converter makes them from masks (ultralytics/data/converter.py,
convert_segment_masks_to_yolo_seg): per class, the outer outline of each 8-connected region
(cv2.findContours, RETR_EXTERNAL, CHAIN_APPROX_SIMPLE), kept when it has at least 3 points. So, like there:
a hole is not cut out (YOLO-seg polygons have none; a region inside it is its own, smaller polygon), specks
with fewer than 3 outline points (1-2 pixels, 1-pixel lines) are dropped and counted, void is not written, and
a class named "background" is not written (its id stays in names). Class ids are the folder's label values.
The train/val split is the VOC export's seeded split (engine.io.voc_export.split_names, done by the caller).
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from PIL import Image

from ..errors import LabelIOError
from ..labels import VOID, ClassList
from .atomic import write_bytes_atomic, write_text_atomic
from .images import read_image
from .voc_export import check_item_name

YOLO_NAMES = "YOLO-seg datasets"

__all__ = ["YoloItem", "yolo_polygons", "yolo_label_text", "data_yaml", "write_yolo_seg"]


@dataclass(frozen=True)
class YoloItem:
    """One image: its name (file stem), source image file and label map (H,W) uint8."""

    name: str
    image_path: Path
    labels: np.ndarray


def yolo_polygons(labels: np.ndarray, class_list: ClassList) -> tuple[list[tuple[int, np.ndarray]], int]:
    """(class id, (K,2) int pixel outline) per region of each written class, and the number of specks dropped."""
    labels = np.asarray(labels)
    out, dropped = [], 0
    for c in np.unique(labels).tolist():
        if c == VOID or c >= len(class_list) or class_list.names[c].strip().lower() == "background":
            continue
        contours, _ = cv2.findContours((labels == c).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            if len(contour) >= 3:
                out.append((c, contour.reshape(-1, 2)))
            else:
                dropped += 1
    return out, dropped


def yolo_label_text(polygons: list[tuple[int, np.ndarray]], height: int, width: int) -> str:
    """The label file: `class x1 y1 ...` per polygon, coordinates normalised by width and height, 6 decimals."""
    lines = []
    for c, pts in polygons:
        xy = pts.astype(np.float64) / (width, height)
        lines.append(" ".join([str(int(c))] + [f"{v:.6f}" for v in xy.reshape(-1)]))
    return "".join(f"{line}\n" for line in lines)


def data_yaml(root: Path, class_list: ClassList) -> str:
    """data.yaml; names and the path are JSON-quoted, which YAML reads as plain strings (any name is safe)."""
    lines = ["# YOLO-seg dataset written by DeepLab Annotator (Ultralytics format).",
             "# path is this folder: edit it if you move the folder.",
             f"path: {json.dumps(str(Path(root).resolve()))}", "train: images/train", "val: images/val", "names:"]
    lines += [f"  {i}: {json.dumps(name.strip())}" for i, name in enumerate(class_list.names)]
    return "\n".join(lines) + "\n"


def _image_file(path: Path, shape: tuple[int, int], scaling=None) -> tuple[bytes, str]:
    """The image's bytes and suffix: an upright 8-bit RGB or grey JPEG/PNG of the label's size is copied, anything
    else (a 16-bit PNG too, as a 16-bit TIFF is) is written as a PNG of what the app shows."""
    try:
        with Image.open(path) as img:
            plain = (img.format in ("JPEG", "PNG") and img.mode in ("RGB", "L")
                     and not any(";16" in str(t.args) for t in img.tile)   # PIL opens 16-bit RGB PNGs as "RGB"
                     and img.getexif().get(0x0112, 1) == 1 and (img.height, img.width) == shape)
            suffix = ".jpg" if img.format == "JPEG" else ".png"
    except OSError:
        plain = False
    if plain:
        return path.read_bytes(), suffix
    rgb = read_image(path, scaling=scaling)   # the folder's bands and scaling, as the app shows it
    if rgb.shape[:2] != shape:
        raise LabelIOError(f"{path}: image is {rgb.shape[1]}x{rgb.shape[0]} but its labels are "
                           f"{shape[1]}x{shape[0]}")
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue(), ".png"


def write_yolo_seg(root: str | Path, items: Iterable[YoloItem], class_list: ClassList,
                   val_names: Iterable[str] = (), scaling=None) -> tuple[int, int, int, int]:
    """Write the dataset under root, the images named in ``val_names`` into val, the others into train (the
    caller splits the names first, so the label maps stream through one at a time);
    (train images, val images, polygons, specks dropped)."""
    root = Path(root)
    val = set(val_names)
    seen: set[str] = set()
    counts = {"train": 0, "val": 0}
    n_poly = n_dropped = 0
    for item in items:
        # a name with spaces is fine: no list file is written (Ultralytics finds labels/<part>/<name>.txt beside
        # images/<part>/; a walk had a whole export refused for 'Flasche grün 01.jpg')
        check_item_name(item.name, item.image_path, seen, YOLO_NAMES, spaces=True)
        seen.add(item.name)
        labels = np.asarray(item.labels)
        if labels.ndim != 2 or labels.dtype != np.uint8:
            raise ValueError(f"{item.name}: labels must be (H,W) uint8, got {labels.shape} {labels.dtype}")
        part = "val" if item.name in val else "train"
        data, suffix = _image_file(Path(item.image_path), labels.shape, scaling)
        polygons, dropped = yolo_polygons(labels, class_list)
        write_bytes_atomic(root / "images" / part / f"{item.name}{suffix}", data)
        write_text_atomic(root / "labels" / part / f"{item.name}.txt",
                          yolo_label_text(polygons, labels.shape[0], labels.shape[1]))
        counts[part] += 1
        n_poly, n_dropped = n_poly + len(polygons), n_dropped + dropped
    write_text_atomic(root / "data.yaml", data_yaml(root, class_list))
    return counts["train"], counts["val"], n_poly, n_dropped
