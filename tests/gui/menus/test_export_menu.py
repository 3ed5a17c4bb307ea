"""File > Export: every format has an action; a target that exists is written into only after a yes; the progress
shows in the status bar; the work runs in the export lane. A stub window stands in for the main window (the menu
reads only the folder, the class list and the open image's state)."""
from types import SimpleNamespace

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QWidget

from engine.folder.dataset import CLASS_NAMES_FILE, Dataset
from engine.io.labels import read_label_png, write_class_names, write_label_png
from engine.labels import ClassList
from gui.dialogs import prompts
from gui.menus.export import KINDS, ExportMenu
from tests.support.datumaro_port import parse_label_map, read_mask

CLASSES = ClassList(("belt", "paper"), ((10, 20, 30), (200, 0, 0)))


class _Status:
    def __init__(self):
        self.texts = []

    def set_activity(self, text, error=False):
        self.texts.append(text)


class _Window(QWidget):
    def __init__(self, folder):
        super().__init__()
        self.ctl = SimpleNamespace(dataset=Dataset(folder), classes=SimpleNamespace(class_list=CLASSES), state=None)
        self.status, self.errors = _Status(), []

    def show_error(self, message):
        self.errors.append(message)


def _folder(tmp_path, n=3):
    folder = tmp_path / "imgs"
    (folder / "labels").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((10, 12, 3), 40 * i, np.uint8)).save(folder / f"im{i}.png")
        lab = np.zeros((10, 12), np.uint8)
        lab[2:6, 2 + i:8] = 1
        write_label_png(folder / "labels" / f"im{i}.png", lab, CLASSES)
    write_class_names(folder / "labels" / CLASS_NAMES_FILE, CLASSES)
    return folder


def _menu(qtbot, tmp_path):
    folder = _folder(tmp_path)
    window = _Window(folder)
    qtbot.addWidget(window)
    menu = ExportMenu(window)
    done = []
    menu.finished.connect(done.append)
    return menu, window, folder, done


def test_every_format_has_an_action_and_cvat_masks_come_as_a_zip(qtbot, tmp_path, monkeypatch):
    menu, window, folder, done = _menu(qtbot, tmp_path)
    assert set(menu.actions_by_kind) == set(KINDS) == {"coco", "labelme", "voc", "cvat-mask", "yolo-seg"}
    asked = []
    target = tmp_path / "out" / "masks.zip"
    monkeypatch.setattr(prompts, "ask_save_path", lambda *a: asked.append(a[1:]) or str(target))
    menu.actions_by_kind["cvat-mask"].trigger()
    qtbot.waitUntil(lambda: len(done) == 1, timeout=10000)
    assert asked[0][2] == "ZIP (*.zip)" and asked[0][1].endswith("cvat_masks.zip")
    assert "3 images" in done[0] and target.is_file()
    assert any("Exporting cvat-mask" in t and "/3 images" in t for t in window.status.texts)   # progress


def test_existing_targets_need_a_yes(qtbot, tmp_path, monkeypatch):
    menu, window, folder, done = _menu(qtbot, tmp_path)
    out = tmp_path / "yolo"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    answers, questions = [False], []
    monkeypatch.setattr(prompts, "ask_overwrite", lambda parent, title, text: questions.append(text) or answers[0])
    assert not menu.export("yolo-seg", out)                     # no: nothing written
    assert "is not empty" in questions[0] and sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    answers[0] = True
    assert menu.export("yolo-seg", out)
    qtbot.waitUntil(lambda: len(done) == 1, timeout=10000)
    assert (out / "data.yaml").is_file() and (out / "keep.txt").read_text() == "mine"
    assert menu.export("voc", tmp_path / "voc")                 # a new folder: nobody asked
    qtbot.waitUntil(lambda: len(done) == 2, timeout=10000)
    assert len(questions) == 2
    label_map = parse_label_map(tmp_path / "voc" / "labelmap.txt")
    assert np.array_equal(read_mask(tmp_path / "voc" / "SegmentationClass" / "im1.png", label_map),
                          read_label_png(folder / "labels" / "im1.png"))


def test_a_wrong_kind_of_target_is_refused_with_a_message(qtbot, tmp_path):
    menu, window, folder, done = _menu(qtbot, tmp_path)
    assert not menu.export("coco", tmp_path)                    # a folder where one JSON goes
    assert "writes one file here" in window.errors[0]
    assert not menu.lane.busy and done == []


def test_pre_labelled_files_are_counted_and_can_be_left_out(qtbot, tmp_path):
    """A walk's window export took 1,992 pre-labelled images nobody reviewed with the 8 reviewed ones, untold."""
    import json

    from engine.io.provenance import ORIGIN_MACHINE, make_provenance, write_provenance
    menu, window, folder, done = _menu(qtbot, tmp_path)
    lab = read_label_png(folder / "labels" / "im2.png")
    write_provenance(folder / "labels" / "im2.png", make_provenance(lab, lab == 255, "im2.png", origin=ORIGIN_MACHINE))
    assert menu.export("coco", tmp_path / "all.json")
    qtbot.waitUntil(lambda: len(done) == 1, timeout=10000)
    assert "3 images" in done[0] and "(1 of them pre-labelled, not reviewed" in done[0]
    menu.reviewed_action.setChecked(True)
    assert menu.export("coco", tmp_path / "hand.json")
    qtbot.waitUntil(lambda: len(done) == 2, timeout=10000)
    assert "(1 pre-labelled, not reviewed, left out)" in done[1]
    names = [im["file_name"] for im in json.loads((tmp_path / "hand.json").read_text())["images"]]
    assert names == ["im0.png", "im1.png"]
