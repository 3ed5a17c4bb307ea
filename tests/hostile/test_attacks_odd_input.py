"""The attack run of issue 26 (items 11, 13, 14, 16) against the engine: strip images of any aspect ratio the
pixel cap allows predict and refine; label values above the class count are void to the CRF and teach nothing;
a damaged class_names.txt is reported line by line; stale temporary files are swept, a live writer's never."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from engine.annotate.state import ImageState
from engine.crf import PRESETS, get_backend
from engine.crf.constraints import run_constrained
from engine.io import atomic
from engine.io.transaction import sweep_temp_files
from engine.labels import VOID
from engine.models.preprocess import network_input, shrink_to
from engine.project.errors import ProjectFileError
from engine.project.folder import FolderProject, parse_class_names
from tests.support.attacks import class_files
from tests.support.predict_fixtures import V1, V2_MSC, small_image, tiny_predictor


# ---------------------------------------------------------------- 11: strips
@pytest.mark.parametrize("hw", [(1, 65535), (65535, 1), (3, 40000), (1, 1)])
def test_shrink_keeps_at_least_one_pixel_per_side(hw):
    image = np.zeros(hw + (3,), np.uint8)
    small = shrink_to(image, 513)
    assert min(small.shape[:2]) >= 1 and max(small.shape[:2]) <= 513


def test_shrink_is_kazutos_resize_whenever_opencv_can_do_it():
    """Images whose sides stay non-zero keep the published fx/fy resize bit for bit."""
    import cv2
    image = small_image(700, 1000)
    expected = cv2.resize(image, None, fx=513 / 1000, fy=513 / 1000, interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(shrink_to(image, 513), expected)


@pytest.mark.parametrize("spec, pipeline", [(V1, "kazuto"), (V1, "caffe"), (V2_MSC, "kazuto"), (V2_MSC, "caffe")])
@pytest.mark.parametrize("hw", [(1, 5000), (5000, 1), (2, 700)])
def test_strip_images_predict_with_either_pipeline(tmp_path, spec, pipeline, hw):
    pred = tiny_predictor(replace(spec, pipeline=pipeline), tmp_path)
    image = small_image(*hw)
    _, geometry = network_input(image, spec.mean_bgr, pipeline, spec.input_size)
    assert min(geometry.input_hw) >= 1
    probs = pred.predict(image)
    assert probs.shape == (spec.n_classes,) + hw and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-3)


@pytest.mark.parametrize("backend", ["reference", "fast"])
@pytest.mark.parametrize("hw", [(1, 3000), (3000, 1)])
def test_crf_runs_on_strips(backend, hw):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=hw).transpose(2, 0, 1).astype(np.float32)
    result = get_backend(backend).session(small_image(*hw)).run(probs, PRESETS["deeplab-v1"])
    assert result.labels.shape == hw and result.labels.max() < 3


# ---------------------------------------------------------------- 13: values above the class count
def test_locked_values_that_are_no_class_are_void_to_the_crf_and_kept_in_the_labels():
    st = ImageState(index=0, path="x.png", image=small_image(20, 30), token=1)
    probs = np.full((3, 20, 30), 1 / 3, np.float32)
    st.set_prediction(probs)
    labels = np.zeros((20, 30), np.uint8)
    labels[2:6, 2:6], labels[10:12, 10:20] = 200, 1
    locked = np.zeros((20, 30), bool)
    locked[2:6, 2:6] = locked[10:12, 10:20] = True
    st.restore_edits(labels, locked, "model")
    crf_labels, crf_locked = st.lock_constraints()
    assert (crf_labels[2:6, 2:6] == VOID).all() and (crf_labels[10:12, 10:20] == 1).all()
    assert crf_locked.sum() == locked.sum()
    result = run_constrained(get_backend("reference").session(st.image), probs, PRESETS["deeplab-v1"],
                             crf_labels, crf_locked)                    # used to raise "class 200"
    st.set_crf(result.probs, result.labels, PRESETS["deeplab-v1"])
    assert (st.labels[2:6, 2:6] == 200).all() and (st.labels[10:12, 10:20] == 1).all()


# ---------------------------------------------------------------- 14: class_names.txt
def test_hostile_class_names_are_reported_line_by_line():
    with pytest.raises(ProjectFileError) as err:
        parse_class_names(class_files.hostile_class_names(), "labels/class_names.txt")
    text = str(err.value)
    assert text.startswith("labels/class_names.txt:")
    assert "line 4: 'red thing' repeats line 3" in text
    assert f"line 6 is {class_files.LONG_LINE} characters long" in text
    assert "line 2" not in text                                   # an empty line is no problem: it is skipped
    assert len(text) < 1000                                       # the 200 kB line is not quoted


def test_a_damaged_class_names_is_kept_aside_byte_for_byte_when_replaced(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    original = class_files.hostile_class_names()
    (labels / "class_names.txt").write_bytes(original)
    project = FolderProject.open(labels)
    assert len(project.problems) == 1 and "class_names.txt.damaged" in project.problems[0]
    assert not project.has_class_list
    from engine.project.classes import FolderClasses
    project.set_classes(FolderClasses.from_names(["a", "b"]))
    project.write()
    assert (labels / "class_names.txt.damaged").read_bytes() == original
    assert FolderProject.open(labels).problems == []


# ---------------------------------------------------------------- 16: stale temporary files
def _sleeper():
    """A live process other than this one (its pid names the temporary files of a writer still at work)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporary_files_name_their_writer(tmp_path):
    prefix = atomic.temp_name_prefix("img1.png")
    assert prefix == f".img1.png.{atomic.HOST_TAG}-{os.getpid()}."
    assert atomic.temp_owner(prefix + "abc123_x.tmp") == (atomic.HOST_TAG, os.getpid())
    assert atomic.temp_owner(".img1.png.k1ll3d.tmp") is None       # an older version's name: no owner
    long = "x" * 240 + ".png"                                      # near the file system's 255-byte limit
    atomic.write_bytes_atomic(tmp_path / long, b"1")               # the temporary's name is cut, the save works
    assert (tmp_path / long).read_bytes() == b"1" and os.listdir(tmp_path) == [long]


def test_sweep_removes_dead_writers_temporaries_and_keeps_live_ones(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    live = _sleeper()
    try:
        dead = _dead_pid()

        def temp(name, pid, host=atomic.HOST_TAG):
            path = labels / f".{name}.{host}-{pid}.abcd1234.tmp"
            path.write_bytes(b"half")
            return path
        mine = temp("img2.png", os.getpid())
        atomic.mark_writing(mine)                                  # this process is still writing it
        keep = [temp("img1.png", live.pid), mine,                  # live writers: never touched
                temp("img3.png", dead, host="0123abcd")]           # another machine's, young
        gone = [temp("img4.png", dead), temp("class_names.txt", dead), labels / ".img5.png.k1ll3d.tmp",
                temp("img7.png", os.getpid())]                     # this process's, no longer written
        gone[2].write_bytes(b"old version")
        old = temp("img6.png", dead, host="0123abcd")              # another machine's, a day old
        os.utime(old, (time.time() - 86400, time.time() - 86400))
        gone.append(old)
        report = sweep_temp_files(labels)
        assert all(p.exists() for p in keep) and not any(p.exists() for p in gone)
        assert sorted(report.removed) == sorted(p.name for p in gone)
        atomic.done_temp(mine)
        assert sweep_temp_files(labels).removed == [mine.name]
    finally:
        live.kill()
        live.wait()


_WRITER = """
import sys, time
from pathlib import Path
from engine.io import transaction
from engine.io.transaction import SaveTransaction
folder = Path(sys.argv[1])
txn = SaveTransaction(folder)
txn.stage(folder / "a.png", b"new")
txn.stage(folder / "a.provenance.json", b"{}")
if sys.argv[2] == "commit":       # stop between the commit record and the renames
    transaction._apply = lambda folder, record: (print("committing", flush=True), time.sleep(60))
    txn.commit()
print("staged", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("stage", ["staged", "commit"])
def test_a_live_writer_in_another_process_keeps_its_files(tmp_path, stage):
    """A pre-labelling run or `main.py predict` writing into labels/ while a window opens the folder: the
    window's sweep neither deletes its staged files nor rolls its commit record forward under it; once that
    process is killed, the next sweep cleans up (staged: removed; committed: completed)."""
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.png").write_bytes(b"old")
    from tests.support.paths import ROOT
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(labels), stage], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().decode().strip() in ("staged", "committing")
        before = sorted(p.name for p in labels.iterdir())
        report = sweep_temp_files(labels)
        assert report.removed == [] and report.completed == [] and sorted(p.name for p in labels.iterdir()) == before
        assert len([n for n in before if n.endswith(".tmp")]) == 2
    finally:
        proc.kill()
        proc.wait()
    report = sweep_temp_files(labels)
    left = sorted(p.name for p in labels.iterdir())
    if stage == "staged":
        assert len(report.removed) == 2 and left == ["a.png"] and (labels / "a.png").read_bytes() == b"old"
    else:
        assert report.completed and left == ["a.png", "a.provenance.json"] and (labels / "a.png").read_bytes() == b"new"


_LOCK_HOLDER = """
import sys, time
from engine.folder.lock import FolderLock
lock = FolderLock(sys.argv[1])
print(lock.acquire().value, flush=True)
time.sleep(60)
"""


def test_writers_without_a_lock_sweep_only_when_no_live_window_holds_the_folder(tmp_path):
    """`main.py prelabel` and `predict` into labels/ sweep at their start (engine.folder.lock.sweep_unless_held),
    unless a live process holds the folder's lock: that one is the writer, and swept when it opened it."""
    from engine.folder.lock import sweep_unless_held
    from tests.support.paths import ROOT
    labels = tmp_path / "labels"
    labels.mkdir()
    stale = labels / f".img1.png.{atomic.HOST_TAG}-{_dead_pid()}.abcd1234.tmp"
    stale.write_bytes(b"half")
    holder = subprocess.Popen([sys.executable, "-c", _LOCK_HOLDER, str(labels)], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().decode().strip() == "acquired"
        assert sweep_unless_held(labels) == "" and stale.exists()
    finally:
        holder.kill()
        holder.wait()
    assert "removed 1 temporary file" in sweep_unless_held(labels) and not stale.exists()   # the holder is gone
