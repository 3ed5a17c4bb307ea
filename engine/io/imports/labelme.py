"""labelme JSON files -> label maps, rasterised the way labelme's own `shapes_to_label` does.

Follows labelme (github.com/wkentaro/labelme, labelme/_utils/shape.py and labelme/_label_file.py, v7.1): shapes
are painted in file order, a later shape over an earlier one; each is drawn with PIL on a zeroed canvas:
polygon and oriented_rectangle `ImageDraw.polygon(outline=1, fill=1)`, rectangle `rectangle` between the corners'
min and max, circle `ellipse` of radius |centre - rim|, line `line(width=10)`, linestrip
`line(width=10, joint="curve")`, point a 5 px radius `ellipse`; a "mask" shape is its base64 PNG placed at its
rounded first point (integer corners crop it to the box, as labelme does). A shape labelled `__ignore__` paints
void. Pixels no shape covers are UNLABELLED (labelme2voc makes them `_background_`; here they become void unless
the user picks a class for them), except in a folder that holds labelme2voc's `labels.txt` (`__ignore__`,
`_background_`, then the classes, as this app's labelme export writes it): there unlabelled pixels are
`_background_`, as labelme2voc makes them, and the class order is that file's. The JSON is matched to an image by
its imagePath (file name), else its own stem. X-AnyLabeling's files are labelme's format with two differences read
here: a rectangle may come as its 4 corners (drawn as the box they span) and a rotated box as shape_type "rotation"
(4 corners, drawn as labelme's oriented_rectangle); its extra keys (score, difficult, description, kie_linking)
are ignored.
"""
from __future__ import annotations

import base64
import binascii
import math
from pathlib import Path, PureWindowsPath

import numpy as np
from PIL import Image, ImageDraw

from .common import (IGNORE, ImportSourceError, Source, SourceItem, canvas, check_points, check_size, decode_png,
                     is_ignore, load_json, name_index, read_capped)

LINE_WIDTH, POINT_SIZE = 10, 5          # labelme's shape_to_mask defaults
LABELS_TXT, BACKGROUND = "labels.txt", "_background_"   # labelme2voc's --labels file and its id 0
POINT_COUNTS = {"point": 1, "rectangle": 2, "line": 2, "circle": 2, "mask": 2, "oriented_rectangle": 4}
# X-AnyLabeling writes labelme's format with a rectangle's 4 corners and a rotated box as "rotation" (4 corners)
X_ANYLABELING = {"rotation": "oriented_rectangle"}
SHAPE_TYPES = ("polygon", "linestrip", *POINT_COUNTS, *X_ANYLABELING)


def _shape_mask(shape_type: str, xy: np.ndarray, height: int, width: int) -> tuple[int, int, np.ndarray]:
    """labelme's shape_to_mask for every drawn type, on a crop around the shape (integer offsets, so PIL paints
    exactly the pixels it would on the whole canvas): (y0, x0, the crop's bool mask)."""
    margin = LINE_WIDTH + POINT_SIZE + 2
    if shape_type == "circle":
        margin += math.ceil(math.hypot(*(xy[0] - xy[1])))
    x0 = max(math.floor(xy[:, 0].min()) - margin, 0)
    y0 = max(math.floor(xy[:, 1].min()) - margin, 0)
    x1 = min(math.ceil(xy[:, 0].max()) + margin + 1, width)
    y1 = min(math.ceil(xy[:, 1].max()) + margin + 1, height)
    if x0 >= x1 or y0 >= y1:
        return 0, 0, np.zeros((0, 0), bool)
    img = Image.new("L", (x1 - x0, y1 - y0), 0)
    draw = ImageDraw.Draw(img)
    pts = [(float(x) - x0, float(y) - y0) for x, y in xy]
    if shape_type == "circle":
        (cx, cy), (px, py) = pts
        d = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)
        draw.ellipse(((cx - d, cy - d), (cx + d, cy + d)), outline=1, fill=1)
    elif shape_type == "rectangle":
        (ax, ay), (bx, by) = pts
        draw.rectangle(((min(ax, bx), min(ay, by)), (max(ax, bx), max(ay, by))), outline=1, fill=1)
    elif shape_type == "line":
        draw.line(xy=pts, fill=1, width=LINE_WIDTH)
    elif shape_type == "linestrip":
        draw.line(xy=pts, fill=1, width=LINE_WIDTH, joint="curve")
    elif shape_type == "point":
        cx, cy = pts[0]
        draw.ellipse(((cx - POINT_SIZE, cy - POINT_SIZE), (cx + POINT_SIZE, cy + POINT_SIZE)), outline=1, fill=1)
    else:  # polygon, oriented_rectangle
        draw.polygon(xy=pts, outline=1, fill=1)
    return y0, x0, np.asarray(img, dtype=bool)


def _place_mask(points: np.ndarray, bitmap: np.ndarray, height: int, width: int) -> tuple[int, int, np.ndarray]:
    """labelme's placement of a "mask" shape's bitmap (shapes_to_label): (y0, x0, the part inside the image)."""
    (x1, y1), (x2, y2) = np.round(points).astype(int)
    if np.array_equal(points, np.trunc(points)):
        ph, pw = y2 - y1 + 1, x2 - x1 + 1
    else:
        ph, pw = bitmap.shape
    ys, ye = max(y1, 0), min(y1 + ph, height)
    xs, xe = max(x1, 0), min(x1 + pw, width)
    if ys < ye and xs < xe:
        return ys, xs, bitmap[ys - y1:ye - y1, xs - x1:xe - x1]
    return 0, 0, np.zeros((0, 0), bool)


def _parse_shape(raw, where: str, names: list[str]) -> dict:
    """The checks labelme's _load_shape_json_obj makes; the mask's PNG is decoded later, when rendered."""
    if not isinstance(raw, dict):
        raise ImportSourceError(f"{where}: a shape must be an object")
    label, shape_type = raw.get("label"), raw.get("shape_type", "polygon")
    if shape_type is None:
        shape_type = "polygon"
    if not isinstance(label, str) or not label.strip():
        raise ImportSourceError(f"{where}: its label must be a non-empty string, got {label!r:.60}")
    if shape_type not in SHAPE_TYPES:
        raise ImportSourceError(f"{where}: shape_type {shape_type!r:.40} is not one labelme draws "
                                f"({', '.join(SHAPE_TYPES)})")
    points = raw.get("points")
    if not isinstance(points, list) or not points:
        raise ImportSourceError(f"{where}: points must be a non-empty list")
    shape_type = X_ANYLABELING.get(shape_type, shape_type)
    want = POINT_COUNTS.get(shape_type)
    if shape_type == "rectangle" and len(points) == 4:   # X-AnyLabeling's corners: the box they span
        want = 4
    if want is not None and len(points) != want:
        raise ImportSourceError(f"{where}: a {shape_type} needs exactly {want} point{'s' if want > 1 else ''}, "
                                f"got {len(points)}")
    if shape_type == "polygon" and len(points) < 3:
        raise ImportSourceError(f"{where}: a polygon needs more than 2 points, got {len(points)}")
    mask = raw.get("mask")
    if shape_type == "mask" and not isinstance(mask, str):
        raise ImportSourceError(f"{where}: a mask shape needs its base64 PNG in \"mask\"")
    value = IGNORE if is_ignore(label) else name_index(names, label.strip())
    return {"value": value, "type": shape_type, "points": points, "mask": mask, "where": where}


def _render(shapes: list[dict], height: int, width: int) -> np.ndarray:
    out = canvas(height, width)
    for s in shapes:
        pts = check_points(s["where"], s["points"], height, width)
        if s["type"] == "mask":
            try:
                data = base64.b64decode(s["mask"], validate=False)
            except (binascii.Error, ValueError) as exc:
                raise ImportSourceError(f"{s['where']}: its mask is not base64 ({exc})") from exc
            bitmap = np.asarray(decode_png(data, s["where"] + " mask"))
            if bitmap.ndim == 3:
                bitmap = bitmap[..., 0]
            y0, x0, crop = _place_mask(pts, bitmap.astype(bool), height, width)
        else:
            if s["type"] == "rectangle" and len(pts) == 4:
                pts = np.stack([pts.min(axis=0), pts.max(axis=0)])
            y0, x0, crop = _shape_mask(s["type"], pts, height, width)
        out[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]][crop] = s["value"]
    return out


def read_label_file(path: Path, names: list[str], used: set[str] | None = None) -> SourceItem:
    """One labelme JSON -> a SourceItem (ImportSourceError if it is not a labelme file or is damaged); the class
    names its shapes use are added to ``names`` (and to ``used``)."""
    where = str(path)
    data = load_json(read_capped(path, "labelme JSON"), where)
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise ImportSourceError(f"{where}: not a labelme file (no \"shapes\" list)")
    image_path = data.get("imagePath")
    image = PureWindowsPath(image_path).name if isinstance(image_path, str) and image_path.strip() else ""
    h, w = data.get("imageHeight"), data.get("imageWidth")
    size = check_size(where, h, w) if h is not None and w is not None else None
    shapes = [_parse_shape(s, f"{where}, shape {k}", names) for k, s in enumerate(data["shapes"])]
    if used is not None:
        used.update(names[s["value"]] for s in shapes if s["value"] >= 0)
    return SourceItem(image or path.stem, where, size, lambda hh, ww: _render(shapes, hh, ww), (path.stem,))


def read_labelme(source: str | Path) -> Source:
    """A folder of labelme JSON files (or one file). Files that are not labelme JSON are listed as problems."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() == ".json" and p.is_file()
                       and not p.name.startswith("."))
    elif source.is_file():
        files = [source]
    else:
        raise ImportSourceError(f"{source}: no such file or folder")
    if not files:
        raise ImportSourceError(f"{source}: no labelme .json files in this folder")
    declared = _labels_txt(source if source.is_dir() else source.parent)
    names: list[str] = list(declared)
    items, problems, used = [], [], set()
    failed = []
    for path in files:
        try:
            items.append(read_label_file(path, names, used))
        except ImportSourceError as exc:
            problems.append(str(exc))
            failed.append(str(path))
    return Source("labelme", source, names, items, problems, BACKGROUND if declared else None,
                  frozenset(n for n in declared if n not in used), failed)


def _labels_txt(folder: Path) -> list[str]:
    """The class names of labelme2voc's labels.txt beside the JSON files, when it follows labelme2voc's rule
    (`__ignore__`, then `_background_`, then the classes); [] otherwise."""
    path = folder / LABELS_TXT
    if not path.is_file():
        return []
    try:
        lines = [ln.strip() for ln in read_capped(path, LABELS_TXT, 1 << 20).decode("utf-8-sig").splitlines()]
    except (ImportSourceError, UnicodeDecodeError):
        return []
    lines = [ln for ln in lines if ln]
    if len(lines) < 2 or not is_ignore(lines[0]) or lines[1] != BACKGROUND:
        return []
    return list(dict.fromkeys(lines[1:]))

