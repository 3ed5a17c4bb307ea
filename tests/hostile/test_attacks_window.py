"""The attack run of issue 26 (items 11-14) against the real window, driven by pytest-qt: a one-pixel-high or
one-pixel-wide image predicts and refines; a folder whose first image is a bomb opens its next image; label values
above the class count (in a label PNG or a journal entry) open, show and ask; a damaged class_names.txt is
reported in a dialog and kept, never silently replaced."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from engine.annotate.status import Status
from engine.folder.journal import RecoveryJournal
from engine.io.labels import read_label_png
from engine.labels import VOID
from engine.project.folder import FolderProject
from gui.app import start
from gui.dialogs import classes as class_dialogs
from gui.dialogs import damaged_journal, prompts
from gui.dialogs.classes import VOID_THEM
from tests.support.attacks import bombs, class_files
from tests.support.gui_fixtures import close_window, env, open_window, wait_image, wait_ready  # noqa: F401
from tests.support.gui_helpers import make_image


@pytest.fixture
def warned(monkeypatch):
    """Every warning dialog the window shows, as (title, text)."""
    seen = []
    monkeypatch.setattr(prompts, "warn", lambda parent, title, text: seen.append((title, text)))
    return seen


# ---------------------------------------------------------------- 11: any aspect ratio the pixel cap allows
@pytest.mark.parametrize("shape", [(1, 65535), (65535, 1), (2, 3000)])
def test_strip_images_predict_and_refine_in_the_window(qtbot, tmp_path, env, monkeypatch, shape):
    folder, model = env
    strip = tmp_path / "strip"
    strip.mkdir()
    image = make_image(0, 64, 64)
    Image.fromarray(np.resize(image, shape + (3,))).save(strip / "strip.png")
    w = open_window(tmp_path)
    try:
        start(w, strip, model)
        st = wait_ready(qtbot, w)
        assert st.labels.shape == shape and st.probs.shape[1:] == shape and not w.last_error
        assert w.canvas.has_image()
        w.ctl.editor.set_paint_class(2)                          # a stroke on it refines locally
        w.ctl.editor.begin_stroke((0, 0))
        w.ctl.editor.stroke_to((min(shape[1] - 1, 30), min(shape[0] - 1, 30)))
        w.ctl.editor.end_stroke()
        st = wait_ready(qtbot, w)
        qtbot.waitUntil(lambda: not w.ctl.lanes["adapt"].busy, timeout=20000)   # the head learnt from it
        assert st.labels[0, 0] == 2 and w.save() and not w.last_error
        assert read_label_png(strip / "labels" / "strip.png").shape == shape
    finally:
        close_window(w, monkeypatch)


# ---------------------------------------------------------------- 12: the first image refused
def test_folder_whose_first_image_is_a_bomb_opens_the_next_one(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    (folder / "img0.png").write_bytes(bombs.png_bomb(30000, 30000, colour=False))   # first by name, 900 MP
    (folder / "img1.png").write_bytes(b"not a png at all")                           # second: unreadable too
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        st = wait_ready(qtbot, w)
        assert st.path.name == "img2.png"                      # the first openable image
        ds = w.ctl.dataset
        assert ds.status(0) == Status.ERROR and ds.status(1) == Status.ERROR
        assert w.file_list.topLevelItemCount() == 4            # the refused ones stay listed...
        tip = w.file_list.topLevelItem(0).toolTip(0)
        assert "over the limit of 100 MP" in tip               # ...marked, with the reason
        assert w.file_list.currentItem() is w.file_list.item_for(st.index)
        w.go_to(0)                                             # chosen by hand: it says why, and stays there
        qtbot.waitUntil(lambda: "img0.png" in w.last_error and "over the limit" in w.last_error, timeout=10000)
        assert w.ctl.state is None and w.ctl.index == 0
    finally:
        close_window(w, monkeypatch)


def test_folder_of_only_refused_images_says_so(qtbot, tmp_path, env, monkeypatch):
    _, model = env
    folder = tmp_path / "bombs"
    folder.mkdir()
    (folder / "a.png").write_bytes(bombs.png_bomb(30000, 30000, colour=False))
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        qtbot.waitUntil(lambda: w.ctl.dataset is not None and w.ctl.dataset.status(1) == Status.ERROR, timeout=10000)
        qtbot.waitUntil(lambda: "No image in" in w.last_error, timeout=10000)
        assert w.ctl.state is None
    finally:
        close_window(w, monkeypatch)


# ---------------------------------------------------------------- 13: label values above the class count
@pytest.mark.parametrize("mode", ["P", "L"])
def test_label_png_with_values_above_the_class_count_opens_shows_and_asks(qtbot, tmp_path, env, monkeypatch,
                                                                          mode):
    folder, model = env
    (folder / "labels").mkdir()
    saved = np.zeros((96, 128), np.uint8)
    saved[5:15, 5:25] = 3                                      # the colour model and the folder have 3 classes
    saved[40:42, 40:50] = 254
    img = Image.fromarray(saved, "L")
    if mode == "P":
        img = img.convert("P")
        img.putpalette([0] * 768)
    img.save(folder / "labels" / "img1.png")
    asked = []
    monkeypatch.setattr(class_dialogs, "ask_unknown",
                        lambda parent, text, values: asked.append((text, values)) or VOID_THEM)
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        st = wait_ready(qtbot, w)
        assert st.index == 0 and (st.labels[5:15, 5:25] == 3).all() and (st.labels[40:42, 40:50] == 254).all()
        assert "label values 3, 254" in w.last_error or "label values 3, 254" in w.status.activity.text()
        assert w.canvas.overlay_visible("unknown")
        assert w.save() and asked and asked[0][1] == (3, 254)
        written = read_label_png(folder / "labels" / "img1.png")
        assert (written[5:15, 5:25] == VOID).all() and (written[40:42, 40:50] == VOID).all()
    finally:
        close_window(w, monkeypatch)


def test_journal_entry_with_values_above_the_class_count_opens_shows_and_asks(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    labels = np.zeros((96, 128), np.uint8)
    labels[10:20, 10:20] = 200
    labels[30:40, 30:40] = 1
    locked = np.zeros_like(labels, bool)
    locked[10:20, 10:20] = locked[30:40, 30:40] = True
    RecoveryJournal(folder / "labels" / ".recovery").save("img1.png", labels, locked, {"base": "model"})
    restore_asked, asked = [], []
    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: restore_asked.append(entries) or True)
    monkeypatch.setattr(damaged_journal, "show_damaged_journal", lambda parent, records: None)
    monkeypatch.setattr(class_dialogs, "ask_unknown",
                        lambda parent, text, values: asked.append(values) or VOID_THEM)
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        st = wait_ready(qtbot, w)                              # the CRF runs: the unknown value is no class to it
        assert [e.image_id for e in restore_asked[0]] == ["img1.png"]
        assert (st.labels[10:20, 10:20] == 200).all() and (st.labels[30:40, 30:40] == 1).all()
        assert "200" in w.last_error and w.canvas.overlay_visible("unknown")
        assert w.save() and asked == [(200,)]
        written = read_label_png(folder / "labels" / "img1.png")
        assert (written[10:20, 10:20] == VOID).all() and (written[30:40, 30:40] == 1).all()
    finally:
        close_window(w, monkeypatch)


# ---------------------------------------------------------------- 14: a damaged class_names.txt
def test_damaged_class_names_is_shown_and_kept(qtbot, tmp_path, env, monkeypatch, warned):
    folder, model = env
    (folder / "labels").mkdir()
    original = class_files.hostile_class_names()
    (folder / "labels" / "class_names.txt").write_bytes(original)
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        wait_ready(qtbot, w)                                   # the folder opened behind the (non-modal) box
        boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible()]
        assert [b.windowTitle() for b in boxes] == ["This folder's class list cannot be used"] and warned == []
        text = boxes[0].detailedText()
        assert "class_names.txt" in text and "line 4: 'red thing' repeats line 3" in text
        assert "line 6 is 200001 characters long" in text and "class_names.txt.damaged" in text
        assert "class_names.txt" in boxes[0].text() and len(boxes[0].text()) <= 300
        boxes[0].close()
        assert (folder / "labels" / "class_names.txt").read_bytes() == original   # nothing written on open
        assert w.save()
        kept = folder / "labels" / "class_names.txt.damaged"
        assert kept.read_bytes() == original                    # the user's file is kept, byte for byte
        assert FolderProject.open(folder / "labels").problems == []
        assert any("class_names.txt.damaged" in m for m in (w.last_error, w.status.activity.text()))
    finally:
        close_window(w, monkeypatch)
