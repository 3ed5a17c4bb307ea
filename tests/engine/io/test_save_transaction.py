"""A save writes the label PNG, its provenance sidecar and the folder's class list (class_names.txt, and
project.json when the list changed) as one transaction: a full disk between files leaves the old set and says so; a
kill at any moment leaves a set that the start-up sweep turns into the old or the new one, consistent, with no
temporary files left. The class list changes the way the app changes it: a class edit of the folder's list, then a
save (engine.project: a save never writes labels for another list than the folder's)."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.errors import LabelIOError
from engine.folder.dataset import CLASS_NAMES_FILE, Dataset
from engine.io import transaction
from engine.io.atomic import HOST_TAG
from engine.io.labels import read_label_png
from engine.io.provenance import make_provenance, read_provenance
from engine.io.transaction import SaveTransaction, sweep_temp_files
from engine.labels import ClassList
from engine.project import FolderClasses
from tests.support.gui_helpers import make_folder
from tests.support.interrupted_save import die_after_first_rename
from tests.support.paths import ROOT

OLD, NEW = ClassList(("bg", "a", "b")), ClassList(("bg", "x", "y", "z"))


def _labels(v: int, h=60, w=80) -> np.ndarray:
    return np.random.default_rng(v).integers(0, 3, (h, w)).astype(np.uint8)


def _save(ds: Dataset, v: int, classes=OLD):
    """Save version v with ``classes`` as the folder's class list (a class edit first when it differs)."""
    labels = _labels(v)
    if ds.project.has_class_list and ds.project.classes.names != FolderClasses.from_class_list(classes).names:
        ds.project.set_classes(FolderClasses.from_class_list(classes))
    ds.save(0, labels, classes, make_provenance(labels, labels == 1, "img1.png"))
    return labels


def _consistent_set(labels_dir: Path) -> tuple[int, str]:
    """(which version is on disk, class names text); asserts PNG, sidecar and class list agree."""
    png = read_label_png(labels_dir / "img1.png")
    prov = read_provenance(labels_dir / "img1.png")
    assert prov.label_sha256 == hashlib.sha256(png.tobytes()).hexdigest(), "sidecar describes another PNG"
    which = [v for v in (0, 1) if np.array_equal(png, _labels(v))]
    assert len(which) == 1
    names = (labels_dir / CLASS_NAMES_FILE).read_text()
    project = json.loads((labels_dir / "project.json").read_text())
    by_id = sorted((c["id"], c["name"]) for c in project["classes"])
    assert "".join(f"{i} {n}\n" for i, n in by_id) == names, "project.json and class_names.txt disagree"
    return which[0], names


def _leftovers(labels_dir: Path) -> list[str]:
    return sorted(p.name for p in labels_dir.iterdir() if p.name.endswith((".tmp", ".commit")))


def test_full_disk_between_files_keeps_the_old_set_and_says_so(tmp_path, monkeypatch):
    ds = Dataset(make_folder(tmp_path / "f", n=1))
    _save(ds, 0)
    before = {p.name: p.read_bytes() for p in ds.labels_dir.iterdir()}
    real_mkstemp = transaction.tempfile.mkstemp

    def full_at_sidecar(prefix="", suffix="", dir=None):
        if prefix.startswith(".img1.provenance.json"):      # the PNG and class list are already staged
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_mkstemp(prefix=prefix, suffix=suffix, dir=dir)
    monkeypatch.setattr(transaction.tempfile, "mkstemp", full_at_sidecar)
    with pytest.raises(LabelIOError, match=r"the disk is full\. Nothing was changed on disk") as info:
        _save(ds, 1, NEW)
    # whose save it was, though the sidecar failed (a walk's box named only class_names.txt or the head file)
    assert str(info.value).startswith("saving the labels of img1.png: could not save")
    assert {p.name: p.read_bytes() for p in ds.labels_dir.iterdir()} == before   # old set, byte for byte
    assert _consistent_set(ds.labels_dir)[0] == 0


@pytest.mark.parametrize("code, advice", [(errno.ENOSPC, "Free space"), (errno.EACCES, "Make the folder writable")])
def test_a_failed_save_gives_advice_that_fits_its_cause(tmp_path, monkeypatch, code, advice):
    """A walk with an unwritable labels folder was told to free space."""
    ds = Dataset(make_folder(tmp_path / "f", n=1))

    def refuse(prefix="", suffix="", dir=None):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(transaction.tempfile, "mkstemp", refuse)
    with pytest.raises(LabelIOError) as info:
        _save(ds, 0)
    assert advice in str(info.value) and ("Free space" in str(info.value)) == (code == errno.ENOSPC)


def _full_at_the_commit_record(monkeypatch) -> None:
    """The disk fills up as a save writes its commit record (every staged file is whole)."""
    real = transaction.write_bytes_atomic

    def no_space(path, data):
        if str(path).endswith(".commit"):
            raise LabelIOError(f"could not save {path}: the disk is full.") from OSError(errno.ENOSPC, "full")
        return real(path, data)
    monkeypatch.setattr(transaction, "write_bytes_atomic", no_space)


def test_full_disk_at_the_commit_record_keeps_the_old_set(tmp_path, monkeypatch):
    ds = Dataset(make_folder(tmp_path / "f", n=1))
    _save(ds, 0)
    _full_at_the_commit_record(monkeypatch)
    with pytest.raises(LabelIOError, match="Nothing was changed on disk"):
        _save(ds, 1, NEW)
    assert _consistent_set(ds.labels_dir) == (0, "0 bg\n1 a\n2 b\n") and _leftovers(ds.labels_dir) == []


def test_a_folder_in_place_of_a_file_refuses_the_save_with_nothing_changed(tmp_path):
    """A walk replaced a saved label PNG by a folder: the save replaced the head and the class list, failed on the
    PNG, left its commit record, and was promised for the next opening (where it failed again, and once the folder
    was removed, wrote edits the user had discarded since). It is refused before the commit point now."""
    ds = Dataset(make_folder(tmp_path / "f", n=1))
    _save(ds, 0)
    before = {p.name: p.read_bytes() for p in ds.labels_dir.iterdir() if p.is_file()}
    png = ds.labels_dir / "img1.png"
    png.unlink()
    (png / "sub").mkdir(parents=True)
    (png / "sub" / "x.txt").write_text("mine")
    with pytest.raises(LabelIOError, match=r"is a folder, not a file\. Nothing was changed on disk"):
        _save(ds, 1, NEW)
    after = {p.name: p.read_bytes() for p in ds.labels_dir.iterdir() if p.is_file()}
    assert after == {k: v for k, v in before.items() if k != "img1.png"} and _leftovers(ds.labels_dir) == []
    assert (png / "sub" / "x.txt").read_text() == "mine"


def test_a_labels_folder_that_cannot_be_made_says_what_is_kept_and_what_to_do(tmp_path, monkeypatch):
    """A walk's read-only image folder: the message said the labels folder could not be made, not that nothing was
    saved and the edits were still in memory, as every other failed save says."""
    ds = Dataset(make_folder(tmp_path / "f", n=1))

    def refuse(self, *a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(LabelIOError, match=r"cannot create the labels folder \(the folder is read-only or you lack "
                                           r"permission\)\. Nothing was saved; your edits are still in memory\. "
                                           r"Make the folder writable"):
        _save(ds, 0)


def test_an_interrupted_commit_is_rolled_forward(tmp_path, monkeypatch):
    ds = Dataset(make_folder(tmp_path / "f", n=1))
    _save(ds, 0)
    die_after_first_rename(monkeypatch)
    with pytest.raises(LabelIOError, match="completed when the folder is next opened"):
        _save(ds, 1, NEW)
    monkeypatch.undo()
    assert any(p.endswith(".commit") for p in _leftovers(ds.labels_dir))
    report = sweep_temp_files(ds.labels_dir)
    assert sorted(report.completed) == sorted(["img1.png", CLASS_NAMES_FILE, "img1.provenance.json", "project.json"])
    assert _consistent_set(ds.labels_dir) == (1, "0 bg\n1 x\n2 y\n3 z\n") and _leftovers(ds.labels_dir) == []


def test_a_save_without_provenance_removes_the_old_sidecar(tmp_path):
    ds = Dataset(make_folder(tmp_path / "f", n=1))
    _save(ds, 0)
    ds.save(0, _labels(1), OLD)
    assert read_provenance(ds.labels_dir / "img1.png") is None


def test_sweep_removes_stale_temporaries_only(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    for name in (".img1.png.abc123.tmp", ".class_names.txt.x.tmp", ".img1.provenance.json.q.tmp"):
        (labels / name).write_bytes(b"half")
    keep = [".lock.0123abcd.tmp", "img1.png", ".lock", "notes.tmp"]
    for name in keep:
        (labels / name).write_bytes(b"keep")
    report = sweep_temp_files(labels)
    assert len(report.removed) == 3 and "removed 3 temporary file(s)" in report.message()
    assert sorted(p.name for p in labels.iterdir()) == sorted(keep)


def test_a_hostile_commit_record_renames_nothing_outside(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    (tmp_path / "precious.txt").write_text("mine")
    (labels / ".x.tmp").write_text("attack")
    (labels / ".save-evil.commit").write_text(json.dumps({"replace": [[".x.tmp", "../precious.txt"]]}))
    report = sweep_temp_files(labels)
    assert (tmp_path / "precious.txt").read_text() == "mine" and report.problems


def test_the_transaction_refuses_files_of_another_folder(tmp_path):
    with pytest.raises(ValueError):
        SaveTransaction(tmp_path / "a").stage(tmp_path / "b" / "x.png", b"")


_KILLED_SAVER = r"""
import sys
sys.path.insert(0, {root!r})
import numpy as np
from engine.folder.dataset import Dataset
from engine.io.provenance import make_provenance
from engine.labels import ClassList
from engine.project import FolderClasses
OLD, NEW = ClassList(("bg", "a", "b")), ClassList(("bg", "x", "y", "z"))
_labels = lambda v: np.random.default_rng(v).integers(0, 3, (60, 80)).astype(np.uint8)  # as in the test
ds = Dataset({folder!r})
v = 0
while True:
    labels = _labels(v % 2)
    classes = NEW if v % 2 else OLD
    if ds.project.has_class_list:  # a class edit, then the save (as the app does)
        ds.project.set_classes(FolderClasses.from_class_list(classes))
    ds.save(0, labels, classes, make_provenance(labels, labels == 1, "img1.png"))
    if v == 0:
        print("saved", flush=True)
    v += 1
"""


def test_kills_during_saves_always_leave_one_consistent_set(tmp_path):
    """SIGKILL at random moments of a save loop; after each, the start-up sweep leaves the old or the new set
    (PNG, sidecar and class list of one version) and no temporary file."""
    folder = make_folder(tmp_path / "f", n=1)
    ds = Dataset(folder)
    code = _KILLED_SAVER.format(root=str(ROOT), folder=str(folder))
    rng = random.Random(14)
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=ROOT)
        try:
            assert proc.stdout.readline().strip() == b"saved"
            time.sleep(rng.uniform(0.05, 0.4))
            assert proc.poll() is None, "the save loop must still be saving when it is killed"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        sweep_temp_files(ds.labels_dir)
        version, names = _consistent_set(ds.labels_dir)
        assert names == ("0 bg\n1 x\n2 y\n3 z\n" if version else "0 bg\n1 a\n2 b\n")
        assert _leftovers(ds.labels_dir) == []


def test_a_file_in_a_subfolder_is_committed_with_the_labels_and_rolled_forward_after_a_kill(tmp_path, monkeypatch):
    """The learnt head lives in labels/.model/: staged in the labels' transaction, a kill after the commit record
    leaves it to the sweep like the label PNG (before, it was written after the labels' commit)."""
    ds = Dataset(make_folder(tmp_path / "f", n=1))
    head = ds.labels_dir / ".model" / "head.npz"
    head.parent.mkdir(parents=True)

    def also(txn):
        txn.stage(head, b"new head")
    labels = _labels(0)
    die_after_first_rename(monkeypatch)
    with pytest.raises(LabelIOError, match="completed when the folder is next opened"):
        ds.save(0, labels, OLD, also=also)
    monkeypatch.undo()
    assert not head.exists() and len(list(head.parent.glob(".*.tmp"))) == 1
    intent = json.loads(next(ds.labels_dir.glob(".save-*.commit")).read_text())
    assert [".model/head.npz" in f for _, f in intent["replace"]].count(True) == 1
    report = sweep_temp_files(ds.labels_dir, subfolders=(".model",))
    assert head.read_bytes() == b"new head" and ".model/head.npz" in report.committed
    np.testing.assert_array_equal(read_label_png(ds.labels_dir / "img1.png"), labels)
    assert _leftovers(ds.labels_dir) == [] and not list(head.parent.glob(".*.tmp"))


def test_a_subfolder_temp_of_an_unfinished_save_outlives_the_sweep(tmp_path):
    """A commit record the sweep could not apply keeps its temporary files, in the subfolder too; a stray one there
    (a dead writer's, named in no record) goes."""
    folder = tmp_path / "labels"
    (folder / ".model").mkdir(parents=True)
    kept, stray = folder / ".model" / ".h.npz.0-1.a.tmp", folder / ".model" / ".h.npz.0-2.b.tmp"
    kept.write_bytes(b"x")
    stray.write_bytes(b"y")
    blocked = folder / f".save-{HOST_TAG}-{os.getpid()}-abc.commit"   # ours, not being written: a dead save's
    blocked.write_text(json.dumps({"replace": [[".model/" + kept.name, ".model/h.npz"],
                                                ["../.x.tmp", "../escape"]]}))   # checked whole, none renamed
    report = sweep_temp_files(folder, subfolders=(".model",))
    assert kept.exists() and not stray.exists() and blocked.exists()
    assert any("could not complete" in p for p in report.problems)
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("name", ["../outside.tmp", "a/b/c.tmp", "/abs.tmp", "sub/", "sub/..", "../x"])
def test_intent_entries_outside_the_folder_or_a_direct_subfolder_are_refused(tmp_path, name):
    with pytest.raises(ValueError):
        transaction._place(tmp_path, name)


def test_a_subfolder_that_is_a_link_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / ".model").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="is a link"):
        transaction._place(tmp_path / "labels", ".model/.h.tmp")
    txn = SaveTransaction(tmp_path / "labels")
    with pytest.raises(ValueError, match="not in the transaction's folder"):
        txn.stage(tmp_path / "labels" / ".model" / "h.npz", b"x")
    with pytest.raises(ValueError, match="not in the transaction's folder"):
        txn.stage(tmp_path / "elsewhere" / "deeper" / "h.npz", b"x")


def test_a_folder_given_relative_to_the_working_directory(tmp_path, monkeypatch):
    """`predict --out out/x.png` from another directory: the temporary files come back absolute, the folder was
    relative, and the commit took the temporary file for one in a subfolder."""
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    txn = SaveTransaction(Path("out"))
    txn.stage(Path("out") / "x.png", b"png")
    txn.commit()
    assert (tmp_path / "out" / "x.png").read_bytes() == b"png" and _leftovers(tmp_path / "out") == []


def _failing_rename(monkeypatch, name: str) -> None:
    """The rename onto ``name`` fails (a disk error; a folder in its place is refused before the commit point)."""
    real = os.replace

    def replace(src, dst, *a, **k):
        if Path(dst).name == name:
            raise OSError(errno.EIO, "Input/output error")
        return real(src, dst, *a, **k)
    monkeypatch.setattr(transaction.os, "replace", replace)


def test_a_save_after_an_interrupted_one_is_not_undone_when_the_folder_is_next_opened(tmp_path, monkeypatch):
    """A walk blocked the head file with a folder: the save's labels were renamed, the head's rename failed and its
    commit record stayed. Unblocked and saved again, the folder's next opening would have rolled the stale head
    over the new one. The newer save now goes after the older one, and takes its names out of it."""
    folder = tmp_path / "labels"
    (folder / ".model").mkdir(parents=True)
    _failing_rename(monkeypatch, "head.npz")
    txn = SaveTransaction(folder)
    txn.stage(folder / "a.png", b"old png")
    txn.stage(folder / ".model" / "head.npz", b"old head")
    with pytest.raises(LabelIOError, match="interrupted"):
        txn.commit()
    assert not (folder / "a.png").exists() and list(folder.glob(".save-*.commit"))   # the head's rename went first
    monkeypatch.undo()                                               # the disk recovers, the user saves again
    txn = SaveTransaction(folder)
    txn.stage(folder / "a.png", b"new png")
    txn.stage(folder / ".model" / "head.npz", b"new head")
    txn.commit()
    sweep_temp_files(folder, subfolders=(".model",))                 # the next opening
    assert (folder / "a.png").read_bytes() == b"new png"
    assert (folder / ".model" / "head.npz").read_bytes() == b"new head"
    assert _leftovers(folder) == [] and not list((folder / ".model").glob(".*.tmp"))


def test_a_rename_that_fails_in_the_subfolder_leaves_the_labels_as_they_were(tmp_path, monkeypatch):
    """A head file's rename failed (a walk blocked it with a folder) after the new label file had replaced the old
    one, so the new labels stood beside the old head. The subfolder's files are renamed first now."""
    folder = tmp_path / "labels"
    (folder / ".model").mkdir(parents=True)
    (folder / "a.png").write_bytes(b"old png")
    _failing_rename(monkeypatch, "head.npz")
    txn = SaveTransaction(folder)
    txn.stage(folder / "a.png", b"new png")
    txn.stage(folder / ".model" / "head.npz", b"new head")
    with pytest.raises(LabelIOError, match="interrupted"):
        txn.commit()
    assert (folder / "a.png").read_bytes() == b"old png"


def test_a_file_kept_aside_goes_back_when_the_save_fails(tmp_path, monkeypatch):
    """A save that keeps the label file there aside (<name>.replaced: it changed on disk, or cannot be used) moved
    it before the commit; a full disk at the commit record then left the folder without it, under 'Nothing was
    changed on disk'."""
    ds = Dataset(make_folder(tmp_path / "f", n=1))
    _save(ds, 0)
    png = ds.labels_dir / "img1.png"
    before = png.read_bytes()
    _full_at_the_commit_record(monkeypatch)
    with pytest.raises(LabelIOError, match="Nothing was changed on disk"):
        ds.save(0, _labels(1), OLD, keep_aside=True)
    assert png.read_bytes() == before and not png.with_name("img1.png.replaced").exists() and ds.kept_aside == []
    monkeypatch.undo()
    ds.save(0, _labels(1), OLD, keep_aside=True)                      # and kept aside when the save works
    assert png.with_name("img1.png.replaced").read_bytes() == before and len(ds.kept_aside) == 1
