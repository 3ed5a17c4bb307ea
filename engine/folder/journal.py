"""Recovery journal: unsaved edits autosaved per image, so a crash (even kill -9) loses at most a few seconds.

Each image gets one compressed .npz (labels + locks + a JSON header) in a recovery folder, written atomically
(temp file, fsync, os.replace), so an entry on disk is always a complete earlier or later autosave. An entry
exists only while the image has unsaved edits: save the label file, then discard() the entry. On start,
pending() lists what a previous session left behind and restore() brings it back.

Entries are read without trust (engine.folder.journal_entry): a damaged one is moved to `damaged/` inside the journal
folder, with a note saying why, and the rest of the folder opens as usual. File names are derived from
os.fsencode(image_id), so any name the file system allows (including bytes that are not UTF-8) has an entry.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import LabelIOError
from engine.folder.journal_entry import FORMAT, DamagedEntry, read_entry
from engine.io.atomic import move_aside, write_bytes_atomic

__all__ = ["RecoveryJournal", "JournalEntry", "RecoveredEdits", "DamagedEntry", "Quarantined",
           "default_recovery_dir", "FORMAT", "DAMAGED_DIRNAME"]

_SUFFIX = ".recovery.npz"
DAMAGED_DIRNAME = "damaged"
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
class Quarantined:
    """A damaged entry moved aside: where it was, where it is now (None if it could not be moved), and why."""

    path: Path
    moved_to: Path | None
    reason: str

    def message(self) -> str:
        where = f"moved to {self.moved_to}" if self.moved_to else "could not be moved aside; it is skipped"
        return f"{self.path.name}: {self.reason} ({where})"


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
        self.damaged: list[Quarantined] = []   # what the last pending()/restore() moved aside

    def path_for(self, image_id: str) -> Path:
        """File of an image's entry: a readable stem plus a hash of the full id (ids may hold '/' or be long, or
        be a file name that is not valid UTF-8, which Python holds as surrogate escapes: os.fsencode takes both)."""
        digest = hashlib.sha1(os.fsencode(image_id)).hexdigest()[:16]
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

    def pending(self, quarantine: bool = True) -> list[JournalEntry]:
        """Entries left in the folder, oldest first. A damaged file is never fatal: it is moved to damaged/
        (quarantine=True, the folder's writer) or just skipped, and listed in self.damaged either way."""
        self.damaged = []
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*" + _SUFFIX)):
            try:
                header, _, _ = read_entry(path, arrays=False)
            except DamagedEntry as exc:
                self._damaged(exc, quarantine)
                continue
            if path != self.path_for(header.image_id):
                self._damaged(DamagedEntry(path, f"it names image {header.image_id!r}, whose entry has another "
                                                 f"file name"), quarantine)
                continue
            found.append(JournalEntry(header.image_id, path, header.saved_at, header.shape, header.edited_pixels,
                                      header.meta))
        return sorted(found, key=lambda e: e.saved_at)

    def is_empty(self) -> bool:
        """No entry is left (damaged ones moved aside do not count)."""
        return not self.folder.is_dir() or not any(self.folder.glob("*" + _SUFFIX))

    def has(self, image_id: str) -> bool:
        return self.path_for(image_id).is_file()

    def restore(self, image_id: str, expected_shape: tuple[int, int] | None = None,
                n_classes: int | None = None) -> RecoveredEdits:
        """Arrays of an entry; raises LabelIOError if it is missing or not the expected image size, and
        DamagedEntry (after moving the file to damaged/) if it is damaged or, given n_classes, names a label that
        is no class of the model."""
        path = self.path_for(image_id)
        if not path.is_file():
            raise LabelIOError(f"no recovery entry for {image_id!r} in {self.folder}")
        try:
            header, labels, locked = read_entry(path, arrays=True, expected_shape=expected_shape,
                                                n_classes=n_classes)
            if header.image_id != image_id:
                raise DamagedEntry(path, f"it holds image {header.image_id!r}, not {image_id!r}")
        except DamagedEntry as exc:
            moved = self._damaged(exc, quarantine=True)
            where = f"; it was moved to {moved.moved_to}" if moved.moved_to else ""
            raise DamagedEntry(path, exc.reason + where) from exc
        return RecoveredEdits(image_id, labels, locked, header.saved_at, header.meta)

    def quarantine(self, path: Path, reason: str) -> Quarantined:
        """Move a damaged entry to damaged/ (never deleted: a person may still want to look at it), with a
        <name>.why.txt beside it."""
        moved = None
        try:
            moved = move_aside(path, self.folder / DAMAGED_DIRNAME, reason)
        except OSError as exc:
            log.warning("could not move damaged recovery file %s aside: %s", path, exc)
        return Quarantined(path, moved, reason)

    def _damaged(self, exc: DamagedEntry, quarantine: bool) -> Quarantined:
        record = self.quarantine(exc.path, exc.reason) if quarantine else Quarantined(exc.path, None, exc.reason)
        log.warning("damaged recovery file: %s", record.message())
        self.damaged.append(record)
        return record

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
