"""Ultralytics' checks of a YOLO-seg dataset, ported for the tests (ultralytics pulls in torch and is not a
dependency here).

Ported from ultralytics 8.x (AGPL-3.0):
- data/utils.py, img2label_paths: an image's label file is its path with the last "/images/" replaced by
  "/labels/" and the suffix by ".txt";
- data/utils.py, verify_image_label (segment case): lines of `class x1 y1 x2 y2 ...`; a file with any line of
  more than 6 values is segments; every coordinate in [0, 1], no negative value, class < number of names;
- data/utils.py, check_det_dataset: data.yaml needs train, val and names (a list, or a dict with int keys).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def img2label_path(image: str | Path) -> Path:
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(sb.join(str(image).rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


def read_segments(label_file: str | Path, n_classes: int) -> list[tuple[int, np.ndarray]]:
    """(class, (K,2) normalised points) per line, after Ultralytics' checks (AssertionError where it rejects)."""
    rows = [x.split() for x in Path(label_file).read_text().strip().splitlines() if len(x)]
    if not rows:
        return []
    assert any(len(x) > 6 for x in rows), "not a segment file"
    out = []
    for x in rows:
        values = np.array(x[1:], dtype=np.float32)
        assert len(values) % 2 == 0 and len(values) >= 6, "a segment needs 3 or more x y pairs"
        assert values.max() <= 1 and values.min() >= 0, "non-normalized or out of bounds coordinates"
        cls = float(x[0])
        assert cls == int(cls) and 0 <= cls < n_classes, f"class {x[0]} outside the {n_classes} names"
        out.append((int(cls), values.reshape(-1, 2)))
    return out


def check_data_yaml(data: dict) -> dict[int, str]:
    for k in ("train", "val", "names"):
        assert k in data, f"data.yaml '{k}:' field missing"
    names = data["names"]
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    assert all(isinstance(k, int) for k in names), "data.yaml names keys must be integers"
    return names
