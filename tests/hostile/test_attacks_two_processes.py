"""Issue 26 item 15: a second window on a folder where another one has unsaved, autosaved work got no warning and
no lock prompt. Two real processes must see the folder lock (engine/folder/lock.py): a process holding it through
the engine API, also from its own pid namespace (a sandbox or container, where its pid means nothing here), is
seen by the window in this test process; and the real app started on a folder this test's window holds asks."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from engine.folder.journal import RecoveryJournal
from gui.app import start
from gui.dialogs import prompts
from gui.menus import folder_lock
from gui.session.folder_guard import READ_ONLY
from tests.support.gui_fixtures import close_window, env, open_window, wait_ready  # noqa: F401
from tests.support.paths import ROOT

# A window's stand-in in another process: takes the lock, autosaves an edit of img1.png, says so, and waits.
_HOLDER = """
import os, sys, time
import numpy as np
from engine.folder.journal import RecoveryJournal
from engine.folder.lock import FolderLock
labels = sys.argv[1]
lock = FolderLock(labels)
outcome = lock.acquire().value
edit = np.zeros((96, 128), np.uint8)
edit[5:15, 5:25] = 2
RecoveryJournal(os.path.join(labels, ".recovery")).save("img1.png", edit, edit == 2, {"base": "model"})
print(outcome, os.getpid(), flush=True)
time.sleep(120)
"""


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], timeout=20,
                              capture_output=True).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.parametrize("namespace", ["same", pytest.param("own", marks=pytest.mark.skipif(
    not _unshare_works(), reason="needs `unshare --pid` (root or user namespaces)"))])
def test_a_window_sees_another_process_holding_the_folder(qtbot, tmp_path, env, monkeypatch, namespace):
    folder, model = env
    labels = folder / "labels"
    labels.mkdir()
    cmd = [sys.executable, "-c", _HOLDER, str(labels)]
    if namespace == "own":   # its pid (1 there) is another process here, started at another time: looks stale
        cmd = ["unshare", "--pid", "--fork", "--mount-proc", *cmd]
    holder = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, start_new_session=True)
    asked, restore_asked = [], []
    monkeypatch.setattr(folder_lock, "ask_lock_choice", lambda parent, who, f: asked.append(who) or READ_ONLY)
    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: restore_asked.append(entries) or True)
    warned = []
    monkeypatch.setattr(prompts, "warn", lambda parent, title, text: warned.append(text))
    w = open_window(tmp_path)
    try:
        outcome, pid = holder.stdout.readline().decode().split()
        assert outcome == "acquired"
        entry = (labels / ".recovery").glob("*.npz").__next__().read_bytes()
        start(w, folder, model)
        assert [h.pid for h in asked] == [int(pid)]               # asked, naming the other process
        assert w.ctl.guard.read_only and w.windowTitle().endswith("[read-only]")
        assert restore_asked == []                                 # its live autosave is no crash to restore
        wait_ready(qtbot, w)
        assert not w.save() and warned[-1].startswith("Read-only: process")   # read-only: nothing written
        assert (labels / ".recovery").glob("*.npz").__next__().read_bytes() == entry
    finally:
        close_window(w, monkeypatch)
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    asked.clear()                                                  # the holder is gone: its lock is stale,
    w = open_window(tmp_path)                                      # taken without asking, its work offered
    try:
        start(w, folder, model)
        assert asked == [] and not w.ctl.guard.read_only
        assert [e.image_id for e in restore_asked[-1]] == ["img1.png"]
        st = wait_ready(qtbot, w)
        assert (st.labels[5:15, 5:25] == 2).all()
    finally:
        close_window(w, monkeypatch)


def test_the_real_app_asks_on_a_folder_this_window_holds(qtbot, tmp_path, env, monkeypatch):
    """`main.py FOLDER --screenshot` in another process: it must stop at the lock question (logged), not
    take the folder nor offer this window's autosave as a crash restore."""
    folder, model = env
    w = open_window(tmp_path)
    proc = None
    try:
        start(w, folder, model)
        wait_ready(qtbot, w)
        w.ctl.editor.set_paint_class(2)
        w.ctl.editor.begin_stroke((10, 20))
        w.ctl.editor.stroke_to((40, 20))
        w.ctl.editor.end_stroke()
        w.ctl.recovery.flush()
        journal = RecoveryJournal(folder / "labels" / ".recovery")
        assert journal.has("img1.png")
        shot = tmp_path / "second.png"
        env2 = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config2")}
        proc = subprocess.Popen([sys.executable, "main.py", str(folder), "--model", str(model), "--screenshot",
                                 str(shot)], cwd=ROOT, env=env2, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        os.set_blocking(proc.stdout.fileno(), False)
        out, deadline = b"", time.monotonic() + 120
        while b"asking whether to open it read-only" not in out and time.monotonic() < deadline \
                and proc.poll() is None:
            qtbot.wait(200)                                        # this window keeps running meanwhile
            out += proc.stdout.read() or b""
        text = out.decode(errors="replace")
        assert f"is held by process {os.getpid()}" in text, text[-3000:]
        qtbot.wait(1000)
        assert proc.poll() is None and not shot.exists()           # waiting at the question, not working
        assert w.ctl.guard.may_write() and journal.has("img1.png")
        np.testing.assert_array_equal(journal.restore("img1.png").locked, w.ctl.state.locked)
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        close_window(w, monkeypatch)
