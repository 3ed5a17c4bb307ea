"""Recovery journal: round trip, damaged entries, and edits surviving a SIGKILLed session."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from engine.errors import LabelIOError
from engine.folder.journal import RecoveryJournal, default_recovery_dir
from tests.support.paths import ROOT


def _edits(version: int, h=120, w=160):
    rng = np.random.default_rng(version)
    labels = rng.integers(0, 21, (h, w)).astype(np.uint8)
    labels[:10, :10] = 255
    locked = rng.random((h, w)) < 0.3
    return labels, locked


def test_round_trip_pending_restore_discard(tmp_path):
    j = RecoveryJournal(default_recovery_dir(tmp_path / "labels"))
    assert j.pending() == []
    labels, locked = _edits(1)
    j.save("sub dir/a photo.jpg", labels, locked, meta={"class_list": "voc"})
    j.save("b.png", *_edits(2, 7, 9))
    entries = j.pending()
    assert [e.image_id for e in entries] == ["sub dir/a photo.jpg", "b.png"]
    assert entries[0].shape == (120, 160) and entries[0].edited_pixels == int(locked.sum())
    assert entries[0].meta == {"class_list": "voc"}
    got = j.restore("sub dir/a photo.jpg", expected_shape=(120, 160))
    assert np.array_equal(got.labels, labels) and np.array_equal(got.locked, locked)
    assert got.locked.dtype == bool
    with pytest.raises(LabelIOError, match="changed on disk"):
        j.restore("b.png", expected_shape=(9, 7))
    j.discard("b.png")
    j.discard("b.png")  # twice is fine
    assert [e.image_id for e in j.pending()] == ["sub dir/a photo.jpg"]
    with pytest.raises(LabelIOError, match="no recovery entry"):
        j.restore("b.png")


def test_later_save_replaces_entry_and_ids_do_not_collide(tmp_path):
    j = RecoveryJournal(tmp_path)
    j.save("x/a.jpg", *_edits(1))
    j.save("y/a.jpg", *_edits(2))
    j.save("x/a.jpg", *_edits(3))
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert np.array_equal(j.restore("x/a.jpg").labels, _edits(3)[0])
    assert np.array_equal(j.restore("y/a.jpg").labels, _edits(2)[0])


def test_damaged_entry_is_skipped_by_pending_and_reported_by_restore(tmp_path):
    j = RecoveryJournal(tmp_path)
    j.save("good.jpg", *_edits(1))
    j.path_for("bad.jpg").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / ".stray.tmp").write_bytes(b"half")  # a killed autosave's temp file
    assert [e.image_id for e in j.pending()] == ["good.jpg"]
    with pytest.raises(LabelIOError, match="damaged"):
        j.restore("bad.jpg")
    assert j.clean_temp_files(older_than_s=0) == 1


def test_full_disk_raises_clear_error_and_keeps_previous_entry(tmp_path, monkeypatch):
    import errno
    j = RecoveryJournal(tmp_path)
    j.save("a.jpg", *_edits(1))

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(LabelIOError, match="disk is full"):
        j.save("a.jpg", *_edits(2))
    monkeypatch.undo()
    assert np.array_equal(j.restore("a.jpg").labels, _edits(1)[0])
    assert not list(tmp_path.glob(".*.tmp"))


_WRITER = """
import sys, time, numpy as np
sys.path.insert(0, {root!r})
from engine.folder.journal import RecoveryJournal
from tests.engine.folder.test_journal import _edits
j = RecoveryJournal({folder!r})
v = 0
while True:
    j.save("cat.jpg", *_edits(v % 2), meta={{"version": v % 2}})
    if v == 0:
        print("saved", flush=True)
    v += 1
"""

_READER = """
import sys, json, numpy as np
sys.path.insert(0, {root!r})
from engine.folder.journal import RecoveryJournal
from tests.engine.folder.test_journal import _edits
j = RecoveryJournal({folder!r})
ids = [e.image_id for e in j.pending()]
got = j.restore("cat.jpg", expected_shape=(120, 160))
match = [v for v in (0, 1) if np.array_equal(got.labels, _edits(v)[0]) and np.array_equal(got.locked, _edits(v)[1])]
print(json.dumps({{"ids": ids, "match": match, "meta": got.meta}}))
"""


def test_killed_session_edits_are_restored_by_a_new_process(tmp_path):
    folder = str(tmp_path / ".recovery")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay in (0.0, 0.13, 0.29):
        writer = subprocess.Popen([sys.executable, "-c", _WRITER.format(root=str(ROOT), folder=folder)],
                                  stdout=subprocess.PIPE, env=env, cwd=ROOT)
        try:
            assert writer.stdout.readline().strip() == b"saved"
            time.sleep(delay)  # keep autosaving, then die mid-way through some save
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait(timeout=10)
        assert writer.returncode == -signal.SIGKILL
        out = subprocess.run([sys.executable, "-c", _READER.format(root=str(ROOT), folder=folder)],
                             capture_output=True, env=env, cwd=ROOT, timeout=60)
        assert out.returncode == 0, out.stderr.decode()
        report = json.loads(out.stdout)
        assert report["ids"] == ["cat.jpg"]
        assert len(report["match"]) == 1 and report["meta"] == {"version": report["match"][0]}
