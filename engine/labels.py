"""Class lists and palettes: names and colours travel together so a label PNG always carries the right palette."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EngineError
from .paths import CLASSES_DIR

VOID = 255  # VOC convention: "ignore / not labelled"

# Colours with a fixed meaning on the canvas (engine.display.overlays, engine.project.values): no class takes one.
LOCK_COLOUR = (255, 255, 255)                    # white hatching over hand-painted (locked) pixels
UNKNOWN_COLOURS = ((255, 128, 0), (0, 0, 0))     # orange and black checks: label values that are not classes
FIXED_OVERLAY_COLOURS = (LOCK_COLOUR, *UNKNOWN_COLOURS)
_LEVELS = tuple(range(0, 256, 17))               # candidate colours: the 4096 of this RGB grid (0, 17, .. 255)


MAX_NAME_LENGTH = 100
RESERVED_NAMES = ("__ignore__",)   # labelme's name for void


def match_key(name: str) -> str:
    """The form two class names are compared in: case, surrounding underscores and the spelling of
    separators do not count ('_background_' == 'Background', 'plastic_bottle' == 'plastic bottle')."""
    key = unicodedata.normalize("NFKC", str(name)).casefold()
    key = re.sub(r"[\s_\-]+", " ", key)
    return key.strip()


def name_problem(name, where: str = "class name") -> str:
    """What is wrong with a class name ('' when nothing is): the rules every class list follows, a folder's
    (engine.project) and a checkpoint's (engine.checkpoints.spec_check) alike."""
    if not isinstance(name, str):
        return f"{where} must be text, got {type(name).__name__}"
    name = name.strip()
    if not name:
        return f"{where} is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"{where} is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed"
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    if bad:
        return f"{where} {name!r} contains control characters ({', '.join(repr(c) for c in bad[:3])})"
    if not match_key(name):
        return f"{where} {name!r} has no letters or digits"
    if match_key(name) in {match_key(r) for r in RESERVED_NAMES}:
        return f"{where} {name!r} is reserved for void (unlabelled) pixels"
    return ""


def label_counts(labels: np.ndarray) -> np.ndarray:
    """(256,) int64: how many pixels carry each value of a uint8 label map. OpenCV's histogram: numpy's bincount
    first widens every value to 64 bits (96 MB and ~45 ms at 12 MP, on every label change the window draws)."""
    import cv2  # here, not at the top: engine.labels is imported by light tools too
    flat = np.ascontiguousarray(labels, dtype=np.uint8).reshape(-1, 1)
    counts = np.zeros(256, np.int64)
    for a in range(0, flat.shape[0], 1 << 24):   # float32 bins count exactly up to 2**24
        hist = cv2.calcHist([flat[a:a + (1 << 24)]], [0], None, [256], [0, 256])
        counts += np.rint(hist.reshape(256)).astype(np.int64)
    return counts


def distinct_colour(taken) -> tuple[int, int, int]:
    """The candidate colour farthest from every colour in ``taken`` (RGB triples): it maximises the smallest
    CIEDE2000 distance in CIELAB (skimage.color), so a new class or an overlay never looks like one already shown."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    grid = np.array([(r, g, b) for r in _LEVELS for g in _LEVELS for b in _LEVELS], np.float64)
    used = np.asarray([tuple(c)[:3] for c in taken], np.float64).reshape(-1, 3)
    if not len(used):
        return tuple(int(v) for v in grid[len(grid) // 2])
    lab_grid, lab_used = rgb2lab(grid[:, None, :] / 255.0), rgb2lab(used[None, :, :] / 255.0)
    nearest = deltaE_ciede2000(lab_grid, lab_used).min(axis=1)   # (candidates, taken) -> (candidates,)
    return tuple(int(v) for v in grid[int(np.argmax(nearest))])


def changed_colour(palette) -> tuple[int, int, int]:
    """The colour of the "changed by CRF" overlay for these class colours: unlike every class and fixed overlay."""
    return distinct_colour([*(tuple(int(v) for v in c) for c in np.asarray(palette).reshape(-1, 3)),
                            *FIXED_OVERLAY_COLOURS])


def voc_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map (bit-interleaved), (n,3) uint8; index 255 is the VOC void colour."""
    pal = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


@dataclass(frozen=True)
class ClassList:
    """Ordered class names with one RGB colour each; index i in a label map is names[i]."""

    names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...] = ()

    def __post_init__(self):
        if not self.names:
            raise EngineError("a class list needs at least one class")
        if not self.palette:
            pal = voc_palette(max(len(self.names), 1))
            object.__setattr__(self, "palette", tuple(tuple(int(v) for v in row) for row in pal[: len(self.names)]))
        if len(self.palette) != len(self.names):
            raise EngineError(f"{len(self.names)} class names but {len(self.palette)} colours")

    def __len__(self) -> int:
        return len(self.names)

    def palette_array(self) -> np.ndarray:
        """(N,3) uint8 colours of the classes."""
        return np.asarray(self.palette, dtype=np.uint8).reshape(-1, 3)

    def full_palette(self) -> list[int]:
        """768 ints for a PNG 'P' image: class colours, VOC colours for unused indices, void colour at 255."""
        pal = voc_palette(256)
        pal[: len(self)] = self.palette_array()[:256]
        return [int(v) for v in pal.reshape(-1)]


def _read_names(path: Path) -> tuple[str, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineError(f"cannot read class list {path}: {exc}") from exc
    names = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        # accept "name", "idx name" and "idx<TAB>name" (the cocostuff labels.txt style)
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0].isdigit():
            line = parts[1].strip()
        names.append(line)
    if not names:
        raise EngineError(f"class list {path} has no class names (one name per line expected)")
    return tuple(names)


def load_class_list(path: str | Path) -> ClassList:
    """A custom class list: one name per line, optionally 'name R G B' with colours (0-255)."""
    names, colours = [], []
    for entry in _read_names(Path(path)):
        parts = entry.rsplit(None, 3)
        if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts[1:]):
            names.append(parts[0])
            colours.append(tuple(int(p) for p in parts[1:]))
        else:
            names.append(entry)
            colours.append(None)
    if all(c is not None for c in colours):
        return ClassList(tuple(names), tuple(colours))
    return ClassList(tuple(names))


def voc_classes() -> ClassList:
    """PASCAL VOC 2012: background + 20 objects."""
    return ClassList(_read_names(CLASSES_DIR / "voc21.txt"))


def coco_stuff_classes() -> ClassList:
    """COCO-Stuff 182 (things 0-90 incl. unused ids, stuff 91-181), the order of kazuto's cocostuff models."""
    return ClassList(_read_names(CLASSES_DIR / "cocostuff182.txt"))


def generic_classes(n: int) -> ClassList:
    """Placeholder names for a model whose classes are unknown."""
    return ClassList(tuple(f"class {i}" for i in range(n)))


BUILTIN_CLASS_LISTS = {"VOC (21)": voc_classes, "COCO-Stuff (182)": coco_stuff_classes}


def default_class_list(n: int) -> ClassList:
    """The usual class list for a model with n outputs."""
    if n == 21:
        return voc_classes()
    if n == 182:
        return coco_stuff_classes()
    return generic_classes(n)
