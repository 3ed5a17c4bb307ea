"""Settings that stick (issue 26, items 4-6), in the real window: the folder's model loads directly on every start
and nothing is asked again; CRF values belong to the folder they were moved in; a new model leaves saved labels
and the folder's CRF values alone; Discard leaves a pre-labelled image pre-labelled."""
import json
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings

import gui.app as app
from engine.folder.dataset import Dataset
from engine.io.provenance import ORIGIN_MACHINE, make_provenance
from engine.labels import ClassList
from gui.dialogs import classes as class_dialogs
from gui.dialogs import prompts
from gui.main_window import MainWindow
from tests.support.gui_fixtures import close_window, wait_ready
from tests.support.gui_helpers import CLASS_NAMES, brush_stroke, make_colour_model, make_folder


def _window(tmp_path) -> MainWindow:
    """A window on the same settings file each time (a second start of the app)."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("crf/backend", "reference")
    w = MainWindow(settings)
    w.resize(1100, 700)
    w.show()
    return w


def _loads(w) -> list:
    paths = []
    w.ctl.loader.loading.connect(lambda p: paths.append(p.name))
    return paths


def _wait_model(qtbot, w, path):
    qtbot.waitUntil(lambda: w.ctl.loader.loaded is not None and Path(w.ctl.loader.loaded.path).resolve() == path.resolve(),
                    timeout=20000)
    return wait_ready(qtbot, w)


def _set_crf(qtbot, w, name: str, value: float):
    w.crf_panel.rows[name].spin.setValue(value)   # as the user types it (emits params_changed)
    qtbot.waitUntil(lambda: getattr(w.ctl.crf.params, name) == value, timeout=5000)
    return wait_ready(qtbot, w)


def test_the_folders_model_loads_directly_and_nothing_is_asked_on_the_next_starts(qtbot, tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "samples", n=2)   # the bundled samples, as `make run` opens them
    demo, tuned = make_colour_model(tmp_path / "demo.pt"), make_colour_model(tmp_path / "tuned.pt", scale=0.003)
    monkeypatch.setattr(app, "SAMPLES_DIR", folder)
    monkeypatch.setattr(app, "DEMO_V1", demo)
    asked = []
    monkeypatch.setattr(class_dialogs, "ask_settings", lambda parent, lines: asked.append(lines) or True)

    w = _window(tmp_path)                             # first start: the demo model; the user fine-tunes and saves
    app.start(w, None, None)
    wait_ready(qtbot, w)
    w.load_model(tuned)
    _wait_model(qtbot, w, tuned)
    _set_crf(qtbot, w, "pos_w", 7.0)
    assert w.save()
    close_window(w, monkeypatch)
    recorded = json.loads((folder / "labels" / "project.json").read_text())
    assert recorded["model"]["name"] and recorded["crf"]["params"]["pos_w"] == 7.0

    for _ in range(2):                                # every later start: the folder's model at once, no question
        w = _window(tmp_path)
        loads = _loads(w)
        app.start(w, None, None)
        _wait_model(qtbot, w, tuned)
        assert loads == ["tuned.pt"] and asked == []
        assert w.ctl.crf.params.pos_w == 7.0 and w.crf_panel.params() == w.ctl.crf.params
        close_window(w, monkeypatch)

    w = _window(tmp_path)                             # an explicit other model: the folder's is offered once
    app.start(w, None, demo)
    _wait_model(qtbot, w, tuned)
    assert len(asked) == 1 and "tuned.pt" in asked[0][0] and len(asked[0]) == 1
    close_window(w, monkeypatch)


def test_crf_values_moved_in_one_folder_stay_with_it(qtbot, tmp_path, monkeypatch):
    a, b = make_folder(tmp_path / "a", n=2), make_folder(tmp_path / "b", n=2)
    model = make_colour_model(tmp_path / "colour.pt")
    asked = []
    monkeypatch.setattr(class_dialogs, "ask_settings", lambda parent, lines: asked.append(lines) or True)
    w = _window(tmp_path)
    app.start(w, a, model)
    wait_ready(qtbot, w)
    preset = w.crf_panel.params()
    preset_name = w.crf_panel.preset_name()
    _set_crf(qtbot, w, "bi_xy_std", 30.0)             # moved in folder a, never saved there
    assert w.crf_panel.preset_name() == "custom"

    assert w.open_folder(b)                           # folder b has no values of its own: the model's preset
    st = wait_ready(qtbot, w)
    assert w.crf_panel.preset_name() == preset_name and w.ctl.crf.params == preset and st.crf_params == preset
    assert json.loads((a / "labels" / "project.json").read_text())["crf"]["params"]["bi_xy_std"] == 30.0
    assert not (b / "labels" / "project.json").exists()   # looking at a folder writes nothing into it

    assert w.open_folder(a)                           # back in a: its own values, unasked
    st = wait_ready(qtbot, w)
    assert w.ctl.crf.params.bi_xy_std == 30.0 and st.crf_params.bi_xy_std == 30.0 and asked == []
    close_window(w, monkeypatch)

    w = _window(tmp_path)                             # and on the next start, b still starts from the preset
    app.start(w, b, model)
    wait_ready(qtbot, w)
    assert w.ctl.crf.params == preset and w.crf_panel.preset_name() == preset_name
    close_window(w, monkeypatch)


def test_a_new_model_keeps_saved_labels_saved_and_the_folders_crf_values(qtbot, tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "images", n=2)
    model, tuned = make_colour_model(tmp_path / "colour.pt"), make_colour_model(tmp_path / "tuned.pt", scale=0.01)
    w = _window(tmp_path)
    app.start(w, folder, model)
    wait_ready(qtbot, w)
    _set_crf(qtbot, w, "pos_w", 6.0)
    assert w.save()
    saved = w.ctl.state.labels.copy()
    w.load_model(tuned)                               # e.g. the checkpoint Train on saved labels wrote
    st = _wait_model(qtbot, w, tuned)
    assert st.status.value == "saved" and w.file_list.status_text(0) == "saved"
    assert np.array_equal(st.labels, saved) and w.ctl.crf.params.pos_w == 6.0
    assert w.crf_panel.preset_name() == "custom"      # the panel did not switch preset behind the user's back
    close_window(w, monkeypatch)


def test_discard_leaves_a_prelabelled_image_prelabelled(qtbot, tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "images", n=2)
    model = make_colour_model(tmp_path / "colour.pt")
    ds = Dataset(folder)
    labels = np.zeros((96, 128), np.uint8)
    record = make_provenance(labels, np.zeros_like(labels, bool), "img1.png", origin=ORIGIN_MACHINE)
    ds.save(0, labels, ClassList(CLASS_NAMES), provenance=record)     # a pre-labelling run wrote it
    w = _window(tmp_path)
    app.start(w, folder, model)
    wait_ready(qtbot, w)
    assert w.file_list.status_text(0) == "pre-labelled"
    brush_stroke(w, (20, 20), (60, 40), class_id=1)
    qtbot.waitUntil(lambda: w.file_list.status_text(0) == "edited", timeout=5000)
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    assert w.go_to(1)
    assert w.file_list.status_text(0) == "pre-labelled"
    close_window(w, monkeypatch)


def test_keep_mine_records_nothing_until_a_save(qtbot, tmp_path, monkeypatch):
    """A walk: a folder recorded a teammate's model; opened with another and answered Keep mine, its project.json
    named the walk's model at once, with nothing saved (the question says: recorded when you next save)."""
    folder = make_folder(tmp_path / "images", n=2)
    theirs, mine = make_colour_model(tmp_path / "theirs.pt"), make_colour_model(tmp_path / "mine.pt", scale=0.01)
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    w = _window(tmp_path)
    app.start(w, folder, theirs)
    wait_ready(qtbot, w)
    assert w.save()                                    # the folder records theirs
    close_window(w, monkeypatch)
    project = folder / "labels" / "project.json"
    recorded = json.loads(project.read_text())["model"]

    asked = []
    monkeypatch.setattr(class_dialogs, "ask_settings", lambda parent, lines: asked.append(lines) or False)
    w = _window(tmp_path)
    app.start(w, folder, mine)                         # Keep mine
    _wait_model(qtbot, w, mine)
    assert len(asked) == 1 and json.loads(project.read_text())["model"] == recorded
    w.ctl.editor.set_paint_class(1)
    brush_stroke(w, (5, 5), (20, 5), 1, 2)
    wait_ready(qtbot, w)
    assert w.save()                                    # recorded with the save
    assert Path(json.loads(project.read_text())["model"]["path"]).name == "mine.pt"
    close_window(w, monkeypatch)


def test_the_engine_is_the_users_unless_a_folder_records_one_and_a_pick_is_the_folders(qtbot, tmp_path, monkeypatch):
    """A walk: a folder recording the reference engine set it for the next folder, which records none (against
    the preference); the user's pick of another engine in that folder was undone when it opened again."""
    c, b = make_folder(tmp_path / "c", n=2), make_folder(tmp_path / "b", n=2)
    model = make_colour_model(tmp_path / "colour.pt")
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    w = _window(tmp_path)                              # the preference: reference
    app.start(w, c, model)
    wait_ready(qtbot, w)
    assert w.save()                                    # c records the reference engine
    close_window(w, monkeypatch)
    assert json.loads((c / "labels" / "project.json").read_text())["crf"]["backend"] == "reference"

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("crf/backend", "fast")           # the preference: fast
    settings.sync()
    w = MainWindow(settings)
    w.show()
    app.start(w, c, model)
    wait_ready(qtbot, w)
    assert w.ctl.crf.backend_name == "reference" == w.crf_panel.backend_box.currentData()   # c's record
    assert w.open_folder(b)
    wait_ready(qtbot, w)
    assert w.ctl.crf.backend_name == "fast" == w.crf_panel.backend_box.currentData()   # b records none
    assert w.open_folder(c)
    wait_ready(qtbot, w)
    box = w.crf_panel.backend_box                      # the user picks fast in c
    box.setCurrentIndex(box.findData("fast"))
    box.activated.emit(box.currentIndex())
    wait_ready(qtbot, w)
    assert w.open_folder(b) and w.open_folder(c)
    wait_ready(qtbot, w)
    assert w.ctl.crf.backend_name == "fast" == w.crf_panel.backend_box.currentData()   # kept for c
    close_window(w, monkeypatch)
