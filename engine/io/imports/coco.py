"""A COCO instances JSON -> label maps, decoded as pycocotools' `COCO.annToMask` does.

Each annotation's segmentation is a list of polygons (`mask.frPyObjects` + `mask.merge`), an uncompressed RLE
(`counts` a list, as iscrowd annotations have) or a compressed one (`counts` a string); pycocotools decodes them.
Before any of it reaches pycocotools' C code it is checked: a declared RLE whose runs do not add up to exactly
height x width would make the decoder write past its buffer, and polygon coordinates far outside the image
mean the annotation is not for it.

Classes are the categories' names; images are matched by `file_name`. Overlaps: semantic labels have one class
per pixel, so instances are painted largest first and smaller ones on top (as Ultralytics merges overlapping
masks), with crowd regions (iscrowd 1) painted before every single instance: a person standing in front of a
crowd keeps their outline, and the crowd's own pixels get its class.
"""
from __future__ import annotations

import math
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
from pycocotools import mask as mask_utils

from .common import ImportSourceError, Source, SourceItem, canvas, check_points, check_size, load_json, read_capped


def _compressed_runs(counts: str, where: str) -> int:
    """The total of a compressed RLE's runs, read the way pycocotools' rleFrString does; ImportSourceError if the
    string is damaged (a run that never ends, a negative run)."""
    total, runs, x, shift, more = 0, [], 0, 0, False
    for ch in counts:
        c = ord(ch) - 48
        if not 0 <= c < 64:
            raise ImportSourceError(f"{where}: its RLE counts hold a character ({ch!r}) RLE strings never use")
        x |= (c & 0x1F) << shift
        shift += 5
        more = bool(c & 0x20)
        if not more:
            if c & 0x10:
                x |= -1 << shift
            if len(runs) > 2:
                x += runs[-2]
            if x < 0:
                raise ImportSourceError(f"{where}: its RLE counts describe a negative run")
            runs.append(x)
            total += x
            x, shift = 0, 0
    if more:
        raise ImportSourceError(f"{where}: its RLE counts end in the middle of a run")
    return total


def _rle(segmentation, height: int, width: int, where: str):
    """One annotation's segmentation -> a pycocotools RLE (checked first), or None when it paints nothing."""
    if isinstance(segmentation, list):
        polygons = []
        for k, poly in enumerate(segmentation):
            pts = check_points(f"{where}, polygon {k}", poly, height, width, flat=True)
            if len(pts) >= 3:   # pycocotools would read 2 points as a box: such a polygon has no area anyway
                polygons.append([float(v) for v in pts.ravel()])
        if not polygons:
            return None
        return mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    if isinstance(segmentation, dict):
        size, counts = segmentation.get("size"), segmentation.get("counts")
        if not isinstance(size, list) or size != [height, width]:
            raise ImportSourceError(f"{where}: its RLE is for a {size!r:.40} (height, width) canvas, not the "
                                    f"image's [{height}, {width}]")
        if isinstance(counts, list):
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts):
                raise ImportSourceError(f"{where}: RLE counts must be non-negative integers")
            if sum(counts) != height * width:
                raise ImportSourceError(f"{where}: its RLE runs add up to {sum(counts)} pixels, not {height}x{width}")
            return mask_utils.frPyObjects(segmentation, height, width)
        if isinstance(counts, str):
            if _compressed_runs(counts, where) != height * width:
                raise ImportSourceError(f"{where}: its RLE runs do not add up to {height}x{width} pixels")
            return {"size": [height, width], "counts": counts.encode("ascii")}
        raise ImportSourceError(f"{where}: RLE counts must be a list or a string")
    raise ImportSourceError(f"{where}: segmentation must be polygons (a list) or an RLE (an object)")


def _render(anns: list[dict], height: int, width: int) -> np.ndarray:
    """Paint crowd regions first, then instances by area, largest first; one decoded mask in memory at a time."""
    rles = []
    for order, ann in enumerate(anns):
        rle = _rle(ann["segmentation"], height, width, ann["where"])
        if rle is not None:
            rles.append((not ann["crowd"], -int(mask_utils.area(rle)), order, ann["value"], rle))
    out = canvas(height, width)
    for *_, value, rle in sorted(rles, key=lambda r: r[:3]):
        x, y, w, h = (int(math.ceil(v)) if k >= 2 else int(v) for k, v in enumerate(mask_utils.toBbox(rle)))
        if w <= 0 or h <= 0:
            continue
        crop = mask_utils.decode(rle)[y:y + h, x:x + w]   # only the box is scanned (the decode is Fortran order)
        out[y:y + h, x:x + w][crop.astype(bool)] = value
    return out


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_coco(source: str | Path) -> Source:
    """An instances JSON (annotations with polygon or RLE segmentations)."""
    source = Path(source)
    where = str(source)
    data = load_json(read_capped(source, "COCO JSON"), where)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list) or not isinstance(data.get("categories"), list):
        raise ImportSourceError(f"{where}: not a COCO instances file (it needs \"images\", \"annotations\" and "
                                "\"categories\" lists)")
    names: list[str] = []
    category: dict[int, int] = {}
    for cat in data["categories"]:
        if not isinstance(cat, dict) or not _int(cat.get("id")) or not isinstance(cat.get("name"), str) \
                or not cat["name"].strip():
            raise ImportSourceError(f"{where}: every category needs an integer id and a name, got {cat!r:.80}")
        name = cat["name"].strip()
        if name not in names:
            names.append(name)
        category[cat["id"]] = names.index(name)
    problems: list[str] = []
    failed: list[str] = []
    images: dict[int, dict] = {}
    for img in data["images"]:
        if not isinstance(img, dict) or not _int(img.get("id")) or not isinstance(img.get("file_name"), str):
            problems.append(f"{where}: an image entry without an integer id and a file_name was skipped "
                            f"({img!r:.80})")
            failed.append(f"{img!r:.40}")
            continue
        try:
            size = check_size(f"{where}, image {img['file_name']}", img.get("height"), img.get("width"))
        except ImportSourceError as exc:
            problems.append(str(exc))
            failed.append(img["file_name"])
            continue
        images[img["id"]] = {"file_name": img["file_name"], "size": size, "anns": []}
    for k, ann in enumerate(data["annotations"]):
        label = _annotation_label(ann, k)
        if not isinstance(ann, dict) or ann.get("image_id") not in images:
            problems.append(f"{where}: {label} names no listed image; skipped")
            continue
        value = category.get(ann.get("category_id"))
        if value is None:
            problems.append(f"{where}: {label} has category {ann.get('category_id')!r:.20}, which is not "
                            "among the categories; skipped")
            continue
        if "segmentation" not in ann:
            problems.append(f"{where}: {label} has no segmentation (a box only); skipped")
            continue
        images[ann["image_id"]]["anns"].append({"segmentation": ann["segmentation"], "value": value,
                                                "crowd": ann.get("iscrowd") in (1, True),
                                                "where": f"{where}, {label}"})
    items = []
    empty = [img["file_name"] for img in images.values() if not img["anns"]]
    if empty:
        problems.append(f"{where}: {len(empty)} image(s) without annotations were not imported ("
                        f"{', '.join(empty[:5])}{' …' if len(empty) > 5 else ''})")
    for img in images.values():
        if not img["anns"]:
            continue
        name = img["file_name"]
        base = PureWindowsPath(name).name if "\\" in name else PurePosixPath(name).name
        items.append(SourceItem(base, f"{where}, image {name}", img["size"],
                                lambda h, w, anns=img["anns"]: _render(anns, h, w)))
    # categories no imported annotation uses (Roboflow's supercategory entry, say) need no decision: a folder with
    # classes makes them void unless they match (a walk's 'belt-items', used nowhere, stopped the import)
    used = {a["value"] for img in images.values() for a in img["anns"]}
    unused = frozenset(n for i, n in enumerate(names) if i not in used)
    return Source("coco", source, names, items, problems, unused=unused, failed=failed)


def _annotation_label(ann, k: int) -> str:
    """How messages name an annotation: by its COCO id, as the file does, else by its place in the list."""
    if isinstance(ann, dict) and isinstance(ann.get("id"), int) and not isinstance(ann.get("id"), bool):
        return f"annotation {ann['id']}"
    return f"annotation #{k + 1} (no id)"
