"""Export label maps to the formats other tools read: COCO JSON with RLE masks, and labelme JSON polygons.

COCO: one annotation per (image, class present), compressed RLE from pycocotools, category id = class index + 1
(COCO reserves 0). labelme: one polygon per connected outline from cv2.findContours, largest first, so drawing
them in order (as labelme2voc does) reproduces nested regions. Background (a class named "background") is left
out by default, as both tools treat "unlabelled" as background; void (255) is never a category.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from ..labels import VOID, ClassList
from .atomic import write_text_atomic

__all__ = ["rle_encode", "rle_decode", "CocoImage", "coco_dict", "write_coco", "labelme_dict", "write_labelme",
           "LABELME_VERSION", "IGNORE_LABEL"]

LABELME_VERSION = "5.5.0"
IGNORE_LABEL = "__ignore__"  # labelme2voc's name for "do not learn from this region" (our void)
_BACKGROUND_NAMES = {"background", "_background_", "__background__"}


def rle_encode(mask: np.ndarray) -> dict:
    """(H,W) bool mask -> COCO compressed RLE {"size": [H, W], "counts": str}, JSON-ready."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H,W), got {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def rle_decode(rle: dict) -> np.ndarray:
    """COCO compressed RLE (counts as str or bytes) -> (H,W) bool mask."""
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return mask_utils.decode({"size": list(rle["size"]), "counts": counts}).astype(bool)


def _exported_classes(class_list: ClassList, include_background: bool) -> list[int]:
    return [i for i, n in enumerate(class_list.names)
            if include_background or n.strip().lower() not in _BACKGROUND_NAMES]


def _check_labels(labels: np.ndarray, class_list: ClassList, what: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"{what}: labels must be (H,W) uint8, got {labels.shape} {labels.dtype}")
    bad = np.unique(labels[(labels != VOID) & (labels >= len(class_list))])
    if bad.size:
        raise ValueError(f"{what}: label values {bad.tolist()} exceed the {len(class_list)}-class list")
    return labels


@dataclass(frozen=True)
class CocoImage:
    """One image to export: its file name as COCO should record it, and its label map (H,W) uint8."""

    file_name: str
    labels: np.ndarray


def coco_dict(images: Iterable[CocoImage], class_list: ClassList, include_background: bool = False) -> dict:
    """A COCO detection/stuff-style dataset dict: images, categories, one RLE annotation per class per image."""
    class_ids = _exported_classes(class_list, include_background)
    categories = [{"id": c + 1, "name": class_list.names[c], "supercategory": "",
                   "color": list(class_list.palette[c])} for c in class_ids]
    out_images, annotations = [], []
    for image_id, item in enumerate(images, start=1):
        labels = _check_labels(item.labels, class_list, item.file_name)
        h, w = labels.shape
        out_images.append({"id": image_id, "file_name": item.file_name, "height": h, "width": w})
        present = set(np.unique(labels).tolist())
        for c in class_ids:
            if c not in present:
                continue
            mask = labels == c
            rle = rle_encode(mask)
            x, y, bw, bh = cv2.boundingRect(mask.astype(np.uint8))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": c + 1,
                                "segmentation": rle, "area": int(mask.sum()),
                                "bbox": [int(x), int(y), int(bw), int(bh)], "iscrowd": 0})
    return {"info": {"description": "exported by DeepLab Annotator"}, "licenses": [],
            "images": out_images, "annotations": annotations, "categories": categories}


def write_coco(path: str | Path, images: Iterable[CocoImage], class_list: ClassList,
               include_background: bool = False) -> dict:
    """Build the COCO dict and write it atomically; returns the dict. Raises LabelIOError on disk problems."""
    data = coco_dict(images, class_list, include_background)
    write_text_atomic(path, json.dumps(data))
    return data


def _polygon(contour: np.ndarray) -> list[list[float]]:
    """Contour (K,1,2) -> labelme points; a 1-2 point outline (a dot or a 1-pixel line) repeats its last point,
    since labelme needs more than 2 points and rasterises such a polygon to exactly those pixels."""
    pts = contour.reshape(-1, 2).astype(float).tolist()
    while len(pts) < 3:
        pts.append(list(pts[-1]))
    return pts


def labelme_dict(labels: np.ndarray, class_list: ClassList, image_path: str, include_background: bool = False,
                 include_void: bool = True) -> dict:
    """labelme JSON for one label map; image_path is stored as given (relative to the JSON file, as labelme wants).

    Void regions become "__ignore__" polygons when include_void, so labelme2voc maps them back to 255.
    """
    labels = _check_labels(labels, class_list, image_path)
    h, w = labels.shape
    wanted = [(c, class_list.names[c]) for c in _exported_classes(class_list, include_background)]
    if include_void:
        wanted.append((VOID, IGNORE_LABEL))
    present = set(np.unique(labels).tolist())
    found = []
    for value, name in wanted:
        if value not in present:
            continue
        mask = (labels == value).astype(np.uint8)
        # RETR_CCOMP: outer outlines and holes; holes are filled later by the (smaller) shapes drawn over them
        contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        for k, contour in enumerate(contours):
            if hierarchy[0][k][3] != -1:  # a hole of this class's region, not a region
                continue
            area = cv2.contourArea(contour)
            found.append((area, len(found), name, _polygon(contour)))
    found.sort(key=lambda t: (-t[0], t[1]))
    shapes = [{"label": name, "points": pts, "group_id": None, "description": "", "shape_type": "polygon",
               "flags": {}, "mask": None} for _, _, name, pts in found]
    return {"version": LABELME_VERSION, "flags": {}, "shapes": shapes, "imagePath": image_path,
            "imageData": None, "imageHeight": int(h), "imageWidth": int(w)}


def write_labelme(json_path: str | Path, labels: np.ndarray, class_list: ClassList, image_file: str | Path,
                  include_background: bool = False, include_void: bool = True) -> dict:
    """Write <name>.json for an image; imagePath is made relative to the JSON's folder. Atomic."""
    json_path = Path(json_path)
    rel = os.path.relpath(Path(image_file).resolve(), json_path.parent.resolve())
    data = labelme_dict(labels, class_list, Path(rel).as_posix(), include_background, include_void)
    write_text_atomic(json_path, json.dumps(data, ensure_ascii=False, indent=2))
    return data

