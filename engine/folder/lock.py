"""One writer per folder: a lock file (pid, host, start time, a random token) in the labels folder.

Why: two windows on one folder overwrite each other's saves and take each other's live autosaves for crash
leftovers. The first window holds the lock; a second one is told who holds it and chooses read-only or take-over.
A lock whose process is gone (same host, pid dead or reused) is stale and taken over without asking. The holder
checks `holds()` before every write, so a window that was taken over stops writing and says so.
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

from engine.limits import MAX_LOCK_BYTES

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


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True   # exists, owned by someone else
    except OSError:
        return True
    return True


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


def is_stale(info: LockInfo) -> bool:
    """True if the holder is certainly gone: unparseable lock, or same host and the pid is dead or reused, or
    this very process holding a token no live FolderLock owns any more (a window closed without releasing)."""
    if info.pid == 0 and not info.token:
        return True
    if info.host != socket.gethostname():
        return False  # cannot look at another machine's processes: ask the user
    if info.pid == os.getpid():
        with _LIVE:
            return info.token not in _LIVE_TOKENS
    if not _alive(info.pid):
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
        if is_stale(current):
            try:
                self._replace()
            except OSError as exc:
                self.problem = f"cannot replace the stale lock file {self.path} ({exc.strerror or exc})"
                return Outcome.UNAVAILABLE
            now = read_lock(self.path)  # two windows replacing the same stale lock: the last rename wins
            return self._took(Outcome.TOOK_STALE) if now and now.token == self.info.token else self._held_by(now)
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

    def _staged(self) -> Path:
        tmp = self.path.with_name(f".lock.{self.info.token}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(self._payload())
            fh.flush()
            os.fsync(fh.fileno())
        return tmp

    def _create(self) -> bool:
        """Atomically create the lock with its full content (a hard link never exists half-written)."""
        tmp = self._staged()
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            try:  # no hard links here (FAT, some network shares): exclusive create instead
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._payload())
            return True
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def _replace(self) -> None:
        os.replace(self._staged(), self.path)

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
        with _LIVE:
            _LIVE_TOKENS.discard(self.info.token)


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
    if holder is not None and not is_stale(holder):
        return ""
    return sweep_temp_files(folder).message()
