"""A PASCAL VOC-style segmentation dataset from label maps, the layout VOC loaders (torchvision's
VOCSegmentation, mmseg, kazuto1011/deeplab-pytorch) read:

  JPEGImages/<name>.jpg              the image (a JPEG source is copied byte for byte unless EXIF rotates it)
  SegmentationClass/<name>.png       indexed PNG, palette = class colours, 255 = void, as VOC ships them
  ImageSets/Segmentation/train.txt   names, one per line; val.txt and trainval.txt likewise
  class_names.txt                    class i on line i
  labelmap.txt                       the classes and colours as datumaro and CVAT read them (engine.io.labelmap),
                                     void (224,224,192) on its own line

The train/val split is a seeded shuffle, so the same seed and names give the same split on any machine.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from ..errors import LabelIOError
from ..labels import ClassList
from .atomic import write_bytes_atomic, write_text_atomic
from .images import read_image
from .labelmap import LABELMAP_FILE, VOID_COLOUR, colour_clashes, labelmap_text, void_name
from .labels import encode_label_png

__all__ = ["VocItem", "VocSplit", "split_names", "write_voc", "voc_labelmap", "check_item_name", "check_names"]


@dataclass(frozen=True)
class VocItem:
    """One image of the dataset: its name (file stem), source image file and label map (H,W) uint8."""

    name: str
    image_path: Path
    labels: np.ndarray


@dataclass(frozen=True)
class VocSplit:
    train: tuple[str, ...]
    val: tuple[str, ...]


def split_names(names: Iterable[str], val_fraction: float = 0.2, seed: int = 0) -> VocSplit:
    """Seeded split: shuffle the sorted names with numpy's PCG64(seed), the first round(n * val_fraction)
    (at least one when there are two or more images and val_fraction > 0) are val."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val fraction must be in [0, 1), got {val_fraction}")
    names = sorted(set(names))
    n_val = int(round(len(names) * val_fraction))
    if val_fraction > 0 and len(names) >= 2:
        n_val = min(max(n_val, 1), len(names) - 1)
    order = np.random.default_rng(seed).permutation(len(names))
    val = {names[i] for i in order[:n_val]}
    return VocSplit(tuple(n for n in names if n not in val), tuple(n for n in names if n in val))


def _jpeg_bytes(path: Path, shape: tuple[int, int], scaling=None) -> bytes:
    """The image as JPEG: the file itself if it is an upright JPEG of the label's size, else re-encoded (as the app
    shows it: ``scaling``, the folder's bands and scaling, for 16-bit, float and multi-band images)."""
    try:
        with Image.open(path) as img:
            upright = img.format == "JPEG" and img.getexif().get(0x0112, 1) == 1 and img.mode in ("RGB", "L")
            same = (img.height, img.width) == shape
    except OSError:
        upright = same = False
    if upright and same:
        return path.read_bytes()
    rgb = read_image(path, scaling=scaling)
    if rgb.shape[:2] != shape:
        raise LabelIOError(f"{path}: image is {rgb.shape[1]}x{rgb.shape[0]} but its labels are "
                           f"{shape[1]}x{shape[0]}")
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def check_item_name(name: str, image_path, seen, where: str = "VOC image set files", spaces: bool = False) -> None:
    """VOC-style image set files hold one name per line without spaces (``spaces``: a format without such lists
    may hold them), each name once: LabelIOError if not."""
    if not name or (not spaces and any(c.isspace() for c in name)) or "\n" in name or "\r" in name:
        raise LabelIOError(f"{image_path}: {where} cannot hold the name {name!r} (it has a space); rename the "
                           f"image")
    if name in seen:
        raise LabelIOError(f"{image_path}: another image is also named {name!r}; the dataset needs one name per "
                           f"image")


def check_names(named, where: str = "VOC image set files", spaces: bool = False) -> None:
    """check_item_name for every (name, image path) of ``named`` before anything is written: a dataset refused
    halfway would leave half its files behind."""
    seen: set = set()
    for name, image_path in named:
        check_item_name(name, image_path, seen, where, spaces)
        seen.add(name)


def voc_labelmap(class_list: ClassList) -> tuple[str, list[str]]:
    """labelmap.txt for the VOC PNGs (class i's line is label i, then void), and the colour clashes that keep
    datumaro and CVAT from telling classes apart (the PNGs stay right for loaders that read the index)."""
    labels = [(n, c) for n, c in zip(class_list.names, class_list.palette)] + [(void_name(class_list), VOID_COLOUR)]
    return labelmap_text(labels), colour_clashes(labels)


def write_voc(root: str | Path, items: Iterable[VocItem], class_list: ClassList, val_fraction: float = 0.2,
              seed: int = 0, scaling=None) -> VocSplit:
    """Write the dataset under root (created; existing files of the same names are replaced atomically)."""
    root = Path(root)
    split_dir = root / "ImageSets" / "Segmentation"
    labelmap, _ = voc_labelmap(class_list)          # a name the format cannot hold is refused before any write
    names: list[str] = []
    for item in items:
        check_item_name(item.name, item.image_path, names)
        labels = np.asarray(item.labels)
        write_bytes_atomic(root / "JPEGImages" / f"{item.name}.jpg", _jpeg_bytes(Path(item.image_path), labels.shape,
                                                                                      scaling))
        write_bytes_atomic(root / "SegmentationClass" / f"{item.name}.png", encode_label_png(labels, class_list))
        names.append(item.name)
    split = split_names(names, val_fraction, seed)
    for part, members in (("train", split.train), ("val", split.val), ("trainval", tuple(sorted(names)))):
        write_text_atomic(split_dir / f"{part}.txt", "".join(f"{n}\n" for n in members))
    write_text_atomic(root / "class_names.txt", "".join(f"{n}\n" for n in class_list.names))
    write_text_atomic(root / LABELMAP_FILE, labelmap)
    return split
