"""The folder's classes in the real window (offscreen): the mismatch dialog when class_names.txt differs from the
model, the class editor (add, rename with F2, recolour, reorder, hide, delete), label values that are not
classes, a hostile project.json, and the folder's recorded CRF values (taken as the folder's own)."""
import json

import numpy as np
from PySide6.QtCore import Qt

from engine.checkpoints import load_checkpoint
from engine.crf import PRESETS
from engine.io.images import read_image
from engine.io.labels import read_label_png, write_label_png
from engine.labels import VOID, ClassList
from engine.predict import Predictor
from engine.project import CRFSettings, FolderProject
from gui.app import start
from gui.dialogs import classes as class_dialogs
from gui.session.classes import CANCEL, VOID_THEM
from tests.support.class_dialogs import answer_mismatch
from tests.support.gui_fixtures import close_window, env, open_window, wait_image, wait_ready, window  # noqa: F401

FOLDER_LIST = "0 background\n1 green thing\n2 red thing\n"   # the model's order: background, red, green


def test_folder_with_other_class_order_remap_by_name_then_save(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    labels_dir = folder / "labels"
    labels_dir.mkdir()
    (labels_dir / "class_names.txt").write_text(FOLDER_LIST, encoding="utf-8")
    saved = np.zeros((96, 128), np.uint8)
    saved[10:30, 10:40] = 1                                          # "green thing" in the folder's ids
    write_label_png(labels_dir / "img2.png", saved, ClassList(("background", "green thing", "red thing")))
    w = open_window(tmp_path)
    seen = []
    answer_mismatch("remap_button", seen)
    start(w, folder, model)
    st = wait_ready(qtbot, w)
    assert seen == [["background", "green thing", "red thing"]]      # by name, each folder class finds its own
    assert w.ctl.classes.class_list.names == ("background", "green thing", "red thing")
    assert w.class_panel.tree.topLevelItem(2).text(0).endswith("red thing")
    probs = Predictor(load_checkpoint(model), "cpu").predict(read_image(folder / "img1.png"))
    np.testing.assert_allclose(st.probs, probs[[0, 2, 1]], atol=1e-5)   # model channels in the folder's ids
    image = read_image(folder / "img1.png").astype(int)
    red = (image[..., 0] > 150) & (image[..., 1] < 110)
    assert (st.labels[red] == 2).mean() > 0.9                        # red pixels get the folder's "red thing"
    assert w.save()
    np.testing.assert_array_equal(read_label_png(labels_dir / "img1.png"), st.labels)
    assert (labels_dir / "class_names.txt").read_text() == FOLDER_LIST   # the folder's names, not the model's
    project = json.loads((labels_dir / "project.json").read_text())
    assert [c["name"] for c in project["classes"]] == ["background", "green thing", "red thing"]
    assert project["model"]["channels"] == [0, 2, 1]
    w.go(+1)                                                         # saved labels are read as they are
    st2 = wait_image(qtbot, w, 1)
    qtbot.waitUntil(lambda: st2.labels is not None)
    np.testing.assert_array_equal(st2.labels, saved)
    close_window(w, monkeypatch)

    monkeypatch.setattr(class_dialogs, "ask_mismatch", lambda *a: (_ for _ in ()).throw(AssertionError("asked")))
    w2 = open_window(tmp_path)                                       # the answer is remembered for this model
    start(w2, folder, model)
    wait_ready(qtbot, w2)
    assert w2.ctl.classes.channel_map.source == (0, 2, 1)
    close_window(w2, monkeypatch)


def test_a_remembered_map_that_sends_a_class_away_from_its_own_name_is_matched_by_name(qtbot, tmp_path, env,
                                                                                         monkeypatch):
    """A walk edited project.json's model.channels to swap two classes whose names the model has: no message,
    and every pixel of one was labelled the other. Such a map is not taken; the classes are matched by name."""
    folder, model = env
    w = open_window(tmp_path)
    start(w, folder, model)
    wait_ready(qtbot, w)
    assert w.save()
    close_window(w, monkeypatch)
    path = folder / "labels" / "project.json"
    project = json.loads(path.read_text())
    n = len(project["model"]["channels"])
    assert project["model"]["channels"] == list(range(n))
    project["model"]["channels"] = list(reversed(range(n)))
    path.write_text(json.dumps(project))
    w2 = open_window(tmp_path)
    errors = []
    w2.ctl.error.connect(errors.append)
    try:
        start(w2, folder, model)
        wait_ready(qtbot, w2)
        assert w2.ctl.classes.channel_map.source == tuple(range(n))
        assert any("matched by name instead" in e for e in errors), errors
    finally:
        close_window(w2, monkeypatch)


def test_keep_by_position_keeps_the_folders_ids_and_names(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    (folder / "labels").mkdir()
    (folder / "labels" / "class_names.txt").write_text("0 sky\n1 car\n2 tree\n", encoding="utf-8")
    w = open_window(tmp_path)
    seen = []
    answer_mismatch("keep_button", seen)
    start(w, folder, model)
    st = wait_ready(qtbot, w)
    assert seen and w.ctl.classes.channel_map.identity and w.ctl.classes.class_list.names == ("sky", "car", "tree")
    assert w.save()
    assert (folder / "labels" / "class_names.txt").read_text() == "0 sky\n1 car\n2 tree\n"
    np.testing.assert_array_equal(read_label_png(folder / "labels" / "img1.png"), st.labels)
    close_window(w, monkeypatch)


def test_class_editor_add_rename_recolour_reorder_hide_delete(qtbot, window, env, monkeypatch, tmp_path):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    ctl, editor, panel = window.ctl, window.class_editor, window.class_panel
    names = iter(["scratch", "crimson", "spare"])
    monkeypatch.setattr(class_dialogs, "ask_class_name", lambda *a: next(names))
    told = []
    monkeypatch.setattr(class_dialogs, "inform", lambda parent, title, text: told.append(text))
    monkeypatch.setattr(class_dialogs, "confirm", lambda *a: True)

    panel.select(2)                                                  # the heat map of class 2 is open
    assert editor.add()                                              # a class the model does not know: id 3
    assert panel.selected() == 2 and window.presenter.opts.heat_class == 2   # (adding one had closed it)
    assert ctl.classes.class_list.names[3] == "scratch" and ctl.classes.channel_map.source == (0, 1, 2, -1)
    assert ctl.editor.paint_class == 3 and ctl.state.probs.shape[0] == 4
    assert panel.tree.topLevelItemCount() == 4
    assert (folder / "labels" / "class_names.txt").read_text().splitlines()[-1] == "3 scratch"
    ctl.editor.begin_stroke((60, 50))                                # paint it; the CRF runs with it locked
    ctl.editor.stroke_to((70, 50))
    ctl.editor.end_stroke()
    st = wait_ready(qtbot, window)
    assert (st.labels == 3).any()
    assert window.save()
    png = (folder / "labels" / "img1.png").read_bytes()

    window.activateWindow()
    ctl.editor.set_paint_class(1)
    panel.tree.setFocus()
    qtbot.keyClick(panel.tree, Qt.Key.Key_F2)                        # rename the paint class
    assert ctl.classes.class_list.names[1] == "crimson"
    monkeypatch.setattr(class_dialogs, "ask_colour", lambda parent, rgb: (1, 2, 3))
    assert editor.recolour() and ctl.classes.class_list.palette[1] == (1, 2, 3)
    qtbot.keyClick(panel.tree, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)   # shown one row lower
    assert panel.ids_in_order() == [0, 2, 1, 3]
    assert ctl.classes.class_list.names == ("background", "crimson", "green thing", "scratch")   # ids unchanged
    tree = panel.tree                                                # a drag: the row is taken and put back
    tree.insertTopLevelItem(0, tree.takeTopLevelItem(3))
    qtbot.waitUntil(lambda: ctl.classes.project.classes.order == (3, 0, 2, 1), timeout=5000)
    tree.insertTopLevelItem(3, tree.takeTopLevelItem(0))
    qtbot.waitUntil(lambda: ctl.classes.project.classes.order == (0, 2, 1, 3), timeout=5000)
    panel._item(2).setCheckState(0, Qt.CheckState.Unchecked)         # hide "green thing"
    assert (folder / "labels" / "img1.png").read_bytes() == png      # no label file was rewritten

    project = FolderProject.open(folder / "labels")
    assert project.classes.order == (0, 2, 1, 3) and project.classes.hidden == (False, False, True, False)
    assert project.classes.by_id(1).name == "crimson" and project.classes.by_id(1).color == (1, 2, 3)

    ctl.editor.set_paint_class(3)
    assert editor.delete()                                           # used in img1.png: refused
    qtbot.waitUntil(lambda: len(told) == 1, timeout=10000)
    assert "used in 1 image: img1.png." in told[0]
    assert "Checking" not in window.status.activity.text()          # the check's status line has its answer
    ctl.editor.set_paint_class(1)
    assert not editor.delete() and "highest id" in told[1]          # would renumber the ids after it
    assert editor.add()                                              # 'spare', id 4, unused: can go
    assert editor.delete()
    qtbot.waitUntil(lambda: len(ctl.classes.class_list) == 4, timeout=10000)

    done = []
    window.export_menu.finished.connect(done.append)
    assert window.export_menu.export("coco", tmp_path / "coco.json")   # exports use the folder's list
    qtbot.waitUntil(lambda: len(done) == 1, timeout=10000)
    cats = json.loads((tmp_path / "coco.json").read_text())["categories"]
    assert [c["name"] for c in cats] == ["crimson", "green thing", "scratch"]

    assert not wait_ready(qtbot, window).dirty                       # class edits changed no label
    window.open_folder(folder)                                       # reopened: order and hidden flags come back
    assert panel.ids_in_order() == [0, 2, 1, 3] and list(panel.visible()) == [True, True, False, True]


def test_label_values_that_are_not_classes_are_flagged_and_need_a_decision(qtbot, window, env, monkeypatch):
    folder, model = env
    (folder / "labels").mkdir()
    saved = np.zeros((96, 128), np.uint8)
    saved[5:15, 5:25] = 7                                            # 200 pixels of a class the folder lacks
    write_label_png(folder / "labels" / "img1.png", saved, ClassList(("background", "red thing", "green thing")))
    png = (folder / "labels" / "img1.png").read_bytes()
    errors = []
    window.ctl.error.connect(errors.append)
    start(window, folder, model)
    wait_ready(qtbot, window)
    assert any("img1.png" in e and "200 pixels with label value 7" in e for e in errors)
    assert window.canvas.overlay_visible("unknown")                  # drawn with their own checks

    answers = [CANCEL]
    monkeypatch.setattr(class_dialogs, "ask_unknown", lambda parent, text, values: answers.pop(0))
    assert not window.save()                                         # cancelled: nothing written
    assert (folder / "labels" / "img1.png").read_bytes() == png
    answers.append(VOID_THEM)
    assert window.save()
    written = read_label_png(folder / "labels" / "img1.png")
    assert (written[5:15, 5:25] == VOID).all() and not window.canvas.overlay_visible("unknown")
    window.ctl.editor.stack().undo()                                 # making them void is one undoable step
    assert (window.ctl.state.labels[5:15, 5:25] == 7).all()


def test_hostile_project_json_folder_opens_and_recorded_crf_values_are_taken(qtbot, window, env, monkeypatch):
    folder, model = env
    (folder / "labels").mkdir()
    (folder / "labels" / "project.json").write_text('{"format": "deeplab-annotator-project", "version": 1, '
                                                     '"classes": [{"id": 0, "name": "a\\nb", "color": [0, 0, 0]}]}')
    errors = []
    window.ctl.error.connect(errors.append)
    start(window, folder, model)
    wait_ready(qtbot, window)
    assert any("project.json" in e and "control characters" in e for e in errors)
    assert window.file_list.topLevelItemCount() == 3 and window.ctl.classes.class_list.names[1] == "red thing"
    assert window.save()
    assert (folder / "labels" / "project.json.damaged").is_file()     # kept, not overwritten

    project = FolderProject.open(folder / "labels")                  # a teammate tuned the CRF
    project.set_crf(CRFSettings(PRESETS["deeplab-v2"].replace(pos_w=7.0), "reference"))
    project.write()
    asked = []
    monkeypatch.setattr(class_dialogs, "ask_settings", lambda parent, lines: asked.append(lines) or True)
    window.open_folder(folder)
    st = wait_ready(qtbot, window)
    assert asked == []                          # CRF values are the folder's: taken, not asked (issue 26, item 5)
    assert window.ctl.crf.params.pos_w == 7.0 and window.crf_panel.params() == window.ctl.crf.params
    assert st.crf_params.pos_w == 7.0


def test_an_open_image_whose_unsaved_and_saved_labels_use_a_class_is_counted_once(qtbot, window, env):
    """A walk: "'mitosis' is used in 2 images: tile07.png (open, unsaved), tile07.png." for one image saved with
    the class and edited again since."""
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    ed = window.ctl.editor
    ed.set_paint_class(2)
    for y in (20, 40):                                  # saved with the class, then painted with it again
        ed.begin_stroke((40, y))
        ed.stroke_to((60, y))
        ed.end_stroke()
        st = wait_ready(qtbot, window)
        if y == 20:
            assert window.save() and (read_label_png(folder / "labels" / "img1.png") == 2).any()
    assert st.dirty
    open_use, job = window.ctl.classes.class_usage(2)
    saved = job(lambda: False, None)
    assert open_use == ["img1.png (open, unsaved)"] and "img1.png" not in saved


def test_a_class_the_open_image_only_predicts_does_not_block_its_delete(qtbot, window, env):
    """A walk: deleting a taught class was refused because the open, edited image showed it; erasing the stroke as
    told did not help, since the model still predicted it there. Only painted pixels count: predicted ones go with
    the class's output."""
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    ed = window.ctl.editor
    st = window.ctl.state
    predicted = int(np.bincount(st.labels[st.labels != 255].ravel()).argmax())
    painted = (predicted + 1) % len(window.ctl.classes.class_list)
    ed.set_paint_class(painted)
    ed.begin_stroke((40, 20))
    ed.stroke_to((60, 20))
    ed.end_stroke()
    st = wait_ready(qtbot, window)
    assert st.dirty and (st.labels[~st.locked] == predicted).any() and not (st.labels[st.locked] == predicted).any()
    assert window.ctl.classes.class_usage(predicted)[0] == []
    assert window.ctl.classes.class_usage(painted)[0] == ["img1.png (open, unsaved)"]


def test_a_folder_without_crf_values_says_it_starts_from_the_models_preset(qtbot, tmp_path, env, monkeypatch):
    """A walk: with the model's preset already selected, opening a folder without values of its own said nothing,
    though the docs say the status bar names the preset it starts from."""
    import shutil
    folder, model = env
    other = tmp_path / "other"
    shutil.copytree(folder, other, ignore=shutil.ignore_patterns("labels"))
    w = open_window(tmp_path)
    start(w, folder, model)
    wait_ready(qtbot, w)
    said = []
    monkeypatch.setattr(w.status, "set_activity", lambda text, *a, **k: said.append(text))
    assert w.ctl.open_folder(other)
    assert any(t.startswith("CRF preset") and "no CRF values of its own" in t for t in said), said
    monkeypatch.undo()
    close_window(w, monkeypatch)
