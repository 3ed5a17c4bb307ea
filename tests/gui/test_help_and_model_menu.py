"""Help > Keyboard shortcuts (generated from the actions) and About; the Model menu marks the loaded model and a
model without a tuned preset keeps its published one; File > Open Recent."""
import shutil

from PySide6.QtGui import QAction, QKeySequence

from engine.paths import DEMO_V1
from gui.app import start
from gui.menus.help import about_text, action_name, shortcut_rows
from tests.support.gui_fixtures import env, wait_ready, window  # noqa: F401 (fixtures)
from tests.support.gui_helpers import make_colour_model


def _all_shortcut_actions(w):
    return [a for a in w.findChildren(QAction) if any(not k.isEmpty() for k in a.shortcuts()) and a.text()]


def test_f1_lists_every_shortcut_from_the_actions(qtbot, window):
    rows = shortcut_rows(window)
    listed = {(r[1], r[2]) for r in rows}
    for act in _all_shortcut_actions(window):
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts() if not k.isEmpty())
        assert (action_name(act), keys) in listed, act.text()
    new = QAction("Frobnicate the labels", window)               # generated: a new action shows up by itself
    new.setShortcut(QKeySequence("Ctrl+Alt+F"))
    window.addAction(new)
    window.help_menu.shortcuts_action.trigger()                  # F1
    dialog = window.help_menu.dialog
    assert dialog.isVisible()
    assert ("Other keys", "Frobnicate the labels", "Ctrl+Alt+F") in dialog.rows()
    assert any(r[1] == "Superpixel fill" and r[2] == "S" for r in dialog.rows())
    assert any(r[2].startswith("Mouse wheel") for r in dialog.rows())   # gestures the tools read themselves
    assert ("Edit", "Undo", "Ctrl+Z") in dialog.rows()
    where = "Classes panel (with the focus)"      # (a walk: F1 listed "+", "↑", "↓" under "Other keys")
    assert {(where, "Add a class", "Ctrl+Shift+N"), (where, "Move the paint class up", "Alt+Up")} <= set(dialog.rows())
    t = dialog.table                                      # every action name whole (a walk: 'Open …', 'Superpi…')
    assert t.columnWidth(1) >= t.sizeHintForColumn(1) and t.columnWidth(0) >= t.sizeHintForColumn(0)
    dialog.filter.setText("undo")
    assert dialog.rows() and all("undo" in " ".join(r).lower() for r in dialog.rows())
    assert window.help_menu.shortcuts_action.shortcut().toString() == "F1"
    dialog.close()


def test_about_names_versions_device_and_model(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    text = about_text(window)
    for needle in ("torch", "numpy", "PySide6", "Qt 6", "Python 3", "Device:", "CPU", "colour-test",
                   "deeplab_v1_largefov", "3 classes", str(model)):
        assert needle in text, needle


def test_recent_folders_most_recent_first_missing_disabled(qtbot, window, env, tmp_path):
    folder, model = env
    other = tmp_path / "other"
    other.mkdir()
    (tmp_path / "gone").mkdir()
    for f in (tmp_path / "gone", other, folder):
        window.open_folder(f)
    shutil.rmtree(tmp_path / "gone")   # opening it left labels/.lock (the folder lock) inside
    window.recent.rebuild()
    entries = [a for a in window.recent.menu.actions() if a.data()]
    assert [a.data() for a in entries] == [str(folder.resolve()), str(other.resolve()), str((tmp_path / "gone"))]
    assert entries[0].isEnabled() and not entries[2].isEnabled() and "(missing)" in entries[2].text()
    entries[1].trigger()
    assert window.ctl.dataset.folder == other.resolve() or window.ctl.dataset.folder == other
    assert window.recent.folders()[0] == str(other.resolve())
    window.recent.clear()
    assert window.recent.folders() == []


def test_model_menu_marks_the_loaded_model(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    act = window.model_menu.loaded_action()
    assert act is not None and act.isChecked() and "colour-test" in act.text()
    assert sum(a.isChecked() for a in window.model_menu.model_group.actions()) == 1
    window.load_model(DEMO_V1)
    qtbot.waitUntil(lambda: window.ctl.loader.loaded is not None and window.ctl.loader.loaded.path == DEMO_V1, timeout=20000)
    act = window.model_menu.loaded_action()
    assert act.isChecked() and act.toolTip() == str(DEMO_V1.resolve())
    assert sum(a.isChecked() for a in window.model_menu.model_group.actions()) == 1
    assert window.crf_panel.preset_name() == "demo_v1"          # its tuned preset, not the generic DeepLab v1


def test_a_model_loaded_for_a_folder_is_recorded_at_once(qtbot, window, env, monkeypatch):
    """A walk loaded its trained model, the app died before the next save, and the folder reopened with the old
    one: project.json now names the new model as soon as it is in use (where it recorded another)."""
    from engine.project import BY_NAME, Decision
    from engine.project.folder import FolderProject
    from gui.dialogs import classes as class_dialogs
    monkeypatch.setattr(class_dialogs, "ask_mismatch", lambda *a, **k: Decision(BY_NAME))
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    assert window.save()
    labels = window.ctl.dataset.labels_dir
    assert "colour" in FolderProject.open(labels).project.model.path
    window.load_model(DEMO_V1)
    qtbot.waitUntil(lambda: window.ctl.loader.loaded is not None and window.ctl.loader.loaded.path == DEMO_V1,
                    timeout=20000)
    wait_ready(qtbot, window)
    recorded = FolderProject.open(labels).project.model             # no save since
    assert recorded.sha256 == window.ctl.loader.loaded.sha256 and recorded.path.endswith("demo_v1.pt")


def test_a_model_without_a_tuned_preset_keeps_its_published_one(qtbot, tmp_path):
    from engine.checkpoints import load_checkpoint
    from engine.crf.params import all_presets, preset_for_model
    model = make_colour_model(tmp_path / "colour.pt")
    spec = load_checkpoint(model).spec
    presets = all_presets()
    assert preset_for_model(spec, model, presets) == "deeplab-v1"
    assert preset_for_model(spec, DEMO_V1, presets) == "demo_v1"
    assert preset_for_model(spec, tmp_path / "demo_v2.pt", presets) == "demo_v2"
