"""The window side of issue 14: a second window on a folder gets the read-only / take-over choice and is never
offered the first window's live autosaves; a window that was taken over stops saving and says so; damaged
journal entries are announced and moved aside while the folder opens; a journal naming a class the model lacks
is caught; names that are not UTF-8 autosave, save and discard; a failed save tells what is on disk."""
from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from engine.folder.journal import DAMAGED_DIRNAME, RecoveryJournal
from engine.io import transaction
from engine.io.labels import read_label_png
from gui.app import start
from gui.dialogs import damaged_journal, prompts
from gui.menus import folder_lock
from gui.session.folder_guard import READ_ONLY, TAKE_OVER
from tests.support.gui_fixtures import close_window, env, open_window, wait_image, wait_ready  # noqa: F401
from tests.support.journal_entries import NON_UTF8, journal_entry


def _paint(w, at=(10, 20), cls=2):
    w.ctl.editor.set_paint_class(cls)
    w.ctl.editor.begin_stroke(at)
    w.ctl.editor.stroke_to((at[0] + 20, at[1]))
    w.ctl.editor.end_stroke()


def _two_windows(qtbot, tmp_path, folder, model):
    """A first window on ``folder`` with an autosaved edit of img1 (its live journal entry), and a second one
    not opened yet (its own settings file)."""
    w1 = open_window(tmp_path)
    (tmp_path / "w2").mkdir()
    w2 = open_window(tmp_path / "w2")
    start(w1, folder, model)
    wait_ready(qtbot, w1)
    _paint(w1)
    w1.ctl.recovery.flush()
    return w1, w2


def test_second_window_read_only_then_take_over(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    asked, restore_asked, warned = [], [], []
    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: restore_asked.append(entries) or True)
    monkeypatch.setattr(prompts, "warn", lambda parent, title, text: warned.append((title, text)))
    w1, w2 = _two_windows(qtbot, tmp_path, folder, model)
    try:
        journal = RecoveryJournal(folder / "labels" / ".recovery")
        assert journal.has("img1.png")                          # w1's live autosave

        monkeypatch.setattr(folder_lock, "ask_lock_choice",
                            lambda parent, holder, f: asked.append(holder) or READ_ONLY)
        start(w2, folder, model)
        assert [h.pid for h in asked] == [os.getpid()] and restore_asked == []   # not offered as a crash
        assert w2.ctl.guard.read_only and w2.windowTitle().endswith("[read-only]")
        assert w2.lock_actions.take_over_action.isEnabled()
        st2 = wait_ready(qtbot, w2)
        _paint(w2, (30, 40))
        w2.ctl.recovery.flush()
        assert not w2.save() and warned[-1][1].startswith("Read-only: process")
        assert journal.has("img1.png") and not (folder / "labels" / "img1.png").exists()
        np.testing.assert_array_equal(journal.restore("img1.png").locked, w1.ctl.state.locked)  # w1's, untouched

        assert w2.ctl.take_over_folder()                        # File > Take over folder
        assert not w2.ctl.guard.read_only and not w2.windowTitle().endswith("[read-only]")
        assert w2.save() and read_label_png(folder / "labels" / "img1.png")[40, 35] == st2.labels[40, 35]
        assert restore_asked == []

        _paint(w1, (50, 60))                                    # w1 goes on working...
        seen = len(warned)
        assert not w1.save()                                    # ...and is told, instead of overwriting w2
        assert [t for t, _ in warned[seen:]] == ["This folder was taken over"]   # one box, not a second one
        assert w1.ctl.guard.read_only and w1.windowTitle().endswith("[read-only]")
        assert w1.ctl.state.dirty                               # its edits are still in memory
        np.testing.assert_array_equal(read_label_png(folder / "labels" / "img1.png"), st2.labels)
    finally:
        close_window(w2, monkeypatch)
        close_window(w1, monkeypatch)
    assert not (folder / "labels" / ".lock").exists()


def test_second_window_taking_over_at_open_leaves_the_autosaves_alone(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    restore_asked, warned = [], []
    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: restore_asked.append(entries) or False)
    monkeypatch.setattr(prompts, "warn", lambda parent, title, text: warned.append(title))
    w1, w2 = _two_windows(qtbot, tmp_path, folder, model)
    try:
        monkeypatch.setattr(folder_lock, "ask_lock_choice", lambda *a: TAKE_OVER)
        start(w2, folder, model)
        assert restore_asked == [] and not w2.ctl.guard.read_only
        assert RecoveryJournal(folder / "labels" / ".recovery").has("img1.png")   # declining would delete it
        assert not w1.ctl.guard.may_write() and w1.ctl.guard.read_only
        assert warned == ["This folder was taken over"]
        # ...and after the taking window has opened img1 (clean) and autosaved: a walk found w1's entry gone
        # half a second after the takeover, so a crash of w1 then lost its edits
        wait_ready(qtbot, w2)
        w2.ctl.sync_status()
        w2.ctl.recovery.flush()
        assert w2.ctl.state.index == 0 and not w2.ctl.state.dirty
        journal = RecoveryJournal(folder / "labels" / ".recovery")
        assert journal.has("img1.png")
        np.testing.assert_array_equal(journal.restore("img1.png").locked, w1.ctl.state.locked)
        _paint(w2, (30, 40))                                    # once w2 edits img1 the entry is w2's own
        w2.ctl.recovery.flush()
        assert w2.save() and not journal.has("img1.png")
    finally:
        close_window(w2, monkeypatch)
        close_window(w1, monkeypatch)


def test_taking_the_folder_back_after_the_other_window_closed_makes_its_autosaves_ours(qtbot, tmp_path, env,
                                                                                       monkeypatch):
    """w2 takes the folder from w1 and closes; w1 takes it back and saves: its autosave of that image goes, so the
    next opening does not offer to restore edits already saved (a walk's did)."""
    folder, model = env
    warned = []
    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: False)
    monkeypatch.setattr(prompts, "warn", lambda parent, title, text: warned.append(text))
    w1, w2 = _two_windows(qtbot, tmp_path, folder, model)
    journal = RecoveryJournal(folder / "labels" / ".recovery")
    try:
        monkeypatch.setattr(folder_lock, "ask_lock_choice", lambda *a: TAKE_OVER)
        start(w2, folder, model)
        wait_ready(qtbot, w2)
        close_window(w2, monkeypatch)
        assert not w1.save() and w1.ctl.guard.read_only           # taken over: refused, edits kept
        assert warned[-1].startswith("Another window took over this folder (and has closed since).")  # not "unknown"
        assert w1.ctl.take_over_folder() and not w1.ctl.guard.took_live   # nobody holds it any more
        assert w1.save()
        assert not journal.has("img1.png")
        np.testing.assert_array_equal(read_label_png(folder / "labels" / "img1.png"), w1.ctl.state.labels)
    finally:
        close_window(w1, monkeypatch)


def test_taking_the_folder_back_never_writes_over_the_other_windows_newer_save(qtbot, tmp_path, env, monkeypatch):
    """A walk: w1 saved img1 and painted on; w2 took the folder over and saved img1; w1 took it back and saved,
    and w2's saved labels were gone without a word. The save now sees that the file changed on disk since w1 read
    it and asks: keep theirs aside (<name>.replaced) and save, or cancel."""
    folder, model = env
    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: False)
    monkeypatch.setattr(prompts, "warn", lambda parent, title, text: None)
    asked = []
    answer = [False]
    monkeypatch.setattr(prompts, "ask_changed_on_disk", lambda parent, path: asked.append(path.name) or answer[0])
    w1, w2 = _two_windows(qtbot, tmp_path, folder, model)
    label = folder / "labels" / "img1.png"
    try:
        assert w1.save() and asked == []                             # its own file: no question
        _paint(w1, (50, 60), cls=1)
        assert w1.save() and asked == []                             # still its own (it wrote it last)
        _paint(w1, (10, 70), cls=2)
        monkeypatch.setattr(folder_lock, "ask_lock_choice", lambda *a: TAKE_OVER)
        start(w2, folder, model)
        wait_ready(qtbot, w2)
        _paint(w2, (30, 40), cls=3)
        assert w2.save()
        theirs = read_label_png(label)
        assert not w1.save() and asked == []                         # refused: taken over
        assert w1.ctl.take_over_folder()
        assert not w1.save() and asked == ["img1.png"]               # cancelled: theirs stays, w1's edits too
        np.testing.assert_array_equal(read_label_png(label), theirs)
        assert w1.ctl.state.dirty
        answer[0] = True
        assert w1.save() and asked == ["img1.png"] * 2               # kept aside, then saved
        np.testing.assert_array_equal(read_label_png(label.with_name("img1.png.replaced")), theirs)
        np.testing.assert_array_equal(read_label_png(label), w1.ctl.state.labels)
        _paint(w1, (60, 20), cls=1)
        assert w1.save() and len(asked) == 2                         # its own file again
    finally:
        close_window(w2, monkeypatch)
        close_window(w1, monkeypatch)


@pytest.fixture
def warned_window(tmp_path, monkeypatch):
    """A window (its folder opened by the test) whose warning boxes are recorded in ``warned``: (title, text)."""
    warned = []
    monkeypatch.setattr(prompts, "warn", lambda parent, title, text: warned.append((title, text)))
    w = open_window(tmp_path)
    w.warned = warned
    yield w
    close_window(w, monkeypatch)


def test_a_deleted_labels_folder_is_told_as_such_not_as_another_window(qtbot, warned_window, env):
    """A walk deleted labels/ (and, another time, renamed the folder) while the window was open: the box said
    another window had taken the folder over, and nothing said the edits were no longer autosaved."""
    import shutil
    folder, model = env
    w = warned_window
    start(w, folder, model)
    wait_ready(qtbot, w)
    _paint(w)
    shutil.rmtree(folder / "labels")
    assert not w.save() and w.ctl.guard.read_only and w.ctl.state.dirty
    title, text = w.warned[-1]
    assert title == "The labels folder is gone" and "is gone (deleted, or the folder was moved" in text
    assert "no longer autosaved" in text and "Another window" not in text
    assert "is gone" in w.ctl.guard.why_not()
    assert w.ctl.take_over_folder() and w.save()                      # made again, and saved there
    np.testing.assert_array_equal(read_label_png(folder / "labels" / "img1.png"), w.ctl.state.labels)
    assert w.status.activity.text().startswith("Saved")              # the error it resolved does not stay 6 s


def test_an_interrupted_save_that_cannot_be_completed_is_told_in_a_box(qtbot, warned_window, env):
    """A walk's interrupted save could not be completed as the folder opened (a folder stood where its file goes):
    the status bar said so for a moment, then "Ready"."""
    from engine.io.atomic import HOST_TAG
    folder, model = env
    labels = folder / "labels"
    (labels / "img1.png").mkdir(parents=True)
    (labels / ".img1.png.x.tmp").write_bytes(b"staged")
    (labels / f".save-{HOST_TAG}-999999-abc.commit").write_text(json.dumps({"replace": [[".img1.png.x.tmp",
                                                                                          "img1.png"]]}))
    start(warned_window, folder, model)
    wait_ready(qtbot, warned_window)
    title, text = warned_window.warned[0]
    assert title == "An interrupted save could not be completed" and "could not complete the interrupted save" in text


def test_an_image_replaced_on_disk_while_open_is_asked_about_before_its_labels_are_saved(qtbot, tmp_path, env,
                                                                                       monkeypatch):
    """A walk replaced an open 320x240 image by a 500x360 one: the save wrote the old size's labels, unsaid."""
    from PIL import Image
    folder, model = env
    asked, answer = [], [False]
    monkeypatch.setattr(prompts, "ask_image_changed", lambda parent, path: asked.append(path.name) or answer[0])
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        wait_ready(qtbot, w)
        _paint(w)
        assert w.save() and asked == []                              # the file it read: no question
        _paint(w, (30, 40))
        Image.fromarray(np.zeros((36, 50, 3), np.uint8)).save(folder / "img1.png")   # another program's image
        assert not w.save() and asked == ["img1.png"] and w.ctl.state.dirty
        answer[0] = True
        assert w.save() and len(asked) == 2                           # saved anyway, as asked
    finally:
        close_window(w, monkeypatch)


def test_damaged_journal_is_announced_and_the_folder_opens(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    journal = RecoveryJournal(folder / "labels" / ".recovery")
    journal.save("img2.png", np.zeros((96, 128), np.uint8), np.ones((96, 128), bool))
    journal.path_for("img1.png").write_bytes(b"")
    journal.path_for("img3.png").write_bytes(journal_entry("img3.png", saved_at="yesterday"))
    journal.path_for("x.png").write_bytes(journal_entry("x.png", meta=[1, 2]))
    shown, restore_asked = [], []
    monkeypatch.setattr(damaged_journal, "show_damaged_journal", lambda parent, records: shown.append(records))
    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: restore_asked.append(entries) or True)
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        assert [sorted(r.path.name for r in records) for records in shown] == \
            [sorted(journal.path_for(n).name for n in ("img1.png", "img3.png", "x.png"))]
        assert [[e.image_id for e in entries] for entries in restore_asked] == [["img2.png"]]
        assert len(list((folder / "labels" / ".recovery" / DAMAGED_DIRNAME).glob("*.npz"))) == 3
        assert wait_ready(qtbot, w).index == 0                  # the folder opened and works
    finally:
        close_window(w, monkeypatch)


def test_journal_with_a_class_the_model_lacks_is_restored_and_crf_still_runs(qtbot, tmp_path, env, monkeypatch):
    """Issue 26 item 13: such an entry is restored (not moved aside), shown, and Save asks (tests/hostile/
    test_attacks_window.py); the CRF and the head's learning treat the value as void meanwhile."""
    folder, model = env
    labels = np.zeros((96, 128), np.uint8)
    labels[10:20, 10:20] = 200                                  # the colour model has 3 classes
    RecoveryJournal(folder / "labels" / ".recovery").save("img1.png", labels, labels == 200, {"base": "model"})
    shown, errors = [], []
    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: True)
    monkeypatch.setattr(damaged_journal, "show_damaged_journal", lambda parent, records: shown.append(records))
    w = open_window(tmp_path)
    w.ctl.error.connect(errors.append)
    try:
        start(w, folder, model)
        st = wait_ready(qtbot, w)                               # the CRF ran: no "class 200" failure
        assert (st.labels[10:20, 10:20] == 200).all() and st.locked[10:20, 10:20].all()
        assert set(np.unique(st.crf_labels)) <= {0, 1, 2, 255} and shown == []   # void to the CRF
        assert [e for e in errors if "200" in e] == [errors[0]] and "Save asks" in errors[0]
        assert not (folder / "labels" / ".recovery" / DAMAGED_DIRNAME).exists()
    finally:
        close_window(w, monkeypatch)


def test_non_utf8_image_name_autosaves_saves_and_discards(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    odd = folder / NON_UTF8
    (folder / "img1.png").rename(odd)
    w = open_window(tmp_path)
    try:
        start(w, odd, model)                                     # main.py FOLDER/IMAGE opens at that image
        st = wait_ready(qtbot, w)
        assert st.path == odd
        _paint(w)
        w.ctl.recovery.flush()
        journal = w.ctl.recovery.journal
        assert journal.has(NON_UTF8)
        assert w.save() and not journal.has(NON_UTF8)
        label = folder / "labels" / (os.path.splitext(NON_UTF8)[0] + ".png")
        np.testing.assert_array_equal(read_label_png(label), st.labels)
        sidecar = json.loads((folder / "labels" / (os.path.splitext(NON_UTF8)[0] + ".provenance.json")).read_text())
        assert sidecar["image"] == NON_UTF8
        # a class the saved labels do not have there (the first stroke's learning may have spread class 2 to it)
        _paint(w, (40, 60), cls=(int(w.ctl.state.labels[60, 50]) + 1) % len(w.ctl.classes.class_list))
        w.ctl.recovery.flush()
        assert journal.has(NON_UTF8)
        w.ctl.discard_edits()
        assert not journal.has(NON_UTF8)
    finally:
        close_window(w, monkeypatch)


def test_save_failure_between_files_says_nothing_changed(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    warned = []
    monkeypatch.setattr(prompts, "warn", lambda parent, title, text: warned.append(text))
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        st = wait_ready(qtbot, w)
        assert w.save()
        saved = read_label_png(folder / "labels" / "img1.png")
        _paint(w)
        real = transaction.tempfile.mkstemp

        def full(prefix="", suffix="", dir=None):
            if "provenance" in prefix:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(prefix=prefix, suffix=suffix, dir=dir)
        monkeypatch.setattr(transaction.tempfile, "mkstemp", full)
        assert not w.save()
        assert "Nothing was changed on disk" in warned[-1] and "still in memory" in warned[-1]
        np.testing.assert_array_equal(read_label_png(folder / "labels" / "img1.png"), saved)
        assert st.dirty and not [p for p in (folder / "labels").iterdir() if p.name.endswith(".tmp")]
    finally:
        close_window(w, monkeypatch)


def test_stale_temporary_files_are_swept_when_the_folder_opens(qtbot, tmp_path, env, monkeypatch):
    folder, model = env
    (folder / "labels" / ".recovery").mkdir(parents=True)
    stale = [folder / "labels" / ".img1.png.k1ll3d.tmp", folder / "labels" / ".class_names.txt.x.tmp",
             folder / "labels" / ".recovery" / ".img1-0123.recovery.npz.y.tmp"]
    for p in stale:
        p.write_bytes(b"half-written")
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        assert not any(p.exists() for p in stale)
        wait_image(qtbot, w, 0)
    finally:
        close_window(w, monkeypatch)


def test_image_bomb_in_the_folder_and_a_fifo_model_get_messages(qtbot, tmp_path, env, monkeypatch):
    """The window used to show MemoryError at 4.1 GB for a 30000x30000 PNG, and hang on a FIFO as model."""
    from tests.support.attacks.bombs import png_bomb
    folder, model = env
    (folder / "img2.png").write_bytes(png_bomb(30000, 30000, colour=False))
    os.mkfifo(tmp_path / "model.pt")
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        wait_ready(qtbot, w)
        w.go(+1)
        qtbot.waitUntil(lambda: "over the limit of 100 MP" in w.last_error, timeout=10000)
        assert w.ctl.state is None and "img2.png" in w.last_error
        w.go(+1)
        assert wait_ready(qtbot, w).index == 2                  # the next image opens as usual
        w.load_model(tmp_path / "model.pt")
        qtbot.waitUntil(lambda: "is a pipe" in w.last_error, timeout=10000)
        assert w.ctl.loader.loaded.path == model                       # the working model stays
    finally:
        close_window(w, monkeypatch)


def test_a_label_file_of_another_size_or_unreadable_is_kept_aside_when_the_image_is_saved(qtbot, tmp_path, env,
                                                                                           monkeypatch):
    """A walk: a 320x240 label PNG for a 400x300 image was overwritten by Ctrl+S with no question, after a message
    shown for 0.36 s. It is now renamed (<name>.replaced), never overwritten, and the window says so."""
    from engine.io.labels import write_label_png
    from engine.labels import ClassList

    folder, model = env
    small = np.ones((40, 50), np.uint8)
    write_label_png(folder / "labels" / "img1.png", small, ClassList(("a", "b", "c")))
    (folder / "labels" / "img2.png").write_bytes(b"not a png at all")
    errors = []
    w = open_window(tmp_path)
    try:
        w.ctl.error.connect(errors.append)
        start(w, folder, model)
        wait_ready(qtbot, w)
        assert any("does not match the image" in e and "img1.png.replaced" in e for e in errors), errors
        assert w.save()
        assert np.array_equal(read_label_png(folder / "labels" / "img1.png.replaced"), small)
        assert read_label_png(folder / "labels" / "img1.png").shape == w.ctl.state.shape
        assert any("img1.png (it could not be used) is kept as img1.png.replaced" in e for e in errors), errors
        assert w.go_to(1)
        wait_ready(qtbot, w)
        assert w.save()
        assert (folder / "labels" / "img2.png.replaced").read_bytes() == b"not a png at all"
        assert w.go_to(0)
        wait_ready(qtbot, w)
        assert w.save() and not (folder / "labels" / "img1.png.replaced2").exists()   # once, not at every save
    finally:
        close_window(w, monkeypatch)


def test_a_read_only_window_neither_edits_nor_writes_the_folders_classes(qtbot, tmp_path, env, monkeypatch):
    """A walk: the read-only window B added 'mitosis' and renamed a class ('saved in …/project.json'); window A
    kept the old names, and after A saved, project.json and class_names.txt disagreed."""
    folder, model = env
    monkeypatch.setattr(prompts, "ask_restore", lambda parent, entries: True)
    w1, w2 = _two_windows(qtbot, tmp_path, folder, model)
    try:
        monkeypatch.setattr(folder_lock, "ask_lock_choice", lambda parent, holder, f: READ_ONLY)
        start(w2, folder, model)
        wait_ready(qtbot, w2)
        project = folder / "labels" / "project.json"
        before = project.read_bytes() if project.exists() else None
        errors = []
        w2.ctl.error.connect(errors.append)
        classes = w2.ctl.classes.project.classes
        assert not w2.ctl.classes.edit_classes(classes.add("mitosis"))
        assert not w2.ctl.classes.edit_classes(classes.rename(1, "renamed in B"))
        assert errors and "read-only" in errors[-1]
        assert w2.ctl.classes.project.classes == classes                # nothing changed in B either
        assert (project.read_bytes() if project.exists() else None) == before
        editor = w2.class_editor                 # its buttons are off too (a walk typed a name, then was refused)
        assert not any(a.isEnabled() for a in (editor.add_action, editor.rename_action, editor.colour_action,
                                                 editor.up_action, editor.down_action, editor.delete_action))
        assert not editor.model_button.isEnabled()
        assert w1.class_editor.add_action.isEnabled() and w1.class_editor.delete_action.isEnabled()
        warned = []
        monkeypatch.setattr(prompts, "warn", lambda parent, title, text: warned.append(text))
        reset = []
        monkeypatch.setattr(w2.ctl.learnt, "reset", lambda: reset.append(1))
        assert not w2.learn.reset() and not reset        # nor does it reset what the folder keeps (a walk: Reset
        assert "read-only" in warned[-1]                  # here, Take over, and a save removed the folder's head)
        assert w1.ctl.classes.edit_classes(w1.ctl.classes.project.classes.add("mitosis"))   # A, the writer, may
    finally:
        close_window(w2, monkeypatch)
        close_window(w1, monkeypatch)


def test_the_writer_sweeps_head_files_a_kill_cut_off(qtbot, tmp_path, env, monkeypatch):
    """A walk killed the app while a head file and its journal copy were written: their temporary files stayed in
    labels/.model/ and labels/.recovery/head/ for good. The folder's writer sweeps them when it opens the folder."""
    from engine.learn.head_store import head_folders

    folder, model = env
    left = []
    for kept in head_folders(folder / "labels"):
        kept.mkdir(parents=True, exist_ok=True)
        (kept / ".0123456789abcdef.npz.x1y2z3.tmp").write_bytes(b"half a head")
        (kept / "notes.txt").write_text("mine")
        left.append(kept)
    w = open_window(tmp_path)
    try:
        start(w, folder, model)
        wait_ready(qtbot, w)
        for kept in left:
            assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]
    finally:
        close_window(w, monkeypatch)
