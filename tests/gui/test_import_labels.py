"""File > Import labels… in the real window (pytest-qt, offscreen): read a labelme folder, classes matched by name
(a near name suggested, a new class added), saved labels kept when the user says so, and the open image shown as
saved hand labels that the model's prediction does not replace."""
import json

import numpy as np

from engine.annotate.status import Status
from engine.folder.dataset import Dataset
from engine.io.labels import read_label_png
from engine.io.provenance import make_provenance, read_provenance
from engine.labels import ClassList
from gui.app import start
from gui.dialogs import prompts
from gui.dialogs.import_labels import NEW
from tests.support.gui_fixtures import env, wait_ready, window  # noqa: F401 (fixtures)
from tests.support.gui_helpers import CLASS_NAMES

H, W = 96, 128


def write_labelme(folder, stem, shapes):
    doc = {"version": "5.4.1", "flags": {}, "imagePath": f"{stem}.png", "imageData": None, "imageHeight": H,
           "imageWidth": W, "shapes": [{"label": lab, "points": pts, "shape_type": kind, "flags": {}, "group_id": None}
                                       for lab, pts, kind in shapes]}
    (folder / f"{stem}.json").write_text(json.dumps(doc))


def test_import_labels_from_the_file_menu(qtbot, window, env, tmp_path, monkeypatch):
    folder, model = env
    mine = np.full((H, W), 2, np.uint8)   # img3 was saved by hand before: it must survive
    Dataset(folder).save(2, mine, ClassList(CLASS_NAMES), provenance=make_provenance(mine, np.ones((H, W), bool),
                                                                                    "img3.png"))
    src = tmp_path / "labelme"
    src.mkdir()
    shapes = [("Red_Thing", [[10, 10], [60, 10], [60, 50], [10, 50]], "polygon"),
              ("cat", [[70, 20], [110, 70]], "rectangle"),
              ("grn thing", [[20, 80], [30, 85]], "circle")]
    for stem in ("img1", "img2", "img3"):
        write_labelme(src, stem, shapes)
    start(window, folder, model)
    wait_ready(qtbot, window)
    assert window.importer.action in window.menus["&File"].actions()

    dialog = window.importer
    window.importer.action.trigger()
    assert dialog.isVisible()
    with qtbot.waitSignal(dialog.planned, timeout=20000) as got:
        assert dialog.read("labelme", src)
    plan = got.args[0]
    assert sorted(plan.source.names) == sorted(["Red_Thing", "cat", "grn thing"])
    assert dialog.choices() == {"Red_Thing": "red thing", "cat": NEW, "grn thing": "green thing"}
    assert "1 of the 3 image(s) have saved labels" in dialog.summary.toPlainText()

    monkeypatch.setattr(prompts, "ask_replace_saved", lambda parent, names: prompts.CANCEL)
    assert not dialog.start()                                                  # cancelled: nothing changes
    assert window.ctl.classes.class_list.names == CLASS_NAMES and not (folder / "labels" / "img1.png").exists()
    asked = []
    monkeypatch.setattr(prompts, "ask_replace_saved", lambda parent, names: asked.append(names) or prompts.KEEP)
    with qtbot.waitSignal(dialog.run_finished, timeout=30000) as done:
        assert dialog.start()
    result = done.args[0]
    assert asked == [["img3.png"]]
    assert result.imported == ["img1.png", "img2.png"] and not result.errors
    assert dialog.bar.maximum() == dialog.bar.value() == 2                       # the progress bar went through
    assert window.ctl.classes.class_list.names == (*CLASS_NAMES, "cat")      # the new class, in the window too
    assert Dataset(folder).project.classes.names == (*CLASS_NAMES, "cat")
    assert np.array_equal(read_label_png(folder / "labels" / "img3.png"), mine)
    assert [window.file_list.status_text(i) for i in range(3)] == ["saved"] * 3

    on_disk = read_label_png(folder / "labels" / "img1.png")
    assert on_disk[30, 30] == 1 and on_disk[40, 90] == 3 and on_disk[80, 20] == 2 and on_disk[90, 5] == 255
    assert read_provenance(folder / "labels" / "img1.png").origin == "hand"
    # the open image is read again: saved hand labels, which the model's prediction does not replace
    qtbot.waitUntil(lambda: window.ctl.state is not None and window.ctl.state.saved_labels is not None
                    and np.array_equal(window.ctl.state.saved_labels, on_disk), timeout=20000)
    st = wait_ready(qtbot, window)
    assert st.status == Status.SAVED and np.array_equal(st.labels, on_disk)
    assert window.file_list.status_text(0) == "saved"


def test_an_image_with_unsaved_edits_is_never_written_and_unlabelled_pixels_can_take_a_class(qtbot, window, env,
                                                                                             tmp_path):
    from tests.support.gui_helpers import brush_stroke

    folder, model = env
    src = tmp_path / "labelme"
    src.mkdir()
    for stem in ("img1", "img2"):
        write_labelme(src, stem, [("green thing", [[10, 10], [60, 10], [60, 50]], "polygon")])
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    brush_stroke(window, (20, 60), (60, 60), class_id=1)
    assert st.dirty
    ctl = window.ctl   # the stroke's window, the head's learning and the exact run change the labels: let them end
    qtbot.waitUntil(lambda: ctl.crf.shown_kind() == "exact" and not ctl.busy and not ctl.crf.pending, timeout=30000)
    edited = st.labels.copy()
    dialog = window.importer
    assert dialog.read("coco", tmp_path / "missing.json")
    qtbot.waitUntil(lambda: not dialog.running, timeout=20000)
    assert "missing.json: not a regular file" in window.last_error and dialog.plan is None
    assert not dialog.start()
    with qtbot.waitSignal(dialog.planned, timeout=20000):
        dialog.read("labelme", src)
    assert "img1.png: has unsaved edits" in dialog.summary.toPlainText()
    dialog.unlabelled_box.setCurrentText("background")
    with qtbot.waitSignal(dialog.run_finished, timeout=30000) as done:
        assert dialog.start()
    assert done.args[0].imported == ["img2.png"]
    assert not (folder / "labels" / "img1.png").exists()
    assert window.ctl.state is st and st.dirty and np.array_equal(st.labels, edited)
    labels = read_label_png(folder / "labels" / "img2.png")
    assert labels[20, 40] == 2 and labels[90, 120] == 0 and 255 not in labels
    assert window.file_list.status_text(1) == "saved" and window.file_list.status_text(0) == "edited"
