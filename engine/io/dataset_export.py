"""Export a folder's saved labels (engine.folder.dataset.Dataset) as COCO, labelme or VOC; the same code runs for
File > Export and for `deeplab-annotator export`. Only saved labels are exported, in folder order.

The dataset is taken as a parameter and only read (``entries``, ``labels_dir``): engine/io sits below engine/folder
and does not import it (tests/test_architecture.py)."""
from __future__ import annotations

from pathlib import Path

from ..errors import EngineError
from ..labels import ClassList, load_class_list
from .exports import CocoImage, write_coco, write_labelme, write_labelme_labels
from .labels import CLASS_NAMES_FILE, read_label_palette, read_label_png
from .voc_export import VocItem, write_voc

__all__ = ["saved_labels", "export_coco", "export_labelme", "export_voc", "EXPORTERS", "saved_class_list"]


def saved_labels(dataset):
    """(entry, labels) of every image with a label file, in folder order."""
    for entry in dataset.entries:
        if entry.label_path.is_file():
            yield entry, read_label_png(entry.label_path)


def export_coco(dataset, class_list: ClassList, path: Path, **_) -> str:
    """One COCO JSON (RLE masks) of every saved image."""
    images = [CocoImage(entry.path.name, labels) for entry, labels in saved_labels(dataset)]
    write_coco(path, images, class_list)
    return f"{len(images)} image{'s' if len(images) != 1 else ''}"


def export_labelme(dataset, class_list: ClassList, folder: Path, **_) -> str:
    """<label name>.json per saved image, and labels.txt for labelme2voc, into ``folder``."""
    n = 0
    for entry, labels in saved_labels(dataset):
        write_labelme(Path(folder) / f"{entry.label_path.stem}.json", labels, class_list, entry.path)
        n += 1
    write_labelme_labels(folder, class_list)   # also when no image is saved yet
    return f"{n} image{'s' if n != 1 else ''}"


def export_voc(dataset, class_list: ClassList, folder: Path, val_fraction: float = 0.2, seed: int = 0) -> str:
    """A VOC segmentation dataset under ``folder`` with a seeded train/val split."""
    items = (VocItem(entry.label_path.stem, entry.path, labels) for entry, labels in saved_labels(dataset))
    split = write_voc(folder, items, class_list, val_fraction, seed)
    n = len(split.train) + len(split.val)
    return f"{n} image{'s' if n != 1 else ''} (train {len(split.train)}, val {len(split.val)}, seed {seed})"


EXPORTERS = {"coco": export_coco, "labelme": export_labelme, "voc": export_voc}


def saved_class_list(dataset) -> ClassList:
    """The class list the folder's labels were saved with: labels/class_names.txt, colours from a label PNG."""
    names_file = dataset.labels_dir / CLASS_NAMES_FILE
    if not names_file.is_file():
        raise EngineError(f"{names_file} not found: save labels in the app first, or pass --classes FILE")
    names = load_class_list(names_file).names
    first = next((e.label_path for e in dataset.entries if e.label_path.is_file()), None)
    if first is None:
        return ClassList(names)
    palette = read_label_palette(first)[:len(names)]
    return ClassList(names, tuple(tuple(int(v) for v in row) for row in palette))
