"""Saving labels never leaves a broken file: SIGKILL mid-save, full disk and read-only folders."""
import errno
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from engine.annotate.edits import EditableLabels
from engine.errors import LabelIOError
from engine.io.labels import read_label_png, write_label_png
from engine.labels import voc_classes
from tests.support.paths import ROOT


def _version(v: int, h=900, w=1200) -> np.ndarray:
    """Large, poorly compressible label maps so a save takes long enough to be interrupted."""
    return np.random.default_rng(v).integers(0, 21, (h, w)).astype(np.uint8)


_LOOP_WRITER = """
import sys
sys.path.insert(0, {root!r})
from engine.io.labels import write_label_png
from engine.labels import voc_classes
from tests.engine.io.test_atomic_save import _version
maps, classes = [_version(0), _version(1)], voc_classes()
v = 0
while True:
    write_label_png({path!r}, maps[v % 2], classes)
    if v == 0:
        print("first", flush=True)
    v += 1
"""

_STALLED_WRITER = """
import os, sys, time
sys.path.insert(0, {root!r})
from engine.io.labels import write_label_png
from engine.labels import voc_classes
from tests.engine.io.test_atomic_save import _version
real_replace = os.replace
def slow_replace(src, dst):
    print("replacing", flush=True)  # the new file is fully written to its temp name; die before the rename
    time.sleep(30)
    real_replace(src, dst)
os.replace = slow_replace
write_label_png({path!r}, _version(1), voc_classes())
"""


def _run_and_kill(script: str, ready: bytes, delay: float) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == ready
        time.sleep(delay)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_during_save_loop_leaves_old_or_new_file(tmp_path):
    path = tmp_path / "big.png"
    old, new = _version(0), _version(1)
    rng = random.Random(1234)
    for _ in range(4):
        _run_and_kill(_LOOP_WRITER.format(root=str(ROOT), path=str(path)), b"first", rng.uniform(0.05, 0.6))
        on_disk = read_label_png(path)  # must decode: never a truncated PNG
        which = [i for i, ref in enumerate((old, new)) if np.array_equal(on_disk, ref)]
        assert len(which) == 1
    others = [p.name for p in tmp_path.iterdir() if p != path]
    assert all(n.startswith(".big.png.") and n.endswith(".tmp") for n in others)  # only hidden temps of killed saves


def test_sigkill_before_rename_keeps_old_file_intact(tmp_path):
    path = tmp_path / "label.png"
    write_label_png(path, _version(0, 50, 60), voc_classes())
    old_bytes = path.read_bytes()
    _run_and_kill(_STALLED_WRITER.format(root=str(ROOT), path=str(path)), b"replacing", 0.0)
    assert path.read_bytes() == old_bytes
    assert np.array_equal(read_label_png(path), _version(0, 50, 60))
    leftovers = [p for p in tmp_path.iterdir() if p.name != "label.png"]
    assert leftovers and all(p.name.startswith(".") for p in leftovers)  # hidden temp, not a second label


def _edited_model():
    m = EditableLabels(_version(3, 40, 50), n_classes=21)
    m.brush([(5, 5), (30, 20)], 3, 7)
    return m


@pytest.mark.parametrize("failing, code, words", [
    ("fsync", errno.ENOSPC, "disk is full"),
    ("write", errno.ENOSPC, "disk is full"),
    ("mkstemp", errno.EROFS, "read-only"),
    ("mkstemp", errno.EACCES, "read-only"),
])   # (and the advice fits the cause: a walk was told to free space on a folder it could not write)
def test_full_disk_or_readonly_gives_clear_error_and_keeps_everything(tmp_path, monkeypatch, failing, code, words):
    path = tmp_path / "label.png"
    write_label_png(path, _version(0, 40, 50), voc_classes())
    old_bytes = path.read_bytes()
    model = _edited_model()
    labels_before, locked_before = model.snapshot()

    def fail(*a, **k):
        raise OSError(code, os.strerror(code))

    if failing == "fsync":
        monkeypatch.setattr(os, "fsync", fail)
    elif failing == "mkstemp":
        monkeypatch.setattr(tempfile, "mkstemp", fail)
    else:  # the data write itself fails part-way, as a full disk does
        real_fdopen = os.fdopen

        class Full:
            def __init__(self, fh):
                self.fh = fh

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()

            def write(self, data):
                self.fh.write(data[: len(data) // 2])
                fail()

            def __getattr__(self, name):
                return getattr(self.fh, name)

        monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: Full(real_fdopen(fd, *a, **k)))

    with pytest.raises(LabelIOError) as info:
        write_label_png(path, model.labels, voc_classes())
    msg = str(info.value)
    assert str(path) in msg and words in msg and "still in memory" in msg
    assert ("Free space" in msg) == (code == errno.ENOSPC) and ("writable" in msg) == (code != errno.ENOSPC)
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes                       # old file untouched
    assert [p.name for p in tmp_path.iterdir()] == ["label.png"]  # no temp file left behind
    assert np.array_equal(model.labels, labels_before) and np.array_equal(model.locked, locked_before)
    write_label_png(path, model.labels, voc_classes())          # once the disk is fine, the same edits save
    assert np.array_equal(read_label_png(path), labels_before)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
def test_real_readonly_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(LabelIOError, match="read-only"):
            write_label_png(folder / "x.png", _version(0, 10, 10), voc_classes())
    finally:
        folder.chmod(0o755)
