"""File > Pre-label folder… in the real window (offscreen): background run, live list updates, cancel, reviewing a
pre-labelled image, and the uncertainty sort from labels/prelabel.csv."""
from __future__ import annotations

import threading

from PySide6.QtCore import Qt

import gui.dialogs.prelabel as prelabel_dialog
from engine.batch import read_report
from engine.io.provenance import read_provenance
from gui.app import start
from tests.support.gui_fixtures import wait_image, wait_ready, window  # noqa: F401
from tests.support.gui_helpers import make_colour_model, make_folder
from tests.support.prelabel_fixtures import BROKEN_IMAGE, HAND_IMAGE, label_bytes, make_prelabel_folder


def _menu_action(w, text):
    for menu_action in w.menuBar().actions():
        for act in menu_action.menu().actions() if menu_action.menu() else []:
            if act.text().replace("&", "") == text:
                return act
    raise AssertionError(f"no menu entry {text!r}")


def _rows(w):
    return {w.file_list.item_for(i).text(0): (w.file_list.status_text(i), w.file_list.item_for(i).text(2))
            for i in range(len(w.ctl.dataset))}


def test_prelabel_folder_runs_in_the_background_and_updates_the_list(qtbot, window, tmp_path, monkeypatch):
    folder = make_prelabel_folder(tmp_path / "images", n=4)
    model = make_colour_model(tmp_path / "colour.pt")
    hand = label_bytes(folder)[HAND_IMAGE]
    start(window, folder, model)
    qtbot.waitUntil(lambda: window.ctl.classes.predictor is not None and not window.ctl.busy, timeout=20000)
    threads, real = [], prelabel_dialog.prelabel

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)
    monkeypatch.setattr(prelabel_dialog, "prelabel", spy)
    seen = []
    window.ctl.status_changed.connect(lambda i, s: seen.append((i, s)))

    _menu_action(window, "Pre-label folder…").trigger()
    dialog = window.prelabel
    assert dialog.isVisible() and str(folder) in dialog.about.text()
    with qtbot.waitSignal(dialog.run_finished, timeout=60000) as done:
        dialog.start_button.click()
        assert dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
    summary = done.args[0]
    assert threads and threads[0] is not threading.main_thread()     # never on the GUI thread
    assert summary.labelled == 3 and summary.kept == 1 and len(summary.errors) == 1
    rows = _rows(window)
    assert rows[HAND_IMAGE][0] == "saved" and rows[BROKEN_IMAGE][0] == "error"   # unreadable: an error row
    for name in ("img1.png", "img3.png", "img4.png"):
        assert rows[name][0] == "pre-labelled" and rows[name][1], rows   # status and uncertainty shown
    assert sorted(s for _, s in seen).count("pre-labelled") >= 3       # rows changed as images finished
    assert label_bytes(folder)[HAND_IMAGE] == hand
    assert BROKEN_IMAGE in dialog.log.toPlainText() and "Error" in dialog.log.toPlainText()
    assert dialog.progress.text().startswith("Pre-labelled 3 images")
    assert read_report(folder / "labels")["img1.png"].status == "labelled"

    # reviewing: a pre-labelled image opens as such; saving it makes it a hand label
    i = window.ctl.dataset.index_of("img1.png")
    window.go_to(i)
    wait_image(qtbot, window, i)
    wait_ready(qtbot, window)
    assert window.ctl.state.status.value == "pre-labelled" and window.file_list.status_text(i) == "pre-labelled"
    window.save_action.trigger()
    assert window.file_list.status_text(i) == "saved"
    assert read_provenance(folder / "labels" / "img1.png").origin == "hand"

    # the next visit sorts by the report's uncertainty before predicting anything
    window.open_folder(folder)
    scores = window.ctl.ordering.scores
    names = {window.ctl.dataset.image_id(i) for i in scores}
    assert {"img1.png", "img3.png", "img4.png"} <= names
    window.ctl.ordering.sort_by_uncertainty()
    first = window.ctl.dataset.image_id(window.ctl.ordering.order[0])
    assert scores[window.ctl.ordering.order[0]] == max(scores.values()) and first in names


def _dialog_on(qtbot, window, tmp_path, n: int):
    """A folder of ``n`` images opened with the colour model, and the Pre-label dialog open: (folder, dialog)."""
    folder = make_folder(tmp_path / "images", n=n)
    start(window, folder, make_colour_model(tmp_path / "colour.pt"))
    qtbot.waitUntil(lambda: window.ctl.classes.predictor is not None and not window.ctl.busy, timeout=20000)
    window.prelabel.open_dialog()
    return folder, window.prelabel


def test_cancel_stops_the_run_and_keeps_what_finished(qtbot, window, tmp_path):
    folder, dialog = _dialog_on(qtbot, window, tmp_path, 8)

    def cancel_on_first(_key, payload):
        if payload[0] == "image":
            dialog.cancel()
    dialog.lane.preview.connect(cancel_on_first)
    with qtbot.waitSignal(dialog.run_finished, timeout=60000) as done:
        assert dialog.start()
    summary = done.args[0]
    assert summary.cancelled and 1 <= summary.labelled < 8
    written = sorted(p.name for p in (folder / "labels").glob("img*.png"))
    assert len(written) == summary.labelled
    assert not dialog.cancel_button.isEnabled() and dialog.start_button.isEnabled()
    statuses = [window.file_list.status_text(i) for i in range(8)]
    assert statuses.count("pre-labelled") == summary.labelled and statuses.count("new") >= 7 - summary.labelled
    # the open image was labelled first: it shows the file written, as pre-labelled
    assert window.ctl.state.index == 0 and window.ctl.state.status.value == "pre-labelled"


def test_prelabel_needs_a_model(qtbot, window, tmp_path):
    folder = make_folder(tmp_path / "images", n=1)
    window.open_folder(folder)
    window.prelabel.open_dialog()
    assert "Load a model first" in window.prelabel.about.text()
    assert not window.prelabel.start_button.isEnabled()
    assert not window.prelabel.start()
    qtbot.keyClick(window.prelabel, Qt.Key.Key_Escape)


def test_a_window_started_on_a_prelabelled_folder_sorts_by_the_report_at_once(qtbot, window, tmp_path):
    """A walk: started with the folder and the model together (the model loads after the folder opened), the
    report's scores were thrown away as 'another model's' when the first model arrived, and the sort did nothing."""
    from engine.batch.report import Row, write_report

    folder = make_folder(tmp_path / "images", n=4)
    model = make_colour_model(tmp_path / "colour.pt")
    (folder / "labels").mkdir(exist_ok=True)
    unsure = {"img1.png": 0.01, "img2.png": 0.2, "img3.png": 0.4, "img4.png": 0.3}
    write_report(folder / "labels", [Row(n, u, (), "labelled") for n, u in unsure.items()])
    start(window, folder, model)                            # the folder opens now, the model comes later
    predicted = set()                                       # images the model scored itself since
    window.ctl.score_changed.connect(lambda i, _s: predicted.add(i))
    wait_ready(qtbot, window)
    window.ctl.prefetch.cancel()
    qtbot.waitUntil(lambda: not window.ctl.busy and not window.ctl.prefetch.lane.busy, timeout=20000)
    scores, ids = window.ctl.ordering.scores, window.ctl.dataset.image_id
    kept = {ids(i): s for i, s in scores.items() if i not in predicted}
    assert len(kept) >= 2 and all(kept[n] == unsure[n] for n in kept), (kept, predicted)
    window.ctl.ordering.sort_by_uncertainty()
    names = [n for n in map(ids, window.ctl.ordering.order) if n in kept]
    assert names == sorted(kept, key=lambda n: -unsure[n])


def test_a_second_run_says_it_replaces_another_runs_labels_or_leaves_them(qtbot, window, tmp_path):
    """A walk's second run (other settings: the model adapted on 8 strokes) replaced 1,992 machine labels and their
    scores while the dialog said images done before are skipped. It says which now, and can leave them."""
    folder, dialog = _dialog_on(qtbot, window, tmp_path, 3)
    with qtbot.waitSignal(dialog.run_finished, timeout=60000):
        assert dialog.start()
    before = label_bytes(folder)
    window.crf_panel.rows["bi_w"].spin.setValue(window.crf_panel.rows["bi_w"].spin.value() + 2)   # other settings
    qtbot.waitUntil(lambda: window.ctl.crf.params.bi_w == window.crf_panel.params().bi_w, timeout=5000)
    dialog.redo.setChecked(False)
    assert "left as they are" in dialog.about.text()
    with qtbot.waitSignal(dialog.run_finished, timeout=60000) as done:
        assert dialog.start()
    assert done.args[0].left == 3 and done.args[0].labelled == 0 and label_bytes(folder) == before
    assert "Leaving 3 pre-labelled with another model or other settings as they are" in dialog.log.toPlainText()
    dialog.redo.setChecked(True)
    assert "labelled again, replacing their labels and scores" in dialog.about.text()
    with qtbot.waitSignal(dialog.run_finished, timeout=60000) as done:
        assert dialog.start()
    assert done.args[0].replaced == 3
    assert "Labelling again 3 pre-labelled with another model or other settings" in dialog.log.toPlainText()
    # the open image, untouched and pre-labelled, shows the file this run wrote (a walk saw the old labels, and its
    # save asked whether another program had written the file, then kept this run's file aside as unusable)
    from engine.io.labels import read_label_png
    st = window.ctl.state
    path = window.ctl.dataset[st.index].label_path
    assert (st.labels == read_label_png(path)).all() and st.status.value == "pre-labelled"
    assert window.ctl.save()
    assert not list(path.parent.glob("*.replaced"))


def test_the_order_last_chosen_comes_back_with_the_folder(qtbot, window, tmp_path):
    """A walk reopened a pre-labelled folder under review (sorted most unsure first) and found it in name order."""
    from engine.batch.report import Row, write_report

    folder = make_folder(tmp_path / "images", n=4)
    (folder / "labels").mkdir(exist_ok=True)
    unsure = {"img1.png": 0.01, "img2.png": 0.2, "img3.png": 0.4, "img4.png": 0.3}
    write_report(folder / "labels", [Row(n, u, (), "labelled") for n, u in unsure.items()])
    window.ctl.prefetch.enabled = False
    assert window.open_folder(folder)
    window.sort_uncertain_action.trigger()
    assert window.prefs.sort_by_uncertainty
    assert window.open_folder(folder)                       # reopened: most unsure first, at once
    ids = window.ctl.dataset.image_id
    assert [ids(i) for i in window.ctl.ordering.order][:2] == ["img3.png", "img4.png"]
    row = window.ctl.ordering.order.index(window.ctl.index) + 1      # the list's row, not the file's place
    qtbot.waitUntil(lambda: window.status.position.text() == f"image {row}/4 (most unsure first)", timeout=5000)
    window.sort_name_action.trigger()
    assert not window.prefs.sort_by_uncertainty
    assert window.open_folder(folder)
    assert [ids(i) for i in window.ctl.ordering.order] == ["img1.png", "img2.png", "img3.png", "img4.png"]
