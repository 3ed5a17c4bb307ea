"""Hand correction in the real window (offscreen): each tool driven through the canvas with mouse
and key events, undo/redo through the QUndoStack, locks that survive the CRF and a new prediction,
the lock overlay, clear locks, save with a provenance sidecar, and a failed save that keeps the edits."""
import errno
import json
import os

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from engine.crf import get_backend
from engine.crf.constraints import run_constrained
from engine.io.labels import read_label_png
from engine.io.provenance import read_provenance
from engine.labels import VOID
from gui.app import start
from gui.dialogs import prompts
from gui.tools import BrushTool
from tests.support.gui_fixtures import env, wait_ready, window  # noqa: F401 (fixtures)

BG, RED, GREEN = 0, 1, 2


def vpos(w, x, y):
    """Viewport position of the centre of image pixel (x, y)."""
    return w.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))


def drag(qtbot, w, points, modifier=Qt.KeyboardModifier.NoModifier):
    vp = w.canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, modifier, vpos(w, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(vp, vpos(w, *p))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, modifier, vpos(w, *points[-1]))


def click(qtbot, w, x, y, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(w.canvas.viewport(), Qt.MouseButton.LeftButton, modifier, vpos(w, x, y))


def key(qtbot, w, k, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(w.canvas, k, modifier)


def snapshot(w):
    return w.ctl.state.edits.snapshot()


def opened(qtbot, w, env, auto_refine=False):
    folder, model = env
    w.editing.auto_refine.setChecked(auto_refine)
    start(w, folder, model)
    st = wait_ready(qtbot, w)
    w.activateWindow()
    w.canvas.setFocus()
    return st


def test_brush_eraser_size_keys_and_undo_redo(qtbot, window, env):
    st = opened(qtbot, window, env)
    ed, stack = window.ctl.editor, window.ctl.editor.stack()
    key(qtbot, window, Qt.Key.Key_B)
    assert isinstance(window.canvas.tool, BrushTool) and window.editing.tool_name == "brush"
    key(qtbot, window, Qt.Key.Key_2)
    assert ed.paint_class == GREEN and window.class_panel.paint_class() == GREEN
    assert "green thing" in window.status.tool.text() and "Brush" in window.status.tool.text()
    r0 = ed.radius
    key(qtbot, window, Qt.Key.Key_BracketRight)
    assert ed.radius > r0 and window.editing.size_box.value() == ed.radius
    key(qtbot, window, Qt.Key.Key_BracketLeft)
    key(qtbot, window, Qt.Key.Key_BracketLeft)
    assert ed.radius < r0
    ed.set_radius(2)

    before = snapshot(window)
    drag(qtbot, window, [(10, 80), (30, 80), (50, 84)])
    labels, locked = snapshot(window)
    assert labels[80, 10] == GREEN and labels[80, 30] == GREEN and labels[84, 50] == GREEN
    assert labels[82, 20] == GREEN                       # the segment between two samples is painted
    assert locked[labels != before[0]].all() and locked[80, 20]   # every changed pixel is locked
    assert not locked[70, 20] and labels[70, 20] == before[0][70, 20]
    assert stack.count() == 1                             # one command per stroke
    cmd = stack.command(0)
    assert cmd.edit.after_labels.size < labels.size / 10  # only the changed region is stored
    assert window.file_list.status_text(0) == "edited"
    outline = window.canvas.tool.outline
    assert outline is not None and outline.isVisible() and outline.rect().width() == pytest.approx(5.0)

    key(qtbot, window, Qt.Key.Key_E)                     # the eraser: back to the model's labels, unlocked
    assert "Eraser" in window.status.tool.text()
    drag(qtbot, window, [(10, 80), (13, 80)])
    assert not st.locked[80, 11] and st.labels[80, 11] == st.model_labels[80, 11] != GREEN
    assert st.locked[80, 30] and st.labels[80, 30] == GREEN          # the rest of the stroke stays
    after_erase = snapshot(window)
    key(qtbot, window, Qt.Key.Key_V)                     # paint void: void, locked
    assert "Paint void" in window.status.tool.text()
    drag(qtbot, window, [(100, 10), (110, 10)])
    assert st.labels[10, 105] == VOID and st.locked[10, 105]
    after_all = snapshot(window)
    assert stack.count() == 3

    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(window), after_erase))
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(snapshot(window)[0], labels) and np.array_equal(snapshot(window)[1], locked)
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(snapshot(window)[0], before[0]) and not snapshot(window)[1].any()
    for _ in range(3):
        key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(window), after_all))
    assert window.editing.undo.text().replace("&", "") == "Undo Paint void"
    assert window.editing.redo.shortcuts()[0].toString() == "Ctrl+Shift+Z"
    img = window.canvas.overlay("labels").pixmap().toImage()   # the overlay shows the edit
    assert img.pixelColor(30, 80).green() > 100 and img.pixelColor(105, 10).alpha() == 0


def test_fill_polygon_lasso_and_pick(qtbot, window, env):
    st = opened(qtbot, window, env)
    ed = window.ctl.editor
    ys, xs = np.nonzero(st.labels == RED)
    y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
    key(qtbot, window, Qt.Key.Key_I)                      # pick class under the cursor
    click(qtbot, window, x, y)
    assert ed.paint_class == RED
    click(qtbot, window, 2, 2, Qt.KeyboardModifier.AltModifier)   # Alt+click picks with any tool
    assert ed.paint_class == st.labels[2, 2] == BG

    key(qtbot, window, Qt.Key.Key_G)
    window.class_panel.tree.itemClicked.emit(window.class_panel.tree.topLevelItem(GREEN), 0)  # panel click
    assert ed.paint_class == GREEN
    region = st.labels == RED
    _, comp = cv2.connectedComponents(region.astype(np.uint8), connectivity=4)
    want = comp == comp[y, x]
    click(qtbot, window, x, y)
    assert np.all(st.labels[want] == GREEN) and np.array_equal(st.locked, want)

    key(qtbot, window, Qt.Key.Key_1)
    key(qtbot, window, Qt.Key.Key_P)                      # polygon: click points, Enter closes
    for p in [(5, 5), (25, 5), (25, 20)]:
        click(qtbot, window, *p)
    assert st.labels[6, 20] != RED or not st.locked[6, 20]   # nothing filled before closing
    key(qtbot, window, Qt.Key.Key_Return)
    assert st.labels[6, 20] == RED and st.locked[6, 20] and st.labels[18, 7] != RED
    n = window.ctl.editor.stack().count()

    key(qtbot, window, Qt.Key.Key_0)                      # lasso: one drag, filled on release
    drag(qtbot, window, [(60, 60), (80, 60), (80, 75), (60, 75)])
    assert st.labels[67, 70] == BG and st.locked[67, 70]
    assert window.ctl.editor.stack().count() == n + 1

    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not st.locked[67, 70]

    click(qtbot, window, 90, 40)                          # double-click closes a polygon too
    click(qtbot, window, 110, 40)
    assert not st.locked[45, 108]
    qtbot.mouseDClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=vpos(window, 110, 60))
    assert st.locked[45, 108] and st.labels[45, 108] == BG and not st.locked[55, 92]


def test_locks_survive_crf_and_new_prediction_and_clear_locks(qtbot, window, env):
    st = opened(qtbot, window, env, auto_refine=True)
    assert window.editing.auto_refine.isChecked() and window.ctl.edits.auto_refine
    ys, xs = np.nonzero(st.labels == RED)
    y, x = int(np.median(ys)), int(np.median(xs))
    window.ctl.editor.set_paint_class(GREEN)
    window.ctl.editor.set_radius(3)
    window.editing.set_tool("brush")
    drag(qtbot, window, [(x - 8, y), (x + 8, y)])
    locked = st.locked.copy()
    assert locked.sum() > 50 and window.ctl.busy          # auto-refine started a CRF run
    st = wait_ready(qtbot, window)
    assert np.all(st.labels[locked] == GREEN)
    session = get_backend("reference").session(st.image)
    want = run_constrained(session, st.probs, window.ctl.crf.params, st.labels, locked).labels
    np.testing.assert_array_equal(st.labels, want)         # exactly the constrained CRF

    window.ctl.request_predict()                           # F5: a new prediction keeps the locks
    qtbot.waitUntil(lambda: window.ctl.busy, timeout=5000)
    st = wait_ready(qtbot, window)
    assert np.array_equal(st.locked, locked) and np.all(st.labels[locked] == GREEN)
    np.testing.assert_array_equal(st.labels, want)

    assert window.canvas.overlay_visible("locks")
    hatch = window.canvas.overlay("locks").pixmap().toImage()
    alphas = [hatch.pixelColor(int(c), int(r)).alpha() for r, c in zip(*np.nonzero(locked))]
    assert min(alphas) > 0
    window.toolbar.locks.setChecked(False)
    assert not window.canvas.overlay_visible("locks")
    window.toolbar.locks.setChecked(True)

    window.editing.clear_locks.trigger()                   # undoable; the CRF takes the pixels back
    assert not st.locked.any() and not window.canvas.overlay_visible("locks")
    st = wait_ready(qtbot, window)
    assert (st.labels[locked] == GREEN).mean() < 0.5
    window.ctl.editor.stack().undo()
    assert np.array_equal(st.locked, locked)


def test_save_writes_provenance_and_a_failed_save_keeps_the_edits(qtbot, window, env, monkeypatch):
    folder, _ = env
    st = opened(qtbot, window, env)
    window.ctl.editor.set_paint_class(GREEN)
    window.editing.set_tool("brush")
    drag(qtbot, window, [(10, 10), (40, 10)])
    journal = window.ctl.recovery.journal
    qtbot.waitUntil(lambda: journal.has("img1.png"), timeout=5000)   # autosaved
    assert window.save()
    assert not journal.has("img1.png") and window.file_list.status_text(0) == "saved"
    np.testing.assert_array_equal(read_label_png(folder / "labels" / "img1.png"), st.labels)
    prov = read_provenance(folder / "labels" / "img1.png")
    assert prov.edited_pixels == st.locked.sum() > 0 and np.array_equal(prov.edited_mask(), st.locked)
    assert prov.model_name == "colour-test" and prov.crf_backend == "reference"
    assert prov.crf_params == json.loads(json.dumps(window.ctl.crf.params.to_dict()))

    drag(qtbot, window, [(10, 50), (40, 50)])
    edited = st.labels.copy()
    warned = []
    monkeypatch.setattr(prompts, "warn", lambda parent, title, text: warned.append(text))

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    assert not window.save()
    assert warned and "disk is full" in warned[0] and "still in memory" in warned[0]
    assert window.file_list.status_text(0) == "edited" and st.dirty
    np.testing.assert_array_equal(st.labels, edited)
    assert (read_label_png(folder / "labels" / "img1.png")[50, 10:41] != GREEN).any()  # old file intact
    monkeypatch.undo()
    assert window.save()
    np.testing.assert_array_equal(read_label_png(folder / "labels" / "img1.png"), edited)


def test_after_opening_an_empty_folder_nothing_is_edited(qtbot, window, env, tmp_path):
    """The editor is bound to the open image only: once another folder opens (here with no images), a stroke finds
    nothing to edit and the image left behind is untouched."""
    opened(qtbot, window, env)
    left = window.ctl.state
    locked = left.locked.copy() if left.locked is not None else None
    (tmp_path / "empty").mkdir()
    assert window.ctl.open_folder(tmp_path / "empty")
    assert window.ctl.state is None
    assert not window.ctl.editor.begin_stroke((10, 10))
    assert (left.locked is None and locked is None) or np.array_equal(left.locked, locked)


def test_history_is_bounded_while_visiting_saved_images(qtbot, window, env):
    """One history store with a real cap: saved images keep their undo history for a return visit, but only the
    last ``max_images`` of them; before, the editor kept a stack for every image visited."""
    opened(qtbot, window, env)
    history = window.ctl.image.history
    history.max_images = 1
    ed = window.ctl.editor
    ed.set_paint_class(GREEN)
    window.editing.set_tool("brush")
    for i in range(len(window.ctl.dataset)):
        drag(qtbot, window, [(10, 10 + 5 * i), (30, 10 + 5 * i)])
        assert window.save()
        if i + 1 < len(window.ctl.dataset):
            window.go(+1)
            wait_ready(qtbot, window)
    assert len(window.ctl.dataset) >= 3
    assert len(history) == 2                      # the open image and the one left last
    window.go(-1)
    wait_ready(qtbot, window)
    assert ed.stack().count() == 1                # the image left last: its stroke can still be undone
    window.go(-1)
    wait_ready(qtbot, window)
    assert ed.stack().count() == 0                # dropped by the cap: labels and locks from disk, no undo


def test_undo_stacks_are_per_image_and_a_saved_image_keeps_its_locks(qtbot, window, env, monkeypatch):
    opened(qtbot, window, env)
    ed = window.ctl.editor
    ed.set_paint_class(GREEN)
    window.editing.set_tool("brush")
    drag(qtbot, window, [(10, 10), (30, 10)])
    first_stack = ed.stack()
    locked1 = window.ctl.state.locked.copy()
    assert window.save()
    window.go(+1)
    st2 = wait_ready(qtbot, window)
    assert ed.stack() is not first_stack and ed.stack().count() == 0 and not window.editing.undo.isEnabled()
    drag(qtbot, window, [(50, 50), (60, 50)])
    assert ed.stack().count() == 1 and st2.locked.any()
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    window.go(-1)                                          # img2's edits thrown away, img1 was saved
    st1 = wait_ready(qtbot, window)
    assert np.array_equal(st1.locked, locked1)            # same labels as on disk: locks come back
    assert ed.stack() is first_stack and ed.stack().count() == 1
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not st1.locked.any() and window.file_list.status_text(0) == "edited"


def test_the_toolbar_class_label_is_rich_text_with_or_without_a_swatch(qtbot, window):
    """A walk saw '&nbsp;Class: 1 ?&nbsp;' while the model loaded: with no swatch the text held no tag, so Qt
    showed it as plain text. A class name is escaped, not read as markup."""
    label = window.editing.class_label
    window.editing.refresh()                       # no class list yet: no swatch
    assert label.textFormat() == Qt.TextFormat.RichText
    assert "?" in label.text() and "<" not in window.editing.class_text()
    window.editing.class_text = lambda: "1 <b>bold</b> & co"
    window.editing.refresh()
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in label.text()


def test_the_open_images_undo_history_is_bounded_and_what_is_kept_still_undoes(qtbot, window, env, monkeypatch):
    """A walk: 40 fills of a 6 MP image held 1 GB of undo records. With room for two records, three strokes keep
    the last two: Ctrl+Z undoes them in order, then there is nothing more to undo."""
    from gui.session import history as history_mod

    opened(qtbot, window, env)
    ed = window.ctl.editor
    key(qtbot, window, Qt.Key.Key_B)
    key(qtbot, window, Qt.Key.Key_2)
    ed.set_radius(2)
    drag(qtbot, window, [(10, 80), (30, 80)])
    first = snapshot(window)
    one = history_mod.entry_bytes(None, ed.stack())
    monkeypatch.setattr(history_mod, "OPEN_UNDO_BYTES", int(2.5 * one))
    drag(qtbot, window, [(10, 60), (30, 60)])
    second = snapshot(window)
    drag(qtbot, window, [(10, 40), (30, 40)])
    stack = ed.stack()
    assert stack.count() == 2 and stack is window.ctl.editor.history.group.activeStack()
    stack.undo()
    np.testing.assert_array_equal(snapshot(window)[0], second[0])
    stack.undo()
    np.testing.assert_array_equal(snapshot(window)[0], first[0])
    np.testing.assert_array_equal(snapshot(window)[1], first[1])
    assert not stack.canUndo()
    stack.redo()
    np.testing.assert_array_equal(snapshot(window)[0], second[0])
