"""Keyboard navigation, model menu (class list, device), bad files and settings, offscreen."""
import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from engine.labels import ClassList, voc_classes
from gui.app import choose_model, start
from gui.dialogs import prompts
from tests.support.gui_fixtures import env, wait_image, wait_ready, window  # noqa: F401
from tests.support.gui_fixtures import open_window as _window


def test_d_and_a_keys_step_through_the_folder(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    assert wait_image(qtbot, window, 1) and window.status.position.text() == "image 2/3"
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)          # clamps at the last image
    assert wait_image(qtbot, window, 2)
    qtbot.keyClick(window.canvas, Qt.Key.Key_A)
    assert wait_image(qtbot, window, 1)
    assert window.file_list.currentItem().text(0) == "img2.png"


def test_class_list_must_fit_the_model(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    assert not window.ctl.classes.set_model_classes(voc_classes())       # 21 names for a 3-class model
    assert "21 classes" in window.last_error and "predicts 3" in window.last_error
    mine = ClassList(("sky", "car", "tree"), ((10, 20, 30), (200, 0, 0), (0, 200, 0)))
    window.model_menu.class_list_requested.emit(mine)
    assert window.ctl.classes.class_list == mine
    assert window.class_panel.tree.topLevelItem(1).text(0).endswith("car")
    window.save_action.trigger()
    names = (folder / "labels" / "class_names.txt").read_text().split()
    assert "sky" in names and "tree" in names
    window.model_menu.class_list_requested.emit(None)        # back to the model's own names...
    assert window.ctl.classes.model_classes.names[1] == "red thing"
    # ...but the folder now has its own class list (saved above): its labels keep their names, and the model's
    # channels keep feeding the ids chosen for this model (recorded with its sha256 in labels/project.json)
    assert window.ctl.classes.class_list.names[1] == "car" and window.ctl.classes.channel_map.identity


def test_device_choice_is_applied_remembered_and_shown(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    token = window.ctl.state.token
    window.model_menu.device_requested.emit("cpu")
    qtbot.waitUntil(lambda: window.ctl.loader.device_pref == "cpu" and not window.ctl.busy
                    and window.ctl.state.crf_labels is not None, timeout=20000)
    assert window.ctl.classes.predictor.device.type == "cpu" and window.ctl.state.token == token
    assert window.settings.value("device") == "cpu"
    assert window.status.device.text().startswith("Device: CPU")
    window.model_menu.device_requested.emit("cuda:7")         # not on this machine: a message, no crash
    if "cuda:7" not in [a.data() for a in window.model_menu.device_group.actions()]:
        assert "CUDA" in window.last_error or "cuda" in window.last_error.lower()
        assert window.ctl.classes.predictor.device.type == "cpu"


def test_unreadable_image_is_reported_and_the_next_one_opens(qtbot, window, env):
    folder, model = env
    (folder / "img2.png").write_bytes(b"not a png at all")
    start(window, folder, model)
    wait_ready(qtbot, window)
    window.go(+1)
    qtbot.waitUntil(lambda: "img2.png" in window.last_error, timeout=10000)
    assert window.ctl.state is None and not window.canvas.has_image()
    assert not window.save()                                  # nothing to save, said so
    window.go(+1)
    assert wait_ready(qtbot, window).index == 2


def test_settings_restore_params_and_preferences(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    w = _window(tmp_path)
    start(w, folder, model)
    wait_ready(qtbot, w)
    w.crf_panel.set_params(w.crf_panel.params().replace(bi_w=7.5), emit=True)
    w.crf_panel.flush()
    w.toolbar.opacity.setValue(30)
    w.autosave_action.setChecked(True)
    wait_ready(qtbot, w)
    w.close()
    w2 = _window(tmp_path)
    try:
        assert w2.toolbar.opacity.value() == 30 and w2.autosave_action.isChecked()
        start(w2, folder, model)                 # CRF values are the folder's: back with it (issue 26, item 5)
        wait_ready(qtbot, w2)
        assert w2.crf_panel.params().bi_w == 7.5 and w2.ctl.crf.params.bi_w == 7.5
        assert w2.crf_panel.preset_name() == "folder"          # the folder's own values, not "Custom"
        assert w2.crf_panel.preset_box.currentText() == "This folder"
        assert choose_model(folder, None, w2.prefs).resolve() == model.resolve()   # the folder's (and last) model
        assert choose_model(folder.parent, None, w2.prefs) == model   # last model for a user folder
    finally:
        monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
        w2.close()


def test_saved_labels_are_shown_when_reopened(qtbot, window, env):
    folder, model = env
    from engine.io.labels import write_label_png
    (folder / "labels").mkdir()
    saved = np.zeros((96, 128), np.uint8)
    saved[10:20, 10:20] = 2
    write_label_png(folder / "labels" / "img1.png", saved, ClassList(("a", "b", "c")))
    start(window, folder, model)
    st = wait_ready(qtbot, window)
    np.testing.assert_array_equal(st.labels, saved)            # disk wins over the model
    assert window.file_list.status_text(0) == "saved" and not st.dirty
    window.ctl.edits.use_model_result()                              # Ctrl+R: take the model's labels
    np.testing.assert_array_equal(st.labels, st.crf_labels)
    assert window.file_list.status_text(0) == "edited"
    Image.open(folder / "labels" / "img1.png").verify()


def test_pipeline_menu_shows_the_checkpoints_own_and_switches(qtbot, window, env):
    """Model > Pipeline ticks the pipeline the model runs by, marks the checkpoint's own one, and choosing the other
    re-runs the same weights that way (the class list stays, the image is predicted again)."""
    from engine.checkpoints import load_checkpoint, with_pipeline
    from engine.predict import Predictor

    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    menu = window.model_menu
    acts = {a.data(): a for a in menu.pipeline_group.actions()}
    assert set(acts) == {"caffe", "kazuto"} and all(a.isEnabled() for a in acts.values())
    assert acts["kazuto"].isChecked() and acts["kazuto"].text() == "kazuto (from the checkpoint)"
    assert not acts["caffe"].isChecked() and menu.pipeline_menu.title() == "&Pipeline: kazuto"
    mine = ClassList(("sky", "car", "tree"), ((10, 20, 30), (200, 0, 0), (0, 200, 0)))
    menu.class_list_requested.emit(mine)
    acts["caffe"].trigger()
    qtbot.waitUntil(lambda: window.ctl.classes.predictor.pipeline == "caffe", timeout=20000)
    st = wait_ready(qtbot, window)
    assert window.ctl.loader.loaded.spec.pipeline == "caffe" and window.ctl.classes.class_list == mine
    assert acts["caffe"].isChecked() and acts["caffe"].text() == "caffe"
    assert acts["kazuto"].text() == "kazuto (from the checkpoint)" and menu.pipeline_menu.title() == "&Pipeline: caffe"
    expected = Predictor(with_pipeline(load_checkpoint(model), "caffe"), device="cpu").predict(st.image)
    np.testing.assert_array_equal(st.probs, expected)
