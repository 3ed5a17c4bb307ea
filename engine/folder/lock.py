"""One writer per folder: a lock file (pid, host, start time, a random token) in the labels folder.

Why: two windows on one folder overwrite each other's saves and take each other's live autosaves for crash
leftovers. The first window holds the lock; a second one is told who holds it and chooses read-only or take-over.
A lock whose process is gone (same host, pid dead or reused) is stale and taken over without asking. The holder
checks `holds()` before every write, so a window that was taken over stops writing and says so.
The holder also keeps an advisory lock (flock) on the lock file's inode for as long as it holds it; the kernel drops
it when the process ends, even by kill -9. A pid alone cannot tell: a window in a sandbox or container (its own pid
namespace, same host name) looks dead or reused from outside, and was taken over without asking (issue 26).
Qt-free; the GUI asks the question (gui/menus/folder_lock.py).
"""
from __future__ import annotations

import errno
import json
import os
import socket
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from engine.io.atomic import process_alive
from engine.limits import MAX_LOCK_BYTES

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows: the pid checks alone)
    fcntl = None

LOCK_NAME = ".lock"
FORMAT = "deeplab-annotator-lock/1"
_LIVE_TOKENS: set[str] = set()  # tokens held by FolderLock objects of this process
_LIVE = threading.Lock()


class Outcome(str, Enum):
    ACQUIRED = "acquired"        # no lock was there: ours now
    TOOK_STALE = "took-stale"    # a dead process's lock: replaced by ours
    HELD = "held"                # a live holder (see FolderLock.holder): the caller must ask
    UNAVAILABLE = "unavailable"  # the lock cannot be written (read-only folder): nobody can save here anyway


@dataclass(frozen=True)
class LockInfo:
    pid: int
    host: str
    started: str                 # ISO time the lock was taken
    token: str
    pid_start: str = ""          # the process's start time per /proc (tells a reused pid apart)
    format: str = FORMAT

    def describe(self) -> str:
        when = self.started.replace("T", " ")[:19]
        return f"process {self.pid} on {self.host}, since {when}"


def _proc_start(pid: int) -> str:
    """Start time of a process in clock ticks since boot (Linux); '' where /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read(4096)
        return raw.rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError, ValueError):
        return ""


def read_lock(path: Path) -> LockInfo | None:
    """The lock at path; None if there is none. A lock that cannot be parsed is returned as pid 0 (stale)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_LOCK_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError:
        return LockInfo(0, "", "", "")
    try:
        d = json.loads(raw.decode("utf-8"))
        return LockInfo(pid=int(d["pid"]), host=str(d["host"])[:255], started=str(d.get("started", ""))[:64],
                        token=str(d["token"])[:64], pid_start=str(d.get("pid_start", ""))[:32])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, OverflowError):
        return LockInfo(0, "", "", "")


def flock_held(path: Path) -> bool | None:
    """Does a live process hold the advisory lock of the lock file at ``path``? None where that cannot be told
    (no such file, no flock on this file system)."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)   # closing drops the shared lock we may have taken
    return False


def is_stale(info: LockInfo, path: Path | None = None) -> bool:
    """True if the holder is certainly gone: unparseable lock, or nobody holds the lock file's flock (``path``)
    and, on the same host, the pid is dead or reused, or this very process holds a token no live FolderLock owns
    any more (a window closed without releasing)."""
    if info.pid == 0 and not info.token:
        return True
    if info.host == socket.gethostname() and info.pid == os.getpid():
        with _LIVE:
            return info.token not in _LIVE_TOKENS
    if path is not None and flock_held(path):
        return False     # its holder runs, whatever its pid looks like from here
    if info.host != socket.gethostname():
        return False  # cannot look at another machine's processes: ask the user
    if not process_alive(info.pid):   # another user's process counts as alive
        return True
    return bool(info.pid_start) and _proc_start(info.pid) not in ("", info.pid_start)


class FolderLock:
    """The lock of one labels folder, for one window."""

    def __init__(self, labels_dir: str | Path):
        self.path = Path(labels_dir) / LOCK_NAME
        self.info = LockInfo(pid=os.getpid(), host=socket.gethostname(),
                             started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             token=uuid.uuid4().hex, pid_start=_proc_start(os.getpid()))
        self.holder: LockInfo | None = None   # who held it when acquire() said HELD
        self.problem = ""                     # why it was UNAVAILABLE
        self._held = False
        self._fd: int | None = None           # open on the lock file while held, with its flock

    def __del__(self):   # a lock object dropped without release(): its descriptor must not keep the flock
        if getattr(self, "_fd", None) is not None:
            self._close()

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> Outcome:
        """Take the lock if it is free or stale; otherwise report who holds it (never blocks, never waits)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._create():
                return self._took(Outcome.ACQUIRED)
        except OSError as exc:
            self.problem = f"cannot write the lock file {self.path} ({exc.strerror or exc})"
            return Outcome.UNAVAILABLE
        current = read_lock(self.path)
        if current is None:  # released between our two looks
            return self.acquire()
        if is_stale(current, self.path):
            try:
                self._replace()
            except OSError as exc:
                self.problem = f"cannot replace the stale lock file {self.path} ({exc.strerror or exc})"
                return Outcome.UNAVAILABLE
            now = read_lock(self.path)  # two windows replacing the same stale lock: the last rename wins
            if now and now.token == self.info.token:
                return self._took(Outcome.TOOK_STALE)
            self._close()
            return self._held_by(now)
        return self._held_by(current)

    def take_over(self) -> None:
        """Make this window the folder's writer, whoever held it (the user chose to)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._replace()
        self._took(None)

    def holds(self) -> bool:
        """Is the lock file still ours? (Another window may have taken over.) Costs one small read."""
        if not self._held:
            return False
        current = read_lock(self.path)
        if current is None or current.token != self.info.token:
            self._forget()
            return False
        return True

    def release(self) -> None:
        """Remove the lock if it is still ours."""
        if self._held and self.holds():
            try:
                self.path.unlink()
            except OSError:
                pass
        self._forget()

    # ---- internals ----
    def _payload(self) -> bytes:
        return json.dumps(asdict(self.info)).encode("utf-8")

    def _staged(self) -> tuple[Path, int]:
        """The lock's content in a temporary file, fsynced, flocked: (its path, the open descriptor)."""
        tmp = self.path.with_name(f".lock.{self.info.token}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o644)
        try:
            os.write(fd, self._payload())
            os.fsync(fd)
            _flock(fd)    # before the file is visible as the lock: no moment where it shows unheld
        except OSError:
            os.close(fd)
            raise
        return tmp, fd

    def _create(self) -> bool:
        """Atomically create the lock with its full content (a hard link never exists half-written)."""
        tmp, fd = self._staged()
        try:
            os.link(tmp, self.path)
            self._keep(fd)
            return True
        except FileExistsError:
            os.close(fd)
            return False
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            try:  # no hard links here (FAT, some network shares): exclusive create instead
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            except FileExistsError:
                return False
            os.write(fd, self._payload())
            _flock(fd)
            self._keep(fd)
            return True
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def _replace(self) -> None:
        tmp, fd = self._staged()
        try:
            os.replace(tmp, self.path)
        except OSError:
            os.close(fd)
            raise
        self._keep(fd)

    def _keep(self, fd: int) -> None:
        """Hold ``fd`` (and its flock) while this lock is held."""
        self._close()
        self._fd = fd

    def _close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def _took(self, outcome):
        self._held, self.holder = True, None
        with _LIVE:
            _LIVE_TOKENS.add(self.info.token)
        return outcome

    def _held_by(self, info: LockInfo | None) -> Outcome:
        self.holder = info
        return Outcome.HELD

    def _forget(self) -> None:
        self._held = False
        self._close()
        with _LIVE:
            _LIVE_TOKENS.discard(self.info.token)


def _flock(fd: int) -> None:
    """An exclusive advisory lock on fd's file, where the file system has them (else only the pid checks)."""
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass


def sweep_unless_held(labels_dir: str | Path) -> str:
    """For writers that take no lock (a pre-labelling run, `main.py predict` into a labels folder): at their start,
    finish interrupted saves and remove the temporary files killed writers left in ``labels_dir``, unless a live
    window holds the folder (it swept when it opened it, and it is the folder's writer). A live writer's files
    are never touched (engine.io.transaction). Returns what was done, '' for nothing."""
    from engine.io.transaction import sweep_temp_files

    folder = Path(labels_dir)
    if not folder.is_dir():
        return ""
    holder = read_lock(folder / LOCK_NAME)
    if holder is not None and not is_stale(holder, folder / LOCK_NAME):
        return ""
    return sweep_temp_files(folder).message()
