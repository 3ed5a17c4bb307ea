"""Export label maps to the formats other tools read: COCO JSON with RLE masks, and labelme JSON.

COCO: one annotation per (image, class present), compressed RLE from pycocotools, category id = class index + 1
(COCO reserves 0); a class named "background" is left out by default and void (255) is never a category.
labelme: polygons that labelme's own rasteriser paints back into the label map pixel for pixel
(engine.io.labelme_shapes; no shape type X-AnyLabeling refuses), with a labels.txt for labelme2voc that gives back
our label values; the image is embedded where labelme cannot open the file (engine.io.labelme_image).
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
from .labelme_image import embedded_image_data, labelme_opens
from .labelme_shapes import exact_shapes

__all__ = ["rle_encode", "rle_decode", "CocoImage", "coco_dict", "write_coco", "labelme_dict", "write_labelme",
           "labelme_labels_txt", "write_labelme_labels", "LABELME_VERSION", "IGNORE_LABEL", "BACKGROUND_LABEL",
           "LABELME_LABELS_FILE"]

LABELME_VERSION = "5.5.0"      # the file layout of labelme 5.x and 6.x (polygons only)
IGNORE_LABEL = "__ignore__"    # labelme2voc's name for "do not learn from this region" (our void, 255)
BACKGROUND_LABEL = "_background_"  # labelme2voc's id 0: our class 0
LABELME_LABELS_FILE = "labels.txt"
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


def _labelme_names(class_list: ClassList, include_void: bool) -> dict[int, str]:
    """Label value -> labelme label. Class 0 takes labelme's background slot, so labelme2voc gives it id 0."""
    names = {0: BACKGROUND_LABEL}
    for c, name in enumerate(class_list.names[1:], start=1):
        if name != name.strip() or not name or name in (IGNORE_LABEL, BACKGROUND_LABEL):
            raise ValueError(f"class {c} is named {name!r}: labelme labels.txt cannot hold it (reserved, empty "
                             f"or with surrounding spaces); rename the class")
        names[c] = name
    if len(set(names.values())) != len(names):
        raise ValueError("class names repeat; labelme would give one id to several classes")
    if include_void:
        names[VOID] = IGNORE_LABEL
    return names


def labelme_labels_txt(class_list: ClassList) -> str:
    """labels.txt for labelme2voc: __ignore__ (-> 255), _background_ (-> 0, our class 0 whatever its name),
    then classes 1.. in order, so labelme2voc's ids are our label values."""
    names = _labelme_names(class_list, include_void=True)
    return "\n".join([IGNORE_LABEL] + [names[c] for c in range(len(class_list))]) + "\n"


def labelme_dict(labels: np.ndarray, class_list: ClassList, image_path: str, include_background: bool = False,
                 include_void: bool = True, image_data: str | None = None) -> dict:
    """labelme JSON for one label map; image_path is stored as given (relative to the JSON file, as labelme wants),
    image_data (base64 image file, or None: labelme reads image_path) as labelme's imageData.

    labelme's own rasterisation (shapes_to_label with labelme_labels_txt's ids) gives back `labels` exactly.
    Class 0 is labelme's background: left unlabelled, and drawn as "_background_" only inside other regions'
    holes (everywhere if include_background). Void becomes "__ignore__" when include_void (labelme2voc maps
    it back to 255); otherwise void pixels are not drawn.
    """
    labels = _check_labels(labels, class_list, image_path)
    h, w = labels.shape
    names = _labelme_names(class_list, include_void)
    shapes = exact_shapes(labels, names, start=0, draw_start=include_background)
    return {"version": LABELME_VERSION, "flags": {}, "shapes": [s.to_json() for s in shapes], "imagePath": image_path,
            "imageData": image_data, "imageHeight": int(h), "imageWidth": int(w)}


def write_labelme_labels(folder: str | Path, class_list: ClassList) -> Path:
    """Write labels.txt (labelme2voc's --labels) into folder, atomically."""
    path = Path(folder) / LABELME_LABELS_FILE
    write_text_atomic(path, labelme_labels_txt(class_list))
    return path


def write_labelme(json_path: str | Path, labels: np.ndarray, class_list: ClassList, image_file: str | Path,
                  include_background: bool = False, include_void: bool = True, scaling=None) -> dict:
    """Write <name>.json for an image, and labels.txt beside it (labelme2voc's --labels); imagePath is made
    relative to the JSON's folder; the image is embedded when labelme cannot open the file. Atomic."""
    json_path = Path(json_path)
    rel = os.path.relpath(Path(image_file).resolve(), json_path.parent.resolve())
    labels = np.asarray(labels)
    image_data = None if labelme_opens(image_file) else embedded_image_data(image_file, labels.shape[:2], scaling)
    data = labelme_dict(labels, class_list, Path(rel).as_posix(), include_background, include_void, image_data)
    write_text_atomic(json_path, json.dumps(data, ensure_ascii=False, indent=2))
    write_labelme_labels(json_path.parent, class_list)
    return data

