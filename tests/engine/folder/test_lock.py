"""The folder lock (engine.folder.lock): one writer per labels folder; a live holder is reported, a dead one's
lock is taken over, a take-over is noticed by the window that lost it."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

from engine.folder.lock import LOCK_NAME, FolderLock, Outcome, read_lock
from tests.support.paths import ROOT

_HOLDER = ("import sys, time; sys.path.insert(0, {root!r}); from engine.folder.lock import FolderLock; "
           "lock = FolderLock({folder!r}); print(lock.acquire().value, flush=True); time.sleep(120)")


def _holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER.format(root=str(ROOT), folder=str(folder))],
                            stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout.readline().strip() == b"acquired"
    return proc


def test_lock_holds_pid_host_and_time_and_is_released(tmp_path):
    lock = FolderLock(tmp_path / "labels")
    assert lock.acquire() == Outcome.ACQUIRED and lock.holds()
    info = json.loads((tmp_path / "labels" / LOCK_NAME).read_text())
    assert info["pid"] == os.getpid() and info["host"] == socket.gethostname() and info["started"][:2] == "20"
    lock.release()
    assert not (tmp_path / "labels" / LOCK_NAME).exists() and not lock.holds()


def test_a_second_window_in_the_same_process_is_told_who_holds_it(tmp_path):
    first, second = FolderLock(tmp_path), FolderLock(tmp_path)
    assert first.acquire() == Outcome.ACQUIRED
    assert second.acquire() == Outcome.HELD and second.holder.pid == os.getpid()
    assert "process" in second.holder.describe() and first.holds()
    second.take_over()                                   # the user chose "take over"
    assert second.holds() and not first.holds()          # the first window notices before its next write
    first.release()                                      # not ours any more: left alone
    assert read_lock(tmp_path / LOCK_NAME).token == second.info.token


def test_a_live_process_holds_it_and_its_death_frees_it(tmp_path):
    proc = _holder(tmp_path)
    try:
        lock = FolderLock(tmp_path)
        assert lock.acquire() == Outcome.HELD and lock.holder.pid == proc.pid
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert FolderLock(tmp_path).acquire() == Outcome.TOOK_STALE   # the dead pid's lock goes without asking


def test_reused_pid_damaged_lock_and_forgotten_lock_are_stale(tmp_path):
    mine = FolderLock(tmp_path)
    path = tmp_path / LOCK_NAME
    reused = replace(mine.info, pid=os.getppid(), pid_start="1")  # a live pid, but not the process that locked
    path.write_text(json.dumps(asdict(reused)))
    assert mine.acquire() == Outcome.TOOK_STALE
    mine.release()
    path.write_text("{ not json")
    assert FolderLock(tmp_path).acquire() == Outcome.TOOK_STALE
    path.write_text(json.dumps(asdict(replace(mine.info, token="gone"))))   # this process, no live owner
    assert FolderLock(tmp_path).acquire() == Outcome.TOOK_STALE


def test_another_hosts_lock_is_not_guessed_stale(tmp_path):
    info = replace(FolderLock(tmp_path).info, host="some-other-machine", pid=1)
    (tmp_path / LOCK_NAME).write_text(json.dumps(asdict(info)))
    lock = FolderLock(tmp_path)
    assert lock.acquire() == Outcome.HELD and lock.holder.host == "some-other-machine"


def test_an_unwritable_folder_is_reported(tmp_path):
    (tmp_path / "labels").write_text("a file where the labels folder should be")
    lock = FolderLock(tmp_path / "labels")
    assert lock.acquire() == Outcome.UNAVAILABLE and "cannot write the lock file" in lock.problem
