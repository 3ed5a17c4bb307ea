"""labelme's reading and rasterisation of a label file, ported for the tests (labelme needs PyQt5 and
onnxruntime to import, too heavy for the test environment; tests/engine/io/test_labelme_export.py also runs the real
package when it is installed).

Ported from labelme 6.3.1 (PyPI wheel, MIT licence, Kentaro Wada):
- labelme/_label_file.py, read_label_file and _load_shape_json_obj: the required keys and types, imageData
  None -> the image file beside the JSON whose size must match imageHeight/imageWidth, and a shape's "mask"
  as a base64 PNG read with utils.img_b64_to_arr(...).astype(bool);
- labelme/utils/shape.py, shape_to_mask (a polygon: PIL ImageDraw.polygon(xy, outline=1, fill=1) on a
  zeroed uint8 image; "Polygon must have points more than 2") and shapes_to_label (start from 0; paint each
  shape in file order; a "mask" shape is written into its inclusive bounding box points[0]..points[1]);
- examples/semantic_segmentation/labelme2voc.py: labels.txt line i gets id i - 1, line 1 must be
  __ignore__ and line 2 _background_; the label PNG stores the ids as uint8, so -1 becomes 255;
- labelme/utils/shape.py shapes_to_label's instances and labelme2voc's SegmentationObject: one instance per
  (label, group_id), a shape without group_id its own; ids 1.. in order of first appearance, 0 where ignored,
  saved as uint8 (more than 255 instances do not fit: the crash of the issue);
- labelme/_label_file.py `_imread`: an image file opens only in the PIL modes labelme shows.

And from X-AnyLabeling (CVHub520/X-AnyLabeling, anylabeling/views/labeling/shape.py, Shape.shape_type setter and
get_supported_shape): the shape types it loads; any other ("mask") raises "Unexpected shape_type" for the file.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw

TOP_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth")
LABELME_MODES = {"1", "L", "P", "RGB", "RGBA", "LA", "PA"}
XANYLABELING_SHAPES = ("polygon", "rectangle", "rotation", "quadrilateral", "point", "line", "circle", "linestrip",
                       "cuboid")


def xanylabeling_rejects(data: dict) -> list[str]:
    """The shape types of a labelme dict X-AnyLabeling refuses (its Shape.shape_type setter); [] if it loads."""
    return sorted({s.get("shape_type") or "polygon" for s in data["shapes"]} - set(XANYLABELING_SHAPES))


def labelme_image(path: str | Path) -> np.ndarray:
    """The picture labelme shows for a label file: imageData decoded, else the image file, which must open in a
    mode labelme shows (else labelme refuses the file: AssertionError here)."""
    path = Path(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw["imageData"] is not None:
        img = PIL.Image.open(io.BytesIO(base64.b64decode(raw["imageData"])))
    else:
        img = PIL.Image.open(path.parent / raw["imagePath"])
    assert img.mode in LABELME_MODES, f"labelme cannot show a {img.mode} image"
    return np.array(img)


def load_label_file(path: str | Path) -> dict:
    """Read a labelme JSON the way labelme's LabelFile does (its checks raise AssertionError here)."""
    path = Path(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    for key in ("imagePath", "imageData", "shapes"):
        assert key in raw, key
    if raw["imageData"] is None:
        with PIL.Image.open(path.parent / raw["imagePath"]) as im:
            width, height = im.size
    else:
        with PIL.Image.open(io.BytesIO(base64.b64decode(raw["imageData"]))) as im:
            width, height = im.size
    assert raw.get("imageHeight") in (None, height) and raw.get("imageWidth") in (None, width)
    shapes = []
    for s in raw["shapes"]:
        assert isinstance(s["label"], str)
        assert isinstance(s["points"], list) and s["points"]
        assert all(isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p)
                   for p in s["points"])
        assert isinstance(s["shape_type"], str)
        mask = None
        if s.get("mask") is not None:
            assert isinstance(s["mask"], str)
            mask = np.array(PIL.Image.open(io.BytesIO(base64.b64decode(s["mask"])))).astype(bool)
        shapes.append({"label": s["label"], "points": s["points"], "shape_type": s["shape_type"],
                       "group_id": s.get("group_id"), "mask": mask})
    return {"shapes": shapes, "imageHeight": raw["imageHeight"], "imageWidth": raw["imageWidth"],
            "imagePath": raw["imagePath"]}


def shape_to_mask(img_shape, points, shape_type=None) -> np.ndarray:
    """Polygons only: the exporter writes no other drawn type."""
    mask = PIL.Image.fromarray(np.zeros(img_shape[:2], dtype=np.uint8))
    draw = PIL.ImageDraw.Draw(mask)
    xy = [tuple(point) for point in points]
    assert shape_type in (None, "polygon"), shape_type
    assert len(xy) > 2, "Polygon must have points more than 2"
    draw.polygon(xy=xy, outline=1, fill=1)
    return np.array(mask, dtype=bool)


def shapes_to_label(img_shape, shapes, label_name_to_value) -> np.ndarray:
    cls = np.zeros(img_shape[:2], dtype=np.int32)
    for shape in shapes:
        cls_id = label_name_to_value[shape["label"]]
        if shape["shape_type"] == "mask":
            assert isinstance(shape["mask"], np.ndarray)
            mask = np.zeros(img_shape[:2], dtype=bool)
            (x1, y1), (x2, y2) = np.asarray(shape["points"]).astype(int)
            mask[y1:y2 + 1, x1:x2 + 1] = shape["mask"]
        else:
            mask = shape_to_mask(img_shape[:2], shape["points"], shape["shape_type"])
        cls[mask] = cls_id
    return cls


def shapes_to_instances(img_shape, shapes, label_name_to_value) -> np.ndarray:
    """labelme2voc's instance map: one id per (label, group_id) in order of first appearance (a shape without a
    group_id is its own instance), 0 where no shape or the label is __ignore__ (-1); int32."""
    cls = shapes_to_label(img_shape, shapes, label_name_to_value)
    ins = np.zeros(img_shape[:2], dtype=np.int32)
    instances = []
    for k, shape in enumerate(shapes):
        gid = shape.get("group_id")
        instance = (shape["label"], ("own", k) if gid is None else gid)
        if instance not in instances:
            instances.append(instance)
        ins[shape_to_mask(img_shape[:2], shape["points"], shape["shape_type"])] = instances.index(instance) + 1
    ins[cls == -1] = 0
    return ins


def labels_txt_ids(text: str) -> dict[str, int]:
    """labelme2voc's reading of --labels."""
    ids = {}
    for i, line in enumerate(text.splitlines(keepends=True)):
        class_id, name = i - 1, line.strip()
        ids[name] = class_id
        if class_id == -1:
            assert name == "__ignore__"
        elif class_id == 0:
            assert name == "_background_"
    return ids


def labelme2voc_png(json_path: str | Path, labels_txt: str) -> np.ndarray:
    """The SegmentationClass PNG values labelme2voc writes for one labelme JSON."""
    data = load_label_file(json_path)
    lbl = shapes_to_label((data["imageHeight"], data["imageWidth"]), data["shapes"], labels_txt_ids(labels_txt))
    return lbl.astype(np.uint8)
