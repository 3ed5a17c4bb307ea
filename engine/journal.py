"""Recovery journal: unsaved edits autosaved per image, so a crash (even kill -9) loses at most a few seconds.

Each image gets one compressed .npz (labels + locks + a JSON header) in a recovery folder, written atomically
(temp file, fsync, os.replace), so an entry on disk is always a complete earlier or later autosave. An entry
exists only while the image has unsaved edits: save the label file, then discard() the entry. On start,
pending() lists what a previous session left behind and restore() brings it back.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LabelIOError
from .io.atomic import write_bytes_atomic

__all__ = ["RecoveryJournal", "JournalEntry", "RecoveredEdits", "default_recovery_dir", "FORMAT"]

FORMAT = "deeplab-annotator-recovery/1"
_SUFFIX = ".recovery.npz"
log = logging.getLogger(__name__)


def default_recovery_dir(labels_dir: str | Path) -> Path:
    """Where a folder's journal lives: a hidden folder beside its label PNGs."""
    return Path(labels_dir) / ".recovery"


@dataclass(frozen=True)
class JournalEntry:
    """One unsaved image found in the journal (header only; arrays are read by restore)."""

    image_id: str
    path: Path
    saved_at: float  # time.time() of the autosave
    shape: tuple[int, int]
    edited_pixels: int
    meta: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class RecoveredEdits:
    """Arrays of a restored entry: labels (H,W) uint8 and locked (H,W) bool."""

    image_id: str
    labels: np.ndarray
    locked: np.ndarray
    saved_at: float
    meta: dict = field(default_factory=dict, compare=False)


class RecoveryJournal:
    """Autosaves and recovers per-image edits in one folder (created on first save)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path_for(self, image_id: str) -> Path:
        """File of an image's entry: a readable stem plus a hash of the full id (ids may hold '/' or be long)."""
        digest = hashlib.sha1(image_id.encode("utf-8")).hexdigest()[:16]
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(image_id).stem)[:60] or "image"
        return self.folder / f"{stem}-{digest}{_SUFFIX}"

    def save(self, image_id: str, labels: np.ndarray, locked: np.ndarray, meta: dict | None = None) -> Path:
        """Atomically write the current edits of one image; raises LabelIOError (disk full, read-only)."""
        labels = np.asarray(labels)
        locked = np.asarray(locked)
        if labels.ndim != 2 or labels.dtype != np.uint8:
            raise ValueError(f"journal labels must be (H,W) uint8, got {labels.shape} {labels.dtype}")
        if locked.shape != labels.shape:
            raise ValueError(f"journal locks {locked.shape} differ from labels {labels.shape}")
        header = {"format": FORMAT, "image_id": image_id, "saved_at": time.time(),
                  "shape": list(labels.shape), "edited_pixels": int(np.count_nonzero(locked)),
                  "meta": meta or {}}
        try:
            header_json = json.dumps(header)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"journal meta for {image_id!r} must be JSON-serialisable: {exc}") from exc
        buf = io.BytesIO()
        np.savez_compressed(buf, labels=labels, locked=np.packbits(locked.astype(bool), axis=None),
                            header=np.array(header_json))
        path = self.path_for(image_id)
        write_bytes_atomic(path, buf.getvalue())
        return path

    def pending(self) -> list[JournalEntry]:
        """Entries left in the folder, oldest first; unreadable files are logged and skipped, not fatal."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*" + _SUFFIX)):
            try:
                header = self._read_header(path)
            except LabelIOError as exc:
                log.warning("skipping recovery file: %s", exc)
                continue
            found.append(JournalEntry(header["image_id"], path, float(header["saved_at"]),
                                      tuple(header["shape"]), int(header.get("edited_pixels", 0)),
                                      header.get("meta", {})))
        return sorted(found, key=lambda e: e.saved_at)

    def has(self, image_id: str) -> bool:
        return self.path_for(image_id).is_file()

    def restore(self, image_id: str, expected_shape: tuple[int, int] | None = None) -> RecoveredEdits:
        """Arrays of an entry; raises LabelIOError if it is missing, damaged or not the expected image size."""
        path = self.path_for(image_id)
        if not path.is_file():
            raise LabelIOError(f"no recovery entry for {image_id!r} in {self.folder}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                header = json.loads(str(npz["header"]))
                labels = np.array(npz["labels"])
                packed = np.array(npz["locked"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise LabelIOError(f"recovery file {path} is damaged ({exc}); discard it") from exc
        shape = tuple(header.get("shape", ()))
        if header.get("image_id") != image_id or labels.shape != shape or labels.dtype != np.uint8:
            raise LabelIOError(f"recovery file {path} does not hold {image_id!r} labels of shape {shape}")
        n = labels.size
        if packed.dtype != np.uint8 or packed.size * 8 < n:
            raise LabelIOError(f"recovery file {path}: lock mask is truncated")
        locked = np.unpackbits(packed, count=n).astype(bool).reshape(shape)
        if expected_shape is not None and tuple(expected_shape) != shape:
            raise LabelIOError(f"recovery file {path} is for a {shape[1]}x{shape[0]} image, but {image_id!r} "
                               f"is now {expected_shape[1]}x{expected_shape[0]}; it was changed on disk")
        return RecoveredEdits(image_id, labels, locked, float(header["saved_at"]), header.get("meta", {}))

    def discard(self, image_id: str) -> None:
        """Drop an image's entry (after its label file was saved, or the user declined recovery)."""
        try:
            self.path_for(image_id).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LabelIOError(f"could not remove recovery file {self.path_for(image_id)}: {exc}") from exc

    def clean_temp_files(self, older_than_s: float = 60.0) -> int:
        """Remove temp files that a killed autosave left behind; returns how many."""
        if not self.folder.is_dir():
            return 0
        removed, now = 0, time.time()
        for tmp in self.folder.glob(".*.tmp"):
            try:
                if now - tmp.stat().st_mtime >= older_than_s:
                    tmp.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    @staticmethod
    def _read_header(path: Path) -> dict:
        try:
            with np.load(path, allow_pickle=False) as npz:
                header = json.loads(str(npz["header"]))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise LabelIOError(f"{path} is damaged ({exc})") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT or "image_id" not in header:
            raise LabelIOError(f"{path} is not a {FORMAT} file")
        return header
