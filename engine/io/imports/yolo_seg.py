"""Ultralytics YOLO segmentation labels -> label maps.

The format (docs.ultralytics.com/datasets/segment): one `labels/.../<image stem>.txt` per image, one object per
line, `class x1 y1 x2 y2 ...` with coordinates normalised to 0-1 by the image's width and height, and a
`data.yaml` whose `names` is a list or a {index: name} mapping (read with PyYAML's safe loader). Polygons are
rasterised as Ultralytics' `polygon2mask` does (pixel coordinates truncated to int32, `cv2.fillPoly`), and
overlapping objects are merged as its `polygons2masks_overlap` does: larger areas first, smaller ones on top.
A line with four coordinates is a detection box, not a polygon: it is skipped with a note. The labels are looked for
under data.yaml's `path:` (Ultralytics' dataset root) where it names a folder, and the image lists its train/val/test
name (`train.txt`) are not labels.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from ...limits import MAX_IMPORT_POINTS
from .common import ImportSourceError, Source, SourceItem, canvas, check_points, read_capped

YAML_NAMES = ("data.yaml", "dataset.yaml")


def parse_names(data, where: str) -> list[str]:
    """`names:` as a list, or a mapping {0: name, 1: name, ...} with indices 0..N-1."""
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, list):
        out = names
    elif isinstance(names, dict):
        keys = sorted(names, key=lambda k: int(k) if isinstance(k, (int, str)) and str(k).isdigit() else -1)
        if [str(k) for k in keys] != [str(i) for i in range(len(keys))]:
            raise ImportSourceError(f"{where}: names must be indexed 0..{len(keys) - 1}, got {list(names)[:8]}")
        out = [names[k] for k in keys]
    else:
        raise ImportSourceError(f"{where}: no `names:` list or mapping of class names")
    if not out or not all(isinstance(n, (str, int, float)) and str(n).strip() for n in out):
        raise ImportSourceError(f"{where}: class names must be non-empty text")
    return [str(n).strip() for n in out]


def find_yaml(source: Path) -> Path:
    if source.is_file():
        return source
    for name in YAML_NAMES:
        if (source / name).is_file():
            return source / name
    found = sorted(p for p in source.glob("*.y*ml") if p.is_file())
    if len(found) == 1:
        return found[0]
    raise ImportSourceError(f"{source}: no data.yaml with the class names"
                            + (f" (and {len(found)} other .yaml files: pass the right one)" if found else ""))


def _parse_line(line: str, where: str, n_classes: int):
    """(class index, flat normalised coordinates) or None for a box line."""
    fields = line.split()
    try:
        cls = int(fields[0])
        coords = [float(v) for v in fields[1:]]
    except ValueError as exc:
        raise ImportSourceError(f"{where}: not `class x1 y1 x2 y2 ...` numbers ({exc})") from exc
    if not 0 <= cls < n_classes:
        raise ImportSourceError(f"{where}: class {cls} is not in data.yaml's names (0..{n_classes - 1})")
    if len(coords) == 4:
        return None
    if len(coords) < 6 or len(coords) % 2:
        raise ImportSourceError(f"{where}: a polygon needs at least 3 x y pairs, got {len(coords)} numbers")
    if len(coords) > 2 * MAX_IMPORT_POINTS:
        raise ImportSourceError(f"{where}: more than {MAX_IMPORT_POINTS} points")
    return cls, coords


def _fill(pts: np.ndarray, height: int, width: int) -> tuple[int, int, np.ndarray]:
    """polygon2mask on the polygon's box inside the image (an integer shift: the same pixels): (y0, x0, crop)."""
    x0, y0 = max(int(pts[:, 0].min()), 0), max(int(pts[:, 1].min()), 0)
    x1, y1 = min(int(pts[:, 0].max()) + 1, width), min(int(pts[:, 1].max()) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return 0, 0, np.zeros((0, 0), bool)
    crop = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(crop, [(pts - np.array([x0, y0], np.int32)).reshape(-1, 1, 2)], color=1)
    return y0, x0, crop.astype(bool)


def _render(objects: list[tuple[int, list[float], str]], height: int, width: int) -> np.ndarray:
    masks = []
    for cls, coords, where in objects:
        pts = check_points(where, coords, 1, 1, flat=True) * np.array([width, height], np.float64)
        y0, x0, crop = _fill(pts.astype(np.int32), height, width)
        masks.append((-int(crop.sum()), len(masks), cls, y0, x0, crop))
    out = canvas(height, width)
    for _, _, cls, y0, x0, crop in sorted(masks, key=lambda m: m[:2]):
        out[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]][crop] = cls
    return out


def read_label_txt(path: Path, names: list[str]) -> tuple[SourceItem | None, list[str]]:
    text = read_capped(path, "YOLO label file").decode("utf-8-sig", errors="replace")
    objects, notes = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {n}"
        parsed = _parse_line(line, where, len(names))
        if parsed is None:
            notes.append(f"{where}: a detection box (4 numbers), not a polygon; skipped")
            continue
        objects.append((parsed[0], parsed[1], where))
    if not objects:
        return None, notes + [f"{path}: no polygons; not imported"]
    return SourceItem(path.stem, str(path), None, lambda h, w: _render(objects, h, w)), notes


def dataset_root(data, yaml_path: Path) -> Path:
    """The dataset's root: data.yaml's `path:` where it names a folder (absolute, or relative to the YAML's folder),
    else the YAML's folder (a walk's data.yaml in a config folder with `path: /data/yl` imported its image lists
    as labels and failed)."""
    named = data.get("path") if isinstance(data, dict) else None
    if isinstance(named, str) and named.strip():
        path = Path(named.strip()).expanduser()
        for candidate in ((path,) if path.is_absolute() else (yaml_path.parent / path, path)):
            if candidate.is_dir():
                return candidate
    return yaml_path.parent


def image_lists(data, root: Path, here: Path) -> set[Path]:
    """The .txt files data.yaml's train/val/test name: lists of image paths, not labels."""
    out = set()
    for key in ("train", "val", "test"):
        value = data.get(key) if isinstance(data, dict) else None
        for entry in (value if isinstance(value, list) else [value]):
            if isinstance(entry, str) and entry.strip().lower().endswith(".txt"):
                out |= {(base / entry.strip()).resolve() for base in (root, here)}
    return out


def read_yolo_seg(source: str | Path) -> Source:
    """A YOLO-seg dataset folder (with data.yaml and labels/), or its data.yaml."""
    source = Path(source)
    if not source.exists():
        raise ImportSourceError(f"{source}: no such file or folder")
    yaml_path = find_yaml(source)
    try:
        data = yaml.safe_load(read_capped(yaml_path, "data.yaml", 1 << 20).decode("utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise ImportSourceError(f"{yaml_path}: not readable YAML ({str(exc)[:200]})") from exc
    names = parse_names(data, str(yaml_path))
    root = dataset_root(data, yaml_path)
    labels = root / "labels"
    search = labels if labels.is_dir() else root
    lists = image_lists(data, root, yaml_path.parent)
    files = sorted(p for p in search.rglob("*.txt") if p.is_file() and p.name != "classes.txt"
                   and p.resolve() not in lists)
    if not files:
        raise ImportSourceError(f"{search}: no YOLO label .txt files")
    items, problems, failed = [], [], []
    for path in files:
        try:
            item, notes = read_label_txt(path, names)
        except ImportSourceError as exc:
            problems.append(str(exc))
            failed.append(str(path))
            continue
        problems.extend(notes)
        if item is not None:
            items.append(item)
    return Source("yolo-seg", source, names, items, problems, failed=failed)
