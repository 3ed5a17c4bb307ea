"""Write files so a crash or full disk leaves the old file or the new one, never half of one."""
from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..errors import LabelIOError


def explain_os_error(exc: OSError) -> str:
    """Why a write failed, in words a user can act on."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the folder is read-only or you lack permission"
    return exc.strerror or str(exc)


class WriteFailed(LabelIOError):
    """A write failed; the message is the window's (the edits are still in memory), ``path`` and ``reason`` let
    other callers (exports, the CLI) say it their own way."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"could not save {path}: {reason}. Your edits are still in memory; free space or pick "
                         f"another folder.")
        self.path, self.reason = path, reason


@contextmanager
def open_atomic(path: str | Path):
    """A binary file to write ``path`` through: a temp file in the same folder, flushed, fsynced and renamed into
    place when the block ends without an error (then the folder is fsynced); removed otherwise. WriteFailed."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, _default_mode())  # mkstemp makes 0600 files; saved labels should be as readable as any file
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)
    except OSError as exc:
        raise WriteFailed(path, explain_os_error(exc)) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


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
