"""Never lose what the model learnt either: a real app session with "Adapt the model to corrections" on paints two
strokes, autosaves and is killed with SIGKILL; the window that restores the edits takes up the head they taught
from the journal (not retaught from the locks), so it shows exactly the labels the killed window showed."""
import os
import signal
import subprocess
import sys

import numpy as np

from engine.learn.head_store import HeadStore, JournalledHead
from gui.app import start
from gui.dialogs import prompts
from tests.support.gui_fixtures import close_window, open_window, wait_image, wait_ready
from tests.support.learn_fixtures import write_folder
from tests.support.paths import ROOT

_SESSION = r'''
import os, sys, time
sys.path.insert(0, {root!r})
os.environ["QT_QPA_PLATFORM"] = "offscreen"
import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from engine.demo.annotator import next_stroke
from engine.paths import DEMO_V1
from gui.app import start
from gui.main_window import MainWindow
from tests.support.learn_fixtures import paint_stroke, shifted_scene


def main():
    app = QApplication([])
    settings = QSettings({settings!r}, QSettings.Format.IniFormat)
    settings.setValue("crf/backend", "fast")
    w = MainWindow(settings)
    w.show()
    w.editing.auto_refine.setChecked(True)
    start(w, {folder!r}, DEMO_V1)

    def until(cond, timeout=120):
        end = time.time() + timeout
        while not cond():
            if time.time() > end:
                raise SystemExit("timed out")
            app.processEvents()
            time.sleep(0.005)
    ready = lambda: (w.ctl.state is not None and w.ctl.state.index == w.ctl.index and w.ctl.state.crf_labels
                     is not None and w.ctl.state.crf_params == w.crf_panel.params() and not w.ctl.busy)
    until(ready)
    w.go(+1)                                   # the second image: the head carries to it from nowhere yet
    until(lambda: w.ctl.state is not None and w.ctl.state.index == 1 and ready())
    gt = shifted_scene({start} + 1).labels
    for _ in range(2):
        paint_stroke(w, next_stroke(w.ctl.state.labels, gt))
        until(lambda: ready() and not w.ctl.adapt.learning)
    assert not w.ctl.adapt.head.is_original
    journal = w.ctl.recovery.journal
    until(lambda: not w.ctl.recovery.pending_write and journal.has("img2.png"))
    np.savez({expected!r}, labels=w.ctl.state.labels, locked=w.ctl.state.locked)
    print("autosaved", w.ctl.adapt.head.strokes, flush=True)
    while True:                                # the work is only in memory and the journal now
        app.processEvents()
        time.sleep(0.01)


if __name__ == "__main__":
    main()
'''

START = 2   # shifted scenes 2 and 3: the demo model is confidently wrong on large regions there


def test_a_killed_adapted_session_comes_back_with_its_head(qtbot, tmp_path, monkeypatch):
    folder = write_folder(tmp_path / "site", 2, start=START)
    expected = tmp_path / "expected.npz"
    code = _SESSION.format(root=str(ROOT), settings=str(tmp_path / "child.ini"), folder=str(folder),
                           expected=str(expected), start=START)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=ROOT, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    try:
        line = child.stdout.readline()
        assert line.startswith(b"autosaved"), child.stderr.read().decode()[-3000:]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    want = np.load(expected)
    names = sorted(p.name for p in (folder / "labels").iterdir())
    assert "img2.png" not in names and ".model" not in names      # nothing was saved: all in the journal

    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: True)
    w = open_window(tmp_path, backend="fast")
    try:
        w.editing.auto_refine.setChecked(True)
        from engine.paths import DEMO_V1
        start(w, folder, DEMO_V1)
        wait_ready(qtbot, w)
        assert w.go_next_unsaved() and w.ctl.index == 1
        wait_image(qtbot, w, 1)
        st = wait_ready(qtbot, w, timeout=60000)
        qtbot.waitUntil(lambda: not w.ctl.adapt.learning and not w.ctl.busy, timeout=60000)
        st = wait_ready(qtbot, w, timeout=60000)
        np.testing.assert_array_equal(st.locked, want["locked"])
        diff = int((st.labels != want["labels"]).sum())
        assert diff == 0, f"{diff} of {st.labels.size} pixels differ from what the killed window showed"
        assert w.ctl.adapt.head.strokes == int(line.split()[1])
        _a_stroke_after_the_restore_keeps_what_the_restored_head_learnt(qtbot, w, int(line.split()[1]))
        assert w.save()
        assert HeadStore(folder / "labels", w.ctl.loader.loaded.sha256).path.is_file()
        assert not list(JournalledHead(folder / "labels", w.ctl.loader.loaded.sha256).folder.iterdir())
    finally:
        close_window(w, monkeypatch)


def _a_stroke_after_the_restore_keeps_what_the_restored_head_learnt(qtbot, w, restored: int):
    """A walk: the first stroke after a restore counted 1 stroke, not 2, and was held to the restored head as if
    carried (gated), which took back 44 % of what the restored stroke had taught. A stroke that only confirms
    what the image shows, far from the locks, now changes little, and the count goes on from the restored one."""
    from engine.demo.annotator import Stroke
    from tests.support.learn_fixtures import paint_stroke

    st = w.ctl.state
    before = st.raw_labels.copy()
    far = np.ones(st.locked.shape, bool)
    ys, xs = np.nonzero(st.locked)
    far[max(ys.min() - 40, 0):ys.max() + 40, max(xs.min() - 40, 0):xs.max() + 40] = False
    agree = far & (st.raw_labels == st.labels)
    agree[:8], agree[-8:], agree[:, :8], agree[:, -8:] = False, False, False, False
    y, x = np.argwhere(agree)[len(np.argwhere(agree)) // 2]
    paint_stroke(w, Stroke(((int(x) - 4, int(y)), (int(x) + 4, int(y))), 3, int(st.labels[y, x])))
    qtbot.waitUntil(lambda: not w.ctl.adapt.learning and not w.ctl.busy, timeout=60000)
    st = wait_ready(qtbot, w, timeout=60000)
    assert w.ctl.adapt.head.strokes == restored + 1
    changed = float((st.raw_labels != before).mean())
    # (measured: 3.7 % with the restored head held as shown, 14.5 % held gated)
    assert changed < 0.07, f"{changed:.1%} of the network's labels changed after a stroke that confirmed them"


def test_declined_edits_take_their_journalled_head_with_them(qtbot, tmp_path, monkeypatch):
    from engine.checkpoints import load_checkpoint
    from engine.folder.journal import RecoveryJournal
    from engine.paths import DEMO_V1

    folder = write_folder(tmp_path / "site", 2, start=START)
    labels = folder / "labels"
    RecoveryJournal(labels / ".recovery").save("img1.png", np.zeros((120, 160), np.uint8),
                                               np.ones((120, 160), bool))
    journal = JournalledHead(labels, load_checkpoint(DEMO_V1).sha256)
    journal.save(None, (), (), {"img1.png": (1, None)})
    assert journal.original_marker.is_file()
    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: False)
    w = open_window(tmp_path, backend="fast")
    try:
        start(w, folder, DEMO_V1)
        wait_ready(qtbot, w)
        assert not RecoveryJournal(labels / ".recovery").pending() and not journal.original_marker.exists()
    finally:
        close_window(w, monkeypatch)


def test_a_damaged_journalled_head_is_set_aside_with_a_message_and_the_edits_still_come_back(qtbot, tmp_path,
                                                                                            monkeypatch):
    from engine.checkpoints import load_checkpoint
    from engine.folder.journal import RecoveryJournal
    from engine.paths import DEMO_V1

    folder = write_folder(tmp_path / "site", 2, start=START)
    labels = folder / "labels"
    locked = np.zeros((120, 160), bool)
    locked[40:60, 40:80] = True
    RecoveryJournal(labels / ".recovery").save("img1.png", np.where(locked, 2, 0).astype(np.uint8), locked)
    journal = JournalledHead(labels, load_checkpoint(DEMO_V1).sha256)
    journal.folder.mkdir(parents=True)
    journal.store.path.write_bytes(b"PK\x03\x04 cut short by the crash")
    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: True)
    errors = []
    w = open_window(tmp_path, backend="fast")
    w.ctl.error.connect(errors.append)
    try:
        start(w, folder, DEMO_V1)
        st = wait_ready(qtbot, w, timeout=60000)
        qtbot.waitUntil(lambda: any("could not be restored" in e for e in errors), timeout=20000)
        said = next(e for e in errors if "could not be restored" in e)
        assert "teach the model again" in said and "labels are untouched" not in said   # (a walk: it was not so)
        assert not journal.store.path.exists() and list((journal.folder / "damaged").glob("*.why.txt"))
        np.testing.assert_array_equal(st.locked, locked)               # the edits came back all the same
        assert (st.labels[locked] == 2).all()
    finally:
        close_window(w, monkeypatch)
