"""datumaro's reading of a VOC-style segmentation folder, ported for the tests (datumaro is not a dependency;
tests also run the real package where it is installed).

Ported from datumaro 1.13.12 (PyPI, MIT licence, Intel):
- plugins/data_formats/voc/format.py, parse_label_map: skip blank and '#' lines, split on ':' into exactly four
  fields (name, 'r,g,b', parts, actions), a name only once; label i is the i-th line;
- util/mask_tools.py, unpaint_mask via load_mask: a mask PNG is read as RGB and each colour is looked up in the
  label map; a colour the map does not declare raises KeyError "Undeclared color (r, g, b)".
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def parse_label_map(path: str | Path) -> dict[str, tuple[int, int, int] | None]:
    label_map: dict[str, tuple[int, int, int] | None] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line[0] == "#":
            continue
        desc = line.split(":")
        assert len(desc) == 4, f"Label description has wrong number of fields '{len(desc)}'"
        name = desc[0]
        assert name not in label_map, f"Label '{name}' is already defined in the label map"
        label_map[name] = tuple(int(c) for c in desc[1].split(",")) if desc[1] else None
    return label_map


def read_mask(png: str | Path, label_map: dict) -> np.ndarray:
    """The label index of each pixel, found by its colour (datumaro's unpaint_mask); KeyError for an undeclared
    colour."""
    rgb = np.array(Image.open(png).convert("RGB")).astype(np.int64)
    inverse = {colour: i for i, colour in enumerate(label_map.values()) if colour is not None}
    packed = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
    values, index = np.unique(packed, return_inverse=True)
    lut = []
    for v in values.tolist():
        colour = ((v >> 16) & 255, (v >> 8) & 255, v & 255)
        if colour not in inverse:
            raise KeyError(f"Undeclared color {colour}")
        lut.append(inverse[colour])
    return np.array(lut)[index].reshape(packed.shape)
