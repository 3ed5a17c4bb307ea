"""Export a folder's saved labels (engine.folder.dataset.Dataset) as COCO, labelme, VOC, CVAT masks or YOLO-seg;
the same code runs for File > Export and for `deeplab-annotator export`. Only saved labels are exported, in folder
order. Every exporter takes ``progress(done, total)``, called after each image (the CLI's bar, the window's status
line; it may raise Cancelled), and returns a one-line summary.

The dataset is taken as a parameter and only read (``entries``, ``labels_dir``): engine/io sits below engine/folder
and does not import it (tests/test_architecture.py).
"""
from __future__ import annotations

import functools
from pathlib import Path

from ..errors import EngineError, LabelIOError
from ..labels import ClassList, load_class_list
from .atomic import WriteFailed
from .cvat_export import CVAT_NAMES, CvatItem, write_cvat_masks
from .exports import CocoImage, write_coco, write_labelme, write_labelme_labels
from .labels import CLASS_NAMES_FILE, read_label_palette, read_label_png
from .voc_export import VocItem, check_names, split_names, voc_labelmap, write_voc
from .yolo_export import YOLO_NAMES, YoloItem, write_yolo_seg

__all__ = ["saved_entries", "saved_labels", "unreviewed_note", "export_coco", "export_labelme", "export_voc",
           "export_cvat_masks", "export_yolo_seg", "EXPORTERS", "writes_file", "target_conflict", "saved_class_list"]


def writes_file(kind: str, target: Path) -> bool:
    """True if ``kind`` writes one file at ``target`` (coco; cvat-mask into a .zip), False if a folder."""
    return kind == "coco" or (kind == "cvat-mask" and Path(target).suffix.lower() == ".zip")


def target_conflict(kind: str, target: Path) -> tuple[str, str]:
    """(wrong, existing) for an export target: ``wrong`` says why ``target`` cannot take this kind at all (a folder
    where one file is written, or the other way round), ``existing`` what the export would write into (an existing
    file, a folder that is not empty); '' when there is nothing to say. The CLI and the window word their answer."""
    target = Path(target)
    if writes_file(kind, target):
        if target.is_dir():
            return f"{target} is a folder, but {kind} writes one file here", ""
        return "", (f"{target} already exists" if target.exists() else "")
    if target.exists() and not target.is_dir():
        return f"{target} is a file, but {kind} writes a folder", ""
    try:
        busy = target.is_dir() and any(target.iterdir())
    except OSError:
        busy = False
    return "", (f"{target} is not empty" if busy else "")


def unreviewed_note(machine: int, reviewed: bool, option: str) -> str:
    """What an export did with the ``machine`` pre-labelled files nobody reviewed (said, never a surprise):
    ``reviewed``: left out; else included, and ``option`` (the CLI's flag, the window's menu entry) leaves them out."""
    if not machine:
        return ""
    if reviewed:
        return f" ({machine} pre-labelled, not reviewed, left out)"
    return f" ({machine} of them pre-labelled, not reviewed: {option} leaves them out)"


def saved_entries(dataset) -> list:
    """The entries with a label file, in folder order."""
    return [entry for entry in dataset.entries if entry.label_path.is_file()]


def saved_labels(dataset, progress=None):
    """(entry, labels) of every image with a label file, in folder order; progress(0, total) first (a bar from the
    start: one 12 MP labelme export takes minutes), then progress(done, total) after each."""
    entries = saved_entries(dataset)
    if progress is not None and entries:
        progress(0, len(entries))
    for done, entry in enumerate(entries, start=1):
        yield entry, read_label_png(entry.label_path)
        if progress is not None:
            progress(done, len(entries))


def _check_names(dataset, where: str, spaces: bool = False) -> None:
    """Every saved image's dataset name checked before the first file is written (LabelIOError)."""
    check_names(((e.label_path.stem, e.path) for e in saved_entries(dataset)), where, spaces)


def _check_utf8(dataset, where: str) -> None:
    """Every saved image's file name valid UTF-8, checked before the first file is written: JSON names the image
    as text (a walk's bad\xffname.png stopped a labelme export half-way with a bare codec error, and COCO wrote
    a file_name that matches no file)."""
    for entry in saved_entries(dataset):
        try:
            entry.path.name.encode("utf-8")
        except UnicodeEncodeError:
            shown = entry.path.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise LabelIOError(f"{shown}: its file name is not valid UTF-8, and {where} name each image as UTF-8 "
                               "text; rename the file (its labels file follows on the next save), then export "
                               "again") from None


def _images(n: int) -> str:
    return f"{n} image{'s' if n != 1 else ''}"


def _plain_errors(fn):
    """A failed write says what failed and why, without the window's wording about unsaved edits."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except WriteFailed as exc:
            raise LabelIOError(f"could not write {exc.path}: {exc.reason}; free space or pick another output") \
                from exc
    return run


@_plain_errors
def export_coco(dataset, class_list: ClassList, path: Path, progress=None, **_) -> str:
    """One COCO JSON (RLE masks) of every saved image."""
    _check_utf8(dataset, "COCO files")
    images = [CocoImage(entry.path.name, labels) for entry, labels in saved_labels(dataset, progress)]
    write_coco(path, images, class_list)
    return _images(len(images))


@_plain_errors
def export_labelme(dataset, class_list: ClassList, folder: Path, progress=None, **_) -> str:
    """<label name>.json per saved image, and labels.txt for labelme2voc, into ``folder``."""
    _check_utf8(dataset, "labelme files")
    n = embedded = 0
    for entry, labels in saved_labels(dataset, progress):
        data = write_labelme(Path(folder) / f"{entry.label_path.stem}.json", labels, class_list, entry.path,
                             scaling=dataset.image_settings)
        n, embedded = n + 1, embedded + (data["imageData"] is not None)
    write_labelme_labels(folder, class_list)   # also when no image is saved yet
    note = (f"; {embedded} carry their image, which labelme cannot open from the file (CMYK, 16-bit or "
            f"another mode it does not show)" if embedded else "")
    return _images(n) + note


def _clash_note(clashes: list[str]) -> str:
    return (f"; warning: {'; '.join(clashes[:3])}: datumaro and CVAT read the masks by colour and cannot tell them "
            f"apart (recolour one in the Classes panel)" if clashes else "")


@_plain_errors
def export_voc(dataset, class_list: ClassList, folder: Path, val_fraction: float = 0.2, seed: int = 0,
               progress=None, **_) -> str:
    """A VOC segmentation dataset under ``folder`` with a seeded train/val split and datumaro's labelmap.txt."""
    _check_names(dataset, "VOC image set files")
    items = (VocItem(entry.label_path.stem, entry.path, labels) for entry, labels in saved_labels(dataset, progress))
    split = write_voc(folder, items, class_list, val_fraction, seed, scaling=dataset.image_settings)
    n = len(split.train) + len(split.val)
    return (f"{_images(n)} (train {len(split.train)}, val {len(split.val)}, seed {seed})"
            + _clash_note(voc_labelmap(class_list)[1]))


@_plain_errors
def export_cvat_masks(dataset, class_list: ClassList, target: Path, progress=None, **_) -> str:
    """CVAT "Segmentation mask 1.1" into the folder ``target``, or a ZIP when it ends in .zip."""
    _check_names(dataset, CVAT_NAMES)
    items = (CvatItem(entry.label_path.stem, entry.path, labels) for entry, labels in saved_labels(dataset, progress))
    return _images(write_cvat_masks(target, items, class_list)) + " (masks only: CVAT matches them to the task's " \
                                                                  "images by name)"


@_plain_errors
def export_yolo_seg(dataset, class_list: ClassList, folder: Path, val_fraction: float = 0.2, seed: int = 0,
                    progress=None, **_) -> str:
    """An Ultralytics YOLO-seg dataset under ``folder`` (images, polygon label files, data.yaml)."""
    _check_names(dataset, YOLO_NAMES, spaces=True)   # no list files: spaces are fine
    split = split_names([e.label_path.stem for e in saved_entries(dataset)], val_fraction, seed)
    items = (YoloItem(entry.label_path.stem, entry.path, labels) for entry, labels in saved_labels(dataset, progress))
    train, val, polygons, dropped = write_yolo_seg(folder, items, class_list, split.val,
                                                   scaling=dataset.image_settings)
    note = f", {dropped} speck{'s' if dropped != 1 else ''} under 3 outline points dropped" if dropped else ""
    return f"{_images(train + val)} (train {train}, val {val}, seed {seed}), {polygons} polygons{note}"


EXPORTERS = {"coco": export_coco, "labelme": export_labelme, "voc": export_voc, "cvat-mask": export_cvat_masks,
             "yolo-seg": export_yolo_seg}


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
