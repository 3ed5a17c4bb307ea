"""The unsaved-work prompt says what the user is doing (quitting, moving on), and its keys answer it."""
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from gui.app import start
from tests.support.gui_fixtures import env, wait_ready, window  # noqa: F401 (fixtures)
from tests.support.gui_helpers import brush_stroke


def _answer_modal(qtbot, keys, seen):
    def poke():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, poke)
            return
        seen.append(box.informativeText())
        box.activateWindow()                                   # mnemonics need the dialog to be active
        qtbot.waitUntil(lambda: QApplication.activeWindow() is box, timeout=3000)
        qtbot.keyClick(box, *keys)
        QTimer.singleShot(3000, box, lambda: box.done(0))      # never hang the suite (cancelled if box is gone)
    QTimer.singleShot(20, poke)


def test_quit_prompt_says_quitting_and_alt_d_discards(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    brush_stroke(window, (5, 5), (17, 5))
    seen = []
    _answer_modal(qtbot, (Qt.Key.Key_D, Qt.KeyboardModifier.AltModifier), seen)
    assert window.close()                                      # Alt+D = Discard: the window closes
    assert seen and "quitting" in seen[0] and "moving on" not in seen[0]


def test_moving_on_prompt_still_says_moving_on(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    brush_stroke(window, (5, 5), (17, 5))
    seen = []
    _answer_modal(qtbot, (Qt.Key.Key_Escape,), seen)
    assert not window.go(+1) and "moving on" in seen[0]       # Esc = Cancel: stays


def test_replace_saved_prompt_names_the_images_and_its_keys_answer(qtbot, window):
    from gui.dialogs import prompts

    for keys, want in (((Qt.Key.Key_R, Qt.KeyboardModifier.AltModifier), prompts.REPLACE),
                       ((Qt.Key.Key_K, Qt.KeyboardModifier.AltModifier), prompts.KEEP),
                       ((Qt.Key.Key_Escape,), prompts.CANCEL)):
        seen = []
        _answer_modal(qtbot, keys, seen)
        assert prompts.ask_replace_saved(window, ["a.png", "b.png"]) == want
        assert seen and "import the other images" in seen[0]


def test_a_suggested_export_folder_that_does_not_exist_opens_the_dialog_at_its_parent(tmp_path, monkeypatch):
    """The walk: File > Export > VOC suggested <images>/voc, which a folder dialog cannot accept."""
    from PySide6.QtWidgets import QFileDialog

    from gui.dialogs import prompts as p
    seen = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a: seen.append(a[2]) or ""))
    assert p.ask_folder(None, "Export", str(tmp_path / "voc")) is None
    assert seen == [str(tmp_path)]


def test_the_save_wait_dialog_counts_what_the_status_bar_counts(qtbot):
    """A big-photo walk: the dialog a save waits behind kept an indeterminate bar while the status bar behind it
    counted the exact run's iterations 1/10 ... 10/10."""
    from PySide6.QtWidgets import QProgressDialog, QWidget

    from gui.dialogs import prompts
    parent = QWidget()
    qtbot.addWidget(parent)
    prompts.waiting(parent, "Computing the exact CRF before saving…", lambda: None)
    dialog = parent.findChild(QProgressDialog, prompts.WAITING_DIALOG)
    assert dialog.maximum() == 0                                # nothing known yet: to and fro
    prompts.waiting_progress(parent, 3, 10)
    assert (dialog.value(), dialog.maximum()) == (3, 10)
    prompts.waiting_progress(parent, 10, 10)                    # the end: still open until the save closes it
    assert parent.findChild(QProgressDialog, prompts.WAITING_DIALOG) is dialog and dialog.value() == 9
    prompts.waiting(parent, "Learning from the last correction before saving…", lambda: None)
    assert dialog.maximum() == 0                                # another step: its own numbers
    prompts.waiting(parent, "", lambda: None)
    assert parent.findChild(QProgressDialog, prompts.WAITING_DIALOG) is None
