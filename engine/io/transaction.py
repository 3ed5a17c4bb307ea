"""Save several files as one: every new file is staged first, then all are renamed into place, or none are.

Why: a label PNG, its provenance sidecar and class_names.txt describe each other. Saved one by one, a full disk
after the PNG left a new PNG beside an old sidecar while the user was told nothing was saved.

Protocol (all in one folder, or a subfolder of it given by name, so every rename is atomic):
1. stage: each new file is written to a temporary file `.<name>.<host>-<pid>.<random>.tmp` (engine.io.atomic)
   and fsynced. A failure here (disk full) removes the staged files: the old set is untouched.
2. commit point: a small intent record `.save-<host>-<pid>-<id>.commit` listing (temporary -> final) is written
   atomically.
3. rename every temporary file over its final name, fsync the folder, remove the intent record.
A file a save keeps in a subfolder (the head the strokes taught, in labels/.model/) is staged and renamed there,
named in the record as `<subfolder>/<name>`, so it is committed with the labels it learnt from.
A crash before 2 leaves only temporary files (the start-up sweep removes them: the old set stands); a crash
after 2 leaves the intent record, and recover() rolls the save forward (its temporaries are complete and
fsynced): either way the folder holds one consistent set. The sweep and recover() leave alone whatever a live
writer (a pre-labelling run, `main.py predict`, another thread) named: only a dead writer's files are its to touch.
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile  # noqa: F401 (tests replace transaction.tempfile.mkstemp to fill the disk)
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LabelIOError
from .atomic import (
    HOST_TAG,
    _default_mode,
    _fsync_dir,
    done_temp,
    explain_os_error,
    make_temp,
    mark_writing,
    owner_alive,
    temp_in_use,
    what_to_do,
    write_bytes_atomic,
)

__all__ = ["SaveTransaction", "recover", "sweep_temp_files", "SweepReport", "INTENT_GLOB"]

INTENT_GLOB = ".save-*.commit"
_TEMP = re.compile(r"^\..+\.tmp$")
_LOCK_TEMP = re.compile(r"^\.lock\.[0-9a-f]+\.tmp$")  # another window taking the folder lock: not ours to remove
_INTENT_OWNER = re.compile(r"^\.save-([0-9a-f]{8})-(\d+)-[0-9a-f]+\.commit$")
log = logging.getLogger(__name__)


class SaveTransaction:
    """Stage files with stage(), then commit() them together; abort() (or an error) leaves the old files."""

    def __init__(self, folder: str | Path):
        self.folder = Path(os.path.abspath(folder))   # (temporary files come back absolute: compared as such)
        self._staged: list[tuple[Path, Path]] = []   # (temporary, final)
        self._remove: list[Path] = []               # finals to delete in the same commit (a stale sidecar)

    def stage(self, path: str | Path, data: bytes) -> None:
        """Write data to a temporary file beside `path` (fsynced); LabelIOError, with nothing changed, if not.
        `path` is in the transaction's folder or in a subfolder of it (one level, not a link)."""
        path = Path(path)
        self._check_place(path)
        tmp = None
        try:
            fd, tmp = make_temp(path.parent, path.name)   # in progress until commit() or abort() ends
            os.fchmod(fd, _default_mode())
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            if tmp is not None:
                _unlink(Path(tmp))
                done_temp(tmp)
            self.abort()
            raise LabelIOError(f"could not save {path}: {explain_os_error(exc)}. Nothing was changed on disk (the "
                               f"previous files are intact); your edits are still in memory. {what_to_do(exc)}") \
                from exc
        self._staged.append((Path(tmp), path))

    def remove(self, path: str | Path) -> None:
        """Delete `path` as part of the commit (if it exists then)."""
        path = Path(path)
        self._check_place(path)
        self._remove.append(path)

    def _check_place(self, path: Path) -> None:
        path = Path(os.path.abspath(path))
        if path.parent != self.folder and (path.parent.parent != self.folder or path.parent.is_symlink()):
            raise ValueError(f"{path} is not in the transaction's folder {self.folder} or a subfolder of it")

    def _name(self, path: Path) -> str:
        """How the intent record names `path`: its name, or `<subfolder>/<name>`."""
        path = Path(os.path.abspath(path))
        return path.name if path.parent == self.folder else f"{path.parent.name}/{path.name}"

    def commit(self) -> None:
        """Rename everything into place. LabelIOError if the intent record cannot be written (nothing changed)
        or a rename fails (the save is then completed by recover() when the folder is next opened)."""
        recover(self.folder)   # an earlier interrupted save (this process's too) goes first: it is older
        self._check_finals()
        intent = self.folder / f".save-{HOST_TAG}-{os.getpid()}-{uuid.uuid4().hex[:12]}.commit"
        # a subfolder's files first (the head): if one of their renames fails, the labels are not replaced yet and
        # the folder still holds the old set (a walk blocked the head file: the new labels stood beside the old head)
        staged = sorted(self._staged, key=lambda tf: Path(os.path.abspath(tf[1])).parent == self.folder)
        record = {"replace": [[self._name(t), self._name(f)] for t, f in staged],
                  "remove": [self._name(p) for p in self._remove]}
        mark_writing(intent)
        try:
            write_bytes_atomic(intent, json.dumps(record).encode("utf-8"))
        except LabelIOError as exc:
            done_temp(intent)
            self.abort()
            cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
            why = explain_os_error(cause) if cause is not None else str(exc)
            names = ", ".join(f.name for _, f in self._staged) or "the files"
            raise LabelIOError(f"could not save {names} in {self.folder}: {why}. Nothing was changed on disk (the "
                               f"previous files are intact); your edits are still in memory.") from exc
        try:
            _apply(self.folder, record)
            _unlink(intent)
            _fsync_dir(self.folder)
            _supersede(self.folder, {f for _, f in record["replace"]} | set(record["remove"]))
        except OSError as exc:
            raise LabelIOError(f"the save into {self.folder} was interrupted ({exc.strerror or exc}); it will be "
                               f"completed when the folder is next opened. Your edits are still in memory.") from exc
        finally:   # done or interrupted: from now on a sweep (here too) may finish what is left
            done_temp(intent, *(t for t, _ in self._staged))
        self._staged, self._remove = [], []

    def _check_finals(self) -> None:
        """Before the commit point: a final name held by a folder would fail its rename after the others were done
        (a walk put a folder where a label PNG was: the head file was replaced, the labels were not, and the save
        was promised for the next opening, where it failed again). Refused here, with nothing changed."""
        for _, final in self._staged:
            if final.is_dir() and not final.is_symlink():
                self.abort()
                raise LabelIOError(f"could not save {final.name}: {final} is a folder, not a file. Nothing was "
                                   "changed on disk (the previous files are intact); your edits are still in "
                                   "memory. Move or rename that folder, then save again.")

    def abort(self) -> None:
        for tmp, _ in self._staged:
            _unlink(tmp)
        done_temp(*(t for t, _ in self._staged))
        self._staged, self._remove = [], []


def _safe_name(name) -> str:
    if not isinstance(name, str) or not name or name in (".", "..") or os.path.basename(name) != name \
            or "\0" in name:
        raise ValueError(f"not a plain file name: {name!r:.80}")
    return name


def _place(folder: Path, name) -> Path:
    """The path an intent record's entry names: a plain file name in `folder`, or `<subfolder>/<name>` in a
    subfolder of it that is a real folder (not a link out of it)."""
    if isinstance(name, str) and name.count("/") == 1:
        sub, leaf = name.split("/")
        sub_path = folder / _safe_name(sub)
        if sub_path.is_symlink():
            raise ValueError(f"not a subfolder of the labels folder: {sub!r:.80} is a link")
        return sub_path / _safe_name(leaf)
    return folder / _safe_name(name)


def _apply(folder: Path, record: dict) -> None:
    """Do (or finish) the renames of an intent record; a temporary already renamed is simply absent."""
    touched, renames = {folder}, []
    for tmp_name, final_name in record.get("replace", []):   # every entry checked before anything is renamed
        tmp, final = _place(folder, tmp_name), _place(folder, final_name)
        if not _TEMP.match(tmp.name):
            raise ValueError(f"not a staged temporary file: {tmp.name!r}")
        if tmp.parent != final.parent:
            raise ValueError(f"a staged file renamed into another folder: {tmp_name!r:.80} -> {final_name!r:.80}")
        renames.append((tmp, final))
    removals = [_place(folder, name) for name in record.get("remove", [])]
    for tmp, final in renames:
        if tmp.exists():
            os.replace(tmp, final)
            touched.add(final.parent)
    for path in removals:
        _unlink(path)
        touched.add(path.parent)
    for place in sorted(touched, key=str, reverse=True):   # a subfolder's renames first, the folder last
        _fsync_dir(place)


@dataclass
class SweepReport:
    """What the start-up sweep of a labels folder did."""
    completed: list[str] = field(default_factory=list)   # interrupted saves rolled forward (their final names)
    removed: list[str] = field(default_factory=list)     # stale temporary files deleted
    problems: list[str] = field(default_factory=list)
    committed: dict[str, float] = field(default_factory=dict)   # final name -> when its save was committed (mtime)

    def message(self) -> str:
        parts = []
        if self.completed:
            parts.append(f"completed an interrupted save of {', '.join(sorted(self.completed)[:5])}")
        if self.removed:
            parts.append(f"removed {len(self.removed)} temporary file(s) left by an interrupted save")
        parts.extend(self.problems)
        return "; ".join(parts)


def recover(folder: str | Path, report: SweepReport | None = None) -> SweepReport:
    """Roll forward every committed but unfinished save in `folder`. Call only as the folder's writer."""
    folder, report = Path(folder), report or SweepReport()
    if not folder.is_dir():
        return report
    for intent in sorted(folder.glob(INTENT_GLOB)):
        if _intent_in_use(intent):
            continue       # a live writer between its commit record and its renames: its own to finish
        try:
            with open(intent, "rb") as fh:
                record = json.loads(fh.read(1 << 20).decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not a record")
            committed_at = intent.stat().st_mtime
            _apply(folder, record)
            report.completed.extend(str(f) for _, f in record.get("replace", []))
            report.committed.update({str(f): committed_at for _, f in record.get("replace", [])})
            _unlink(intent)
        except (OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
            report.problems.append(f"could not complete the interrupted save recorded in {intent.name} ({exc}); "
                                   f"it was left in place")
    return report


def sweep_temp_files(folder: str | Path, report: SweepReport | None = None, subfolders=()) -> SweepReport:
    """Finish interrupted saves, then delete the temporary files no save will use, in `folder` and in the
    `subfolders` (names) its saves write into. Call only as the folder's writer (holding its lock): any temporary
    file is then a dead writer's."""
    folder = Path(folder)
    report = recover(folder, report)
    if not folder.is_dir():
        return report
    pending = set()
    for intent in folder.glob(INTENT_GLOB):  # left in place above: keep what it refers to
        try:
            pending.update(t for t, _ in json.loads(intent.read_text("utf-8")).get("replace", []))
        except (OSError, ValueError, TypeError, AttributeError):
            pass
    places = [(folder, "")] + [(folder / s, f"{s}/") for s in subfolders
                               if (folder / s).is_dir() and not (folder / s).is_symlink()]
    for place, prefix in places:
        for entry in place.iterdir():
            if _TEMP.match(entry.name) and not _LOCK_TEMP.match(entry.name) and prefix + entry.name not in pending \
                    and (entry.is_file() or entry.is_symlink()) and not temp_in_use(entry):
                if _unlink(entry):
                    report.removed.append(prefix + entry.name)
    if report.completed or report.removed or report.problems:
        log.info("labels folder %s: %s", folder, report.message())
    return report


def _supersede(folder: Path, finals: set[str]) -> None:
    """A save just wrote ``finals``: an older interrupted save still pending (it could not be completed) must not
    roll its files over them at the next opening (a walk: a head file blocked by a folder, repaired, saved again;
    reopening would have put the stale head back). Its entries for those names go, with their temporary files."""
    for intent in sorted(folder.glob(INTENT_GLOB)):
        if _intent_in_use(intent):
            continue
        try:
            record = json.loads(intent.read_text("utf-8"))
            replace, remove = record.get("replace", []), record.get("remove", [])
            stale = [e for e in replace if e[1] in finals]
            if not stale and not set(remove) & finals:
                continue
            for tmp_name, _ in stale:
                _unlink(_place(folder, tmp_name))
            left = {"replace": [e for e in replace if e[1] not in finals],
                    "remove": [n for n in remove if n not in finals]}
            if left["replace"] or left["remove"]:
                write_bytes_atomic(intent, json.dumps(left).encode("utf-8"))
            else:
                _unlink(intent)
        except (OSError, ValueError, TypeError, AttributeError, IndexError, LabelIOError) as exc:
            log.warning("could not update the interrupted save %s: %s", intent, exc)


def _intent_in_use(intent: Path) -> bool:
    m = _INTENT_OWNER.match(intent.name)
    return m is not None and owner_alive(m.group(1), int(m.group(2)), intent)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)
        return False
