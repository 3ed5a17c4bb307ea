"""Reading an image of the folder to open it: its pixels (or the prefetched ones) and its saved labels, with what
is wrong with them said rather than raised. Worker-thread work: decoding a large TIFF or JPEG is slow."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EngineError
from ..io.provenance import read_provenance


@dataclass(frozen=True)
class OpenedImage:
    """image (H,W,3) uint8; alpha or None; saved labels or None; machine: the saved labels are a pre-labelling run's,
    not reviewed; problem: a message about the saved labels (unreadable, or another size: replaced on save);
    hand: (H,W) bool, the saved pixels a person edited (their provenance sidecar's record; all of them for
    imported labels), or None when no sidecar says."""

    image: np.ndarray
    alpha: np.ndarray | None
    saved: np.ndarray | None
    machine: bool
    problem: str | None
    hand: np.ndarray | None = None
    label_stamp: tuple | None = None   # file_stamp of the label file, taken before it was read
    image_stamp: tuple | None = None   # image_stamp of the image file, taken before it was read


def file_stamp(path: Path) -> tuple | None:
    """What tells one version of a file from another, or None where there is no file: a save compares it with the
    stamp taken when the labels were read, so it never writes over labels another window or program saved since
    without asking. The bytes' digest, not the inode or the time: a network drive may report new ones for the same
    file, and a file saved again with the same labels changes nothing."""
    try:
        with open(path, "rb") as fh:
            return ("bytes", hashlib.blake2b(fh.read(), digest_size=16).hexdigest())
    except FileNotFoundError:
        return None
    except OSError as exc:   # (a folder in its place, unreadable: counted as changed, so the save asks)
        return ("unreadable", exc.errno)


def image_stamp(path: Path) -> tuple | None:
    """Size and modification time of an image file (its bytes would cost too much to hash at 100 MP), or None where
    there is none: a save asks before writing labels drawn on an image another program has since replaced."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def read_for_opening(dataset, index: int, background, cached=None) -> OpenedImage:
    """Image ``index`` of ``dataset`` with the folder's scaling (or ``cached``'s pixels, a prefetched image) and its
    saved labels. Raises EngineError only when the image itself cannot be read."""
    pixels = image_stamp(dataset[index].path)
    if cached is None:
        image, alpha = dataset.read_image(index, background, with_alpha=True)
    else:
        image, alpha = cached.image, cached.alpha
    saved, problem, machine = None, None, False
    stamp = file_stamp(dataset[index].label_path)
    try:
        saved = dataset.load_labels(index)
        machine = saved is not None and dataset.is_machine_labelled(index)
        if saved is not None and saved.shape != image.shape[:2]:
            path = dataset[index].label_path
            saved, problem = None, (f"{path}: label size {saved.shape} does not match the image {image.shape[:2]}; "
                                    f"when you save, it is kept as {path.name}.replaced")
    except EngineError as exc:
        problem = str(exc)
    hand = None if saved is None or machine else _hand_edited(dataset[index].label_path, saved.shape)
    return OpenedImage(image, alpha, saved, machine, problem, hand, stamp, pixels)


def _hand_edited(label_path, shape) -> np.ndarray | None:
    """The pixels of a saved label file its provenance sidecar records as edited by a person, or None (no sidecar,
    a damaged one, or one for another size: nothing is known, nothing is protected beyond today's locks)."""
    try:
        record = read_provenance(label_path)
        if record is None or (record.height, record.width) != tuple(shape):
            return None
        mask = record.edited_mask()
    except EngineError:
        return None
    return mask if mask.any() else None


def next_readable(order: list[int], refused: int, skipped: list[int], unreadable) -> int | None:
    """After image ``refused`` failed while a folder opened: the next in display ``order`` (wrapping around) that
    is neither in ``skipped`` nor ``unreadable(i)``; None when there is none."""
    pos = order.index(refused) if refused in order else -1
    for i in order[pos + 1:] + order[:max(pos, 0)]:
        if i not in skipped and not unreadable(i):
            return i
    return None
