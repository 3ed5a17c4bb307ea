"""The attack run of issue 14 through the command line, in real processes: `main.py predict` with image bombs
and hostile `--model` files ends with a one-line error (exit 2), no traceback, quickly, and without the memory
the file asks for; `main.py FOLDER` opens a folder whose recovery journal is damaged."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.attacks import bombs
from tests.support.attacks import checkpoints as hostile
from tests.support.gui_helpers import make_folder
from tests.support.journal_entries import journal_entry
from tests.support.paths import ROOT

PEAK_MB = 1200   # a plain `main.py predict` of a small image peaks at about 0.7 GB here (torch + model)


def _run(args, timeout=120, env=None):
    """(exit code, stderr, seconds, peak RSS in MB) of `python main.py ARGS`, the peak measured by a small launcher
    (tests/support/peak_rss.py): wait4 from this test process would count this process's own size at the fork."""
    start = time.monotonic()
    fd, name = tempfile.mkstemp(suffix=".peak")
    os.close(fd)
    peak_file = Path(name)
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "support" / "peak_rss.py"), str(peak_file),
                             sys.executable, "main.py", *map(str, args)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})}, start_new_session=True)
    timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    try:
        err = proc.stderr.read().decode(errors="replace")
        proc.wait()
    finally:
        timer.cancel()
    seconds = time.monotonic() - start
    assert seconds < timeout, f"main.py {' '.join(map(str, args))} did not finish in {timeout} s"
    try:
        peak_kb = int(peak_file.read_text())
    finally:
        peak_file.unlink(missing_ok=True)
    return proc.returncode, err, seconds, peak_kb / 1024


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "bomb.png").write_bytes(bombs.png_bomb(30000, 30000, colour=False))
    (d / "bomb.jpg").write_bytes(bombs.jpeg_with_size(20000, 20000))
    make_folder(d / "imgs", n=1)
    for name, data in (("block200000.pth", hostile.pth_block_key()), ("zip_bomb.pt", hostile.pt_zip_bomb()),
                       ("fc_channels_32768.pt", hostile.pt_with_spec(fc_channels=32768))):
        (d / name).write_bytes(data)
    special = hostile.special_files(d / "special")
    return {"dir": d, "image": d / "imgs" / "img1.png", **special}


@pytest.mark.parametrize("image, model, message", [
    ("bomb.png", None, "over the limit of 100 MP"),
    ("bomb.jpg", None, "20000x20000 pixels"),
    ("image", "block200000.pth", "block 200000"),
    ("image", "zip_bomb.pt", "zip bomb"),
    ("image", "fifo", "is a pipe"),
    ("image", "dev-zero", "is a device"),
])
def test_predict_ends_with_a_clear_error(files, tmp_path, image, model, message):
    img = files[image] if image in files else files["dir"] / image
    args = ["predict", img, "--out", tmp_path / "out.png"]
    if model is not None:
        args += ["--model", files[model] if model in files else files["dir"] / model]
    code, err, seconds, peak_mb = _run(args)
    assert code == 2, err[-2000:]
    assert "Traceback" not in err and err.startswith("error: "), err[-2000:]
    assert message in err and str(args[1] if model is None else args[-1]) in err
    assert seconds < 60 and not (tmp_path / "out.png").exists()
    assert peak_mb < PEAK_MB, f"peak {peak_mb:.0f} MB"


def test_predict_max_pixels_flag(files, tmp_path):
    code, err, _, _ = _run(["predict", files["image"], "--max-pixels", "5000", "--out", tmp_path / "o.png"])
    assert code == 2 and "128x96 pixels" in err and "over the limit of 5000 pixels" in err
    assert not (tmp_path / "o.png").exists()   # the environment variable: test_attacks_engine (same code path)


def test_gui_opens_a_folder_with_a_damaged_journal(tmp_path):
    """`main.py FOLDER` used to exit 1 with EOFError: now it logs what it moved aside and keeps running."""
    folder = make_folder(tmp_path / "imgs", n=2)
    rec = folder / "labels" / ".recovery"
    rec.mkdir(parents=True)
    from engine.folder.journal import RecoveryJournal
    j = RecoveryJournal(rec)
    j.path_for("img1.png").write_bytes(b"")
    j.path_for("img2.png").write_bytes(journal_entry("img2.png", saved_at="yesterday"))
    j.path_for("a.png").write_bytes(journal_entry("a.png", shape=5))
    j.path_for("b.png").write_bytes(journal_entry("b.png", meta=[1, 2]))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.Popen([sys.executable, "main.py", str(folder)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)
    lines = []
    try:
        deadline = time.monotonic() + 120
        while sum("damaged recovery file" in line for line in lines) < 4 and time.monotonic() < deadline:
            line = proc.stdout.readline().decode(errors="replace")
            if not line and proc.poll() is not None:
                break
            lines.append(line)
        time.sleep(1.0)
        assert proc.poll() is None, "".join(lines)[-3000:]      # still running: the folder opened
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    text = "".join(lines)
    assert "Traceback" not in text and "EOFError" not in text, text[-3000:]
    for reason in ("empty (0 bytes)", "saved_at must be a time", "shape must be", "meta must be a record"):
        assert reason in text
    assert len(list((rec / "damaged").glob("*.npz"))) == 4 and not list(rec.glob("*.npz"))
    assert np.all([p.name.endswith(".why.txt") for p in (rec / "damaged").glob("*.txt")])


# ---------------------------------------------------------------- issue 26
@pytest.mark.parametrize("hw", [(1, 65535), (65535, 1)])
def test_predict_on_a_strip_writes_labels(tmp_path, hw):
    """Issue 26 item 11: a 65535x1 or 1x65535 PNG ended in a cv2 traceback (`!dsize.empty()`)."""
    from PIL import Image
    Image.fromarray(np.full(hw + (3,), 120, np.uint8)).save(tmp_path / "strip.png")
    code, err, _, _ = _run(["predict", tmp_path / "strip.png", "--out", tmp_path / "labels" / "strip.png",
                            "--crf", "demo_v1"])
    assert code == 0 and "Traceback" not in err, err[-2000:]
    from engine.io.labels import read_label_png
    assert read_label_png(tmp_path / "labels" / "strip.png").shape == hw


def test_prelabel_refuses_a_damaged_class_names_and_keeps_it(tmp_path):
    """Issue 26 item 14: the file is checked on read, the message names each bad line, nothing is written."""
    from tests.support.attacks.class_files import LONG_LINE, hostile_class_names
    folder = make_folder(tmp_path / "imgs", n=1)
    (folder / "labels").mkdir()
    (folder / "labels" / "class_names.txt").write_bytes(hostile_class_names())
    code, err, _, _ = _run(["prelabel", folder])
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err, err[-2000:]
    assert "line 4: 'red thing' repeats line 3" in err and f"line 6 is {LONG_LINE} characters long" in err
    assert len(err) < 2000                                          # the 200 kB line is measured, not printed
    assert sorted(p.name for p in (folder / "labels").iterdir()) == ["class_names.txt"]
    assert (folder / "labels" / "class_names.txt").read_bytes() == hostile_class_names()


def test_prelabel_a_folder_of_strips(tmp_path):
    """Issue 26 item 11, pre-labelling: strips of every orientation with the demo v2 model (MSC) and its CRF."""
    from PIL import Image

    from engine.io.labels import read_label_png
    from engine.paths import RESOURCES
    folder = tmp_path / "strips"
    folder.mkdir()
    shapes = {"wide.png": (1, 65535), "tall.png": (65535, 1), "dot.png": (1, 1), "thin.png": (3, 9000)}
    for name, hw in shapes.items():
        Image.fromarray(np.full(hw + (3,), 90, np.uint8)).save(folder / name)
    code, err, _, _ = _run(["prelabel", folder, "--model", RESOURCES / "models" / "demo_v2.pt"])
    assert code == 0 and "Traceback" not in err, err[-2000:]
    for name, hw in shapes.items():
        assert read_label_png(folder / "labels" / name).shape == hw


def test_prelabel_killed_mid_run_leaves_nothing_behind_after_the_next_run(tmp_path):
    """Issue 26 item 16: temporary files stayed in labels/ after kills (only the journal's were swept). A run killed
    (SIGKILL) while it writes labels, plus a dead writer's leftovers: the next run sweeps them at its start and
    finishes the folder; a live writer's file is left alone."""
    from engine.io import atomic
    folder = make_folder(tmp_path / "imgs", n=24)
    proc = subprocess.Popen([sys.executable, "main.py", "prelabel", str(folder), "--sequential"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    labels = folder / "labels"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(labels.glob("img*.png"))) < 3 and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftovers = [labels / f".img{i}.png.{atomic.HOST_TAG}-{int(dead.stdout)}.k1ll3d.tmp" for i in (5, 6)]
    for p in leftovers:
        p.write_bytes(b"half a label")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        mine = labels / f".img7.png.{atomic.HOST_TAG}-{live.pid}.wr1t1ng.tmp"   # a live writer's
        mine.write_bytes(b"being written")
        code, err, _, _ = _run(["prelabel", folder, "--sequential"])
        assert code == 0 and "Traceback" not in err, err[-2000:]
        left = sorted(p.name for p in labels.iterdir() if p.name.endswith((".tmp", ".commit")))
        assert left == [mine.name]
        assert len(list(labels.glob("img*.png"))) == 24
    finally:
        live.kill()
        live.wait()
