"""labelmap.txt: a VOC-style dataset's classes as datumaro and CVAT read them.

The format is datumaro's VOC label map (datumaro/plugins/data_formats/voc/format.py, parse_label_map and
write_label_map): a `# label:color_rgb:parts:actions` header, then one `name:r,g,b::` line per label, in
label order. datumaro reads a VOC mask PNG by colour, not by palette index, so every colour a mask holds
must be declared, void included ("Undeclared color" otherwise), and no two labels may share a colour.
"""
from __future__ import annotations

from ..labels import ClassList

__all__ = ["LABELMAP_FILE", "VOID_COLOUR", "labelmap_text", "void_name", "colour_clashes"]

LABELMAP_FILE = "labelmap.txt"
VOID_COLOUR = (224, 224, 192)      # VOC's void (255) colour, datumaro's "ignored" label


def _check(name: str) -> str:
    name = str(name).strip()
    if not name or ":" in name or "\n" in name or name.startswith("#"):
        raise ValueError(f"class name {name!r} cannot be written to {LABELMAP_FILE} (empty, holds ':', or starts "
                         f"with '#', which readers take for a comment); rename the class")
    return name


def labelmap_text(labels: list[tuple[str, tuple[int, int, int]]]) -> str:
    """The file for (name, (r, g, b)) labels in label order. ValueError for a name the format cannot hold or a
    name given twice."""
    names = [_check(n) for n, _ in labels]
    if len(set(names)) != len(names):
        raise ValueError(f"class names repeat in {LABELMAP_FILE}: {sorted({n for n in names if names.count(n) > 1})}")
    lines = ["# label:color_rgb:parts:actions"]
    lines += [f"{n}:{','.join(str(int(v)) for v in rgb)}::" for n, (_, rgb) in zip(names, labels)]
    return "\n".join(lines) + "\n"


def void_name(class_list: ClassList) -> str:
    """The void line's name: datumaro's own "ignored", or "void" if a class already has that name."""
    taken = {n.strip() for n in class_list.names}
    return next(n for n in ("ignored", "void", "_void_", "__ignore__") if n not in taken)


def colour_clashes(labels: list[tuple[str, tuple[int, int, int]]]) -> list[str]:
    """Labels that share a colour, as 'a and b share (r, g, b)' phrases: tools reading masks by colour cannot
    tell them apart."""
    first: dict[tuple, str] = {}
    out = []
    for name, rgb in labels:
        rgb = tuple(int(v) for v in rgb)
        if rgb in first:
            out.append(f"{first[rgb]!r} and {name!r} share the colour {rgb}")
        else:
            first[rgb] = name
    return out
