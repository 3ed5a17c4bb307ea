"""Write files so a crash or full disk leaves the old file or the new one, never half of one.

Temporary files are named `.<name>.<host>-<pid>.<random>.tmp`: <host> is a short hash of the machine's name and
<pid> the writing process, so a start-up sweep can tell a killed writer's leftovers (remove) from a live
writer's file (never touch; `temp_in_use`). Names of older versions, without an owner, count as leftovers.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import LabelIOError

HOST_TAG = hashlib.sha1(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]
FOREIGN_GRACE_S = 3600.0   # another machine's temporary file (a shared folder) is a leftover only after an hour
_NAME_BYTES = 120          # of the target's name kept in a temporary name: long names must still save
_OWNED = re.compile(r"^\..*\.([0-9a-f]{8})-(\d+)\.[A-Za-z0-9_]+\.tmp$", re.DOTALL)
_WRITING: set[str] = set()  # temporary files this process is writing or has staged, by full path
_WRITING_LOCK = threading.Lock()


def temp_name_prefix(name: str) -> str:
    """`.<name>.<host>-<pid>.`: what mkstemp puts before its random part (the name cut to _NAME_BYTES)."""
    short = os.fsdecode(os.fsencode(name)[:_NAME_BYTES])
    return f".{short}.{HOST_TAG}-{os.getpid()}."


def temp_owner(filename: str) -> tuple[str, int] | None:
    """(host tag, pid) of one of our temporary file names; None for a name without an owner."""
    m = _OWNED.match(filename)
    return (m.group(1), int(m.group(2))) if m else None


def process_alive(pid: int) -> bool:
    """Is process ``pid`` running on this machine? (A pid of another user's process counts as alive.)"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def owner_alive(host: str, pid: int, path: Path, now: float | None = None) -> bool:
    """May the process that named ``path`` (host tag, pid) still use it? This process: while it writes it;
    another one here: while it runs; another machine's: for FOREIGN_GRACE_S after the file last changed."""
    if host == HOST_TAG:
        if pid == os.getpid():
            with _WRITING_LOCK:
                return str(path) in _WRITING
        return process_alive(pid)
    try:
        age = (time.time() if now is None else now) - path.lstat().st_mtime
    except OSError:
        return False
    return age < FOREIGN_GRACE_S


def temp_in_use(path: Path) -> bool:
    """Is this temporary file (our naming) possibly still used by a live writer? Unowned names: no."""
    owner = temp_owner(path.name)
    return owner is not None and owner_alive(*owner, path)


def mark_writing(*paths) -> None:
    """Mark files as this process's work in progress: a sweep in this process leaves them (`done_temp` ends it)."""
    with _WRITING_LOCK:
        _WRITING.update(str(p) for p in paths)


def make_temp(folder: Path, name: str) -> tuple[int, str]:
    """mkstemp in ``folder`` with our owner-tagged name for target ``name``, marked as in progress (call
    `done_temp` once it is renamed or removed)."""
    fd, tmp = tempfile.mkstemp(prefix=temp_name_prefix(name), suffix=".tmp", dir=folder)
    with _WRITING_LOCK:
        _WRITING.add(tmp)
    return fd, tmp


def done_temp(*tmps) -> None:
    with _WRITING_LOCK:
        _WRITING.difference_update(str(t) for t in tmps)


_FULL = (errno.ENOSPC, errno.EDQUOT)
_REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)


def what_to_do(exc: OSError) -> str:
    """What a user can do about a failed write: free space for a full disk, permissions for a refused one."""
    if exc.errno in _FULL:
        return "Free space or pick another folder."
    if exc.errno in _REFUSED:
        return "Make the folder writable or pick another folder."
    return "Check the disk or pick another folder."


def explain_os_error(exc: OSError) -> str:
    """Why a write failed, in words a user can act on."""
    if exc.errno in _FULL:
        return "the disk is full"
    if exc.errno in _REFUSED:
        return "the folder is read-only or you lack permission"
    return exc.strerror or str(exc)


class WriteFailed(LabelIOError):
    """A write failed; the message is the window's (the edits are still in memory), ``path`` and ``reason`` let
    other callers (exports, the CLI) say it their own way."""

    def __init__(self, path: Path, reason: str, advice: str = "Free space or pick another folder."):
        super().__init__(f"could not save {path}: {reason}. Your edits are still in memory. {advice}")
        self.path, self.reason = path, reason


@contextmanager
def open_atomic(path: str | Path):
    """A binary file to write ``path`` through: a temp file in the same folder, flushed, fsynced and renamed into
    place when the block ends without an error (then the folder is fsynced); removed otherwise. WriteFailed."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = make_temp(path.parent, path.name)
        os.fchmod(fd, _default_mode())  # mkstemp makes 0600 files; saved labels should be as readable as any file
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        done_temp(tmp)
        tmp = None
        _fsync_dir(path.parent)
    except OSError as exc:
        raise WriteFailed(path, explain_os_error(exc), what_to_do(exc)) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            done_temp(tmp)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Temp file in the same folder, flush, fsync, os.replace, fsync the folder (open_atomic)."""
    with open_atomic(path) as fh:
        fh.write(data)


def _read_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


_FILE_MODE = 0o666 & ~_read_umask()  # read once at import: os.umask is process-wide and not thread-safe


def _default_mode() -> int:
    """The mode open() would have given a new file."""
    return _FILE_MODE


def write_text_atomic(path: str | Path, text: str) -> None:
    """UTF-8 text, atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def move_aside(path: Path, target_dir: Path, reason: str) -> Path:
    """Move a damaged file into ``target_dir`` (never deleted: a person may still want to look at it), under its own
    name or, when that is taken, with the time, pid and a counter added (never over an earlier one), with
    <name>.why.txt beside it. Returns where it went; OSError when it could not be moved (the note is a courtesy)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    if target.exists() or target.is_symlink():
        stem = f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        target, n = target_dir / stem, 1
        while target.exists() or target.is_symlink():
            target, n = target_dir / f"{stem}-{n}", n + 1
    os.replace(path, target)
    try:
        write_text_atomic(target_dir / f"{target.name}.why.txt", reason + "\n")
    except LabelIOError:
        pass
    return target
