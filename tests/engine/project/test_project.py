"""engine.project: the folder's class list (stable ids), reconciliation with a model's classes, project.json
validation (hostile files get a clear message and the folder still opens), unknown label values, and the
guard for headless writers."""
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from engine.crf import PRESETS
from engine.folder.dataset import Dataset
from engine.io.labels import read_label_palette, read_label_png, write_label_png
from engine.labels import VOID, ClassList
from engine.project import (BY_NAME, BY_POSITION, ClassEditError, ClassListMismatch, CRFSettings, Decision,
                            FolderClasses, FolderProject, Match, ModelSettings, Project, ProjectFileError,
                            UnknownLabelValues, decide, labels_target, match_key, parse_class_names, parse_project,
                            project_json, reconcile, unknown_values, void_unknown)
from engine.project.reconcile import ChannelMap, MappedPredictor, fit_channels
from engine.project.values import unknown_mask, unknown_rgba

MODEL = ClassList(("background", "cat", "dog"), ((0, 0, 0), (200, 0, 0), (0, 200, 0)))


def _folder(*names) -> FolderClasses:
    return FolderClasses.from_names(names)


def _probs(c=3, h=4, w=5, seed=0):
    return np.random.default_rng(seed).dirichlet(np.ones(c), size=(h, w)).transpose(2, 0, 1).astype(np.float32)


# ----- reconciliation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("folder,match,asks", [
    (None, Match.NEW, False),
    (("background", "cat", "dog"), Match.SAME, False),
    (("_background_", "Cat", "DOG"), Match.SAME, False),            # labelme spelling, case
    (("background", "cat", "dog", "bird"), Match.COMPATIBLE, False),  # the folder extends the model
    (("background", "cat"), Match.COMPATIBLE, False),                # the model knows more
    (("background", "dog", "cat"), Match.REORDERED, True),
    (("background", "cat", "horse"), Match.DIFFERENT, True),
    (("class 0", "class 1", "class 2"), Match.DIFFERENT, True),
])
def test_reconcile_rules(folder, match, asks):
    rec = reconcile(None if folder is None else _folder(*folder), MODEL)
    assert rec.match == match and rec.needs_decision == asks


def test_channel_maps_by_name_and_by_position():
    rec = reconcile(_folder("background", "dog", "cat", "bird"), MODEL)
    assert rec.match == Match.DIFFERENT
    assert rec.channel_map(BY_NAME).source == (0, 2, 1, -1)           # bird: no prediction
    assert rec.channel_map(BY_POSITION).source == (0, 1, 2, -1)
    assert rec.model_only == () and rec.folder_only == ("bird",) and rec.suggested() == Decision(BY_NAME)
    assert reconcile(_folder("a", "b", "c"), MODEL).suggested() == Decision(BY_POSITION)   # nothing in common
    assert "another order" in reconcile(_folder("background", "dog", "cat"), MODEL).summary()


def test_channel_map_apply_reorders_zeroes_unknown_and_renormalises_dropped():
    probs = _probs()
    out = ChannelMap((0, 2, 1, -1), 3).apply(probs)
    np.testing.assert_array_equal(out[[0, 1, 2]], probs[[0, 2, 1]])
    assert not out[3].any()
    dropped = ChannelMap((0, 2), 3).apply(probs)                     # 'cat' is not a folder class
    np.testing.assert_allclose(dropped.sum(0), 1, atol=1e-6)
    np.testing.assert_allclose(dropped[1] / dropped[0], probs[2] / probs[0], rtol=1e-5)
    ident = ChannelMap((0, 1, 2), 3)
    assert ident.identity and ident.apply(probs) is probs
    with pytest.raises(ValueError, match="channels"):
        ChannelMap((0, 1), 2).apply(probs)
    # a one-output model (a backbone-only placeholder) says nothing: the placeholder's class and the classes added
    # beside it start level (a walk: 'background 100%' everywhere, uncertainty 0)
    level = ChannelMap((0, -1, -1, -1), 1).apply(np.ones((1, 4, 5), np.float32))
    np.testing.assert_array_equal(level, np.full((4, 4, 5), 0.25, np.float32))


def test_mapped_predictor_and_labels_back_to_model_ids():
    probs = _probs()

    class Inner:
        device = "cpu"

        def predict(self, image, should_cancel=None):
            return probs

        def probs_from_features(self, features):
            return probs
    cmap = ChannelMap((0, 2, 1, -1), 3)
    mapped = MappedPredictor(Inner(), cmap)
    np.testing.assert_array_equal(mapped.predict(None)[:3], probs[[0, 2, 1]])
    np.testing.assert_array_equal(mapped.probs_from_features(None)[:3], probs[[0, 2, 1]])
    assert mapped.device == "cpu"


def test_decide_adds_model_classes_as_new_ids_without_touching_existing_ones():
    folder = _folder("background", "dog", "horse")
    classes, cmap = decide(folder, MODEL, Decision(BY_NAME, add_missing=True))
    assert classes.names == ("background", "dog", "horse", "cat")    # cat appended: ids 0-2 unchanged
    assert cmap.source == (0, 2, -1, 1)
    assert classes.by_id(3).color == (200, 0, 0)                     # the model's colour
    new, identity = decide(None, MODEL, Decision())
    assert new.names == MODEL.names and identity.identity


def test_fit_channels_pads_and_truncates():
    probs = _probs()
    assert fit_channels(probs, 3) is probs
    padded = fit_channels(probs, 5)
    np.testing.assert_array_equal(padded[:3], probs)
    assert not padded[3:].any()
    np.testing.assert_allclose(fit_channels(probs, 2).sum(0), 1, atol=1e-6)
    half = probs.astype(np.float16)   # large images' probabilities: no float32 copy of all classes
    for n in (2, 5):
        got = fit_channels(half, n)
        assert got.dtype == np.float16 and got.shape == (n,) + probs.shape[1:]
        np.testing.assert_allclose(got, fit_channels(half.astype(np.float32), n), atol=1e-3)


# ----- class list edits: ids are stable -----------------------------------------------------------------
def test_edits_keep_ids_stable():
    c = _folder("background", "cat", "dog")
    added = c.add("bird")
    assert added.by_id(3).name == "bird" and added.by_id(3).color not in {x.color for x in c.classes}
    moved = added.move(3, 0)
    assert moved.order == (3, 0, 1, 2) and moved.names == added.names            # display order only
    assert moved.class_list() == added.class_list()                                # PNG palette and names by id
    renamed = moved.rename(1, "kitten")
    assert renamed.names == ("background", "kitten", "dog", "bird") and renamed.order == moved.order
    assert renamed.recolour(2, (1, 2, 3)).class_list().palette[2] == (1, 2, 3)
    assert renamed.set_hidden(2, True).hidden == (False, False, True, False)
    assert renamed.reorder([0, 1, 2, 3]).order == (0, 1, 2, 3)
    assert renamed.delete(3).names == ("background", "kitten", "dog")


@pytest.mark.parametrize("edit,message", [
    (lambda c: c.add("Cat"), "already"),                          # same name by match_key
    (lambda c: c.add("  "), "empty"),
    (lambda c: c.add("a\nb"), "control"),
    (lambda c: c.add("__ignore__"), "void"),
    (lambda c: c.add("x" * 101), "at most"),
    (lambda c: c.rename(1, "dog"), "already named"),
    (lambda c: c.recolour(1, (256, 0, 0)), "0-255"),
    (lambda c: c.recolour(1, (True, 0, 0)), "0-255"),
    (lambda c: c.delete(1), "highest id"),                        # deleting id 1 would renumber id 2
    (lambda c: c.reorder([0, 1]), "every class id"),
    (lambda c: c.by_id(7), "no class 7"),
])
def test_bad_edits_are_refused_with_a_reason(edit, message):
    with pytest.raises(ClassEditError, match=message):
        edit(_folder("background", "cat", "dog"))


def test_match_key_and_model_lists_with_colliding_names():
    assert match_key("_background_") == match_key("Background") == "background"
    assert match_key("plastic_bottle") == match_key("Plastic  Bottle")
    odd = ClassList(("a", "A", "", "b"))
    assert FolderClasses.from_class_list(odd).names == ("a", "A (2)", "class 2", "b")


# ----- project.json ---------------------------------------------------------------------------------------
def _project():
    return Project(_folder("background", "cat", "dog").move(2, 0).set_hidden(1, True),
                   ModelSettings("../models/m.pt", "m", "ab" * 32, (0, 2, 1)),
                   CRFSettings(PRESETS["deeplab-v2"], "fast"))


def test_project_json_round_trip_and_schema():
    project = _project()
    text = project_json(project)
    data = json.loads(text)
    assert data["format"] == "deeplab-annotator-project" and data["version"] == 1
    assert [c["id"] for c in data["classes"]] == [2, 0, 1] and data["classes"][2]["hidden"] is True
    assert data["model"]["channels"] == [0, 2, 1] and data["crf"]["params"]["bi_xy_std"] == 67
    assert parse_project(text) == project
    assert parse_project(text.encode("utf-8")) == project


def _valid():
    return json.loads(project_json(_project()))


def _with(**changes):
    data = _valid()
    data.update(changes)
    return json.dumps(data)


def _crf_value(name: str, value: str) -> str:
    """project.json text with one CRF value replaced (whatever number format the writer used)."""
    text, n = re.subn(rf'"{name}": [0-9.e+-]+', f'"{name}": {value}', project_json(_project()), count=1)
    assert n == 1, name
    return text


HOSTILE = {
    "not json": ("{not json", "not valid JSON"),
    "top list": ("[1, 2]", "must be an object"),
    "wrong format": (_with(format="labelme"), "format"),
    "newer version": (_with(version=2), "newer version"),
    "version bool": (_with(version=True), "version"),
    "NaN": (project_json(_project()).replace('"pos_w": 3', '"pos_w": NaN'), "not valid JSON"),
    "duplicate key": ('{"format": "deeplab-annotator-project", "format": "x"}', "appears twice"),
    "deep nesting": ("[" * 100000 + "]" * 100000, "not valid JSON"),
    "huge": (" " * (1 << 20) + "{}", "at most"),
    "unknown key": (_with(extra=1), "unknown key"),
    "no classes": (_with(classes=[]), "non-empty"),
    "classes not list": (_with(classes={"0": "a"}), "non-empty list"),
    "ids with a gap": (_with(classes=[{"id": 0, "name": "a", "color": [0, 0, 0]},
                                      {"id": 2, "name": "b", "color": [1, 1, 1]}]), "ids must be"),
    "repeated id": (_with(classes=[{"id": 0, "name": "a", "color": [0, 0, 0]},
                                   {"id": 0, "name": "b", "color": [1, 1, 1]}]), "ids"),
    "duplicate names": (_with(classes=[{"id": 0, "name": "Cat", "color": [0, 0, 0]},
                                       {"id": 1, "name": "cat", "color": [1, 1, 1]}]), "both named"),
    "newline in a name": (_with(classes=[{"id": 0, "name": "a\nb", "color": [0, 0, 0]}]), "control"),
    "colour out of range": (_with(classes=[{"id": 0, "name": "a", "color": [0, 0, 300]}]), "color"),
    "colour bool": (_with(classes=[{"id": 0, "name": "a", "color": [True, 0, 0]}]), "color"),
    "id 255": (_with(classes=[{"id": 255, "name": "a", "color": [0, 0, 0]}]), "id"),
    "256 classes": (_with(classes=[{"id": i, "name": f"c{i}", "color": [0, 0, 0]} for i in range(256)]), "255"),
    "hidden string": (_with(classes=[{"id": 0, "name": "a", "color": [0, 0, 0], "hidden": "yes"}]), "hidden"),
    "crf inf": (_crf_value("bi_w", "1e999"), "bi_w"),
    "crf negative": (_crf_value("pos_w", "-3"), "pos_w"),
    "crf iterations huge": (_crf_value("iterations", "1000000"), "iterations"),
    "crf missing field": (re.sub(r'"pos_w": [0-9.]+, ', '', project_json(_project())), "lacks"),
    "channels wrong length": (project_json(_project()).replace('[0, 2, 1]', '[0, 2]'), "channels"),
    "sha not hex": (project_json(_project()).replace("ab" * 32, "zz"), "sha256"),
    "model path empty": (project_json(_project()).replace('"../models/m.pt"', '""'), "empty"),
    "backend odd": (project_json(_project()).replace('"fast"', '"../../x"'), "backend"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_project_json_is_refused_clearly_and_the_folder_still_opens(tmp_path, name):
    text, message = HOSTILE[name]
    with pytest.raises(ProjectFileError, match=message) as info:
        parse_project(text.encode("utf-8"), "labels/project.json")
    assert "labels/project.json" in str(info.value)
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "project.json").write_text(text, encoding="utf-8")
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "a.png")
    ds = Dataset(tmp_path)                                         # opens; the problem is reported
    assert len(ds) == 1 and ds.project.classes is None and not ds.project.has_class_list
    assert any("project.json" in p and "kept as project.json.damaged" in p for p in ds.project.problems)


def test_special_files_are_not_read(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    os.mkfifo(labels / "project.json")                             # reading it would hang
    os.symlink("/dev/zero", labels / "class_names.txt")            # reading it would never end
    project = FolderProject.open(labels)
    assert project.classes is None and len(project.problems) == 2
    assert all("not a regular file" in p for p in project.problems)


def test_damaged_project_is_kept_aside_when_replaced(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "project.json").write_text("{broken", encoding="utf-8")
    (labels / "class_names.txt").write_text("0 background\n1 cat\n2 dog\n", encoding="utf-8")
    project = FolderProject.open(labels)
    assert project.source == "class_names.txt" and project.classes.names == MODEL.names
    project.set_classes(project.classes.add("bird"))
    assert project.write()
    assert (labels / "project.json.damaged").read_text() == "{broken"
    again = FolderProject.open(labels)
    assert again.source == "project.json" and again.classes.names[-1] == "bird" and not again.problems
    assert (labels / "class_names.txt").read_text().splitlines()[-1] == "3 bird"
    assert not again.write()                                      # nothing changed: nothing written


def test_class_names_disagreeing_with_project_json_is_reported_and_kept(tmp_path):
    labels = tmp_path / "labels"
    project = FolderProject(labels)
    project.set_classes(_folder("background", "cat", "dog"))
    project.write()
    (labels / "class_names.txt").write_text("0 background\n1 dog\n2 cat\n", encoding="utf-8")   # another tool
    opened = FolderProject.open(labels)
    assert opened.classes.names == ("background", "cat", "dog")    # project.json wins
    assert "lists other classes" in opened.problems[0]
    opened.write()
    assert (labels / "class_names.txt.conflict").read_text() == "0 background\n1 dog\n2 cat\n"


# ----- class_names.txt ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,names", [
    ("0 background\n1 cat\n2 dog\n", ("background", "cat", "dog")),          # this app, VOC tools
    ("_background_\ncat\nhot dog\n", ("_background_", "cat", "hot dog")),     # labelme2voc
    ("__ignore__\n_background_\ncat\n", ("_background_", "cat")),            # labelme labels.txt
    ("\ufeff# classes\n0 background\n\n1 7 up\n", ("background", "7 up")),  # BOM, comment, blank, digits
])
def test_class_names_txt_forms(text, names):
    assert parse_class_names(text.encode("utf-8")) == names


@pytest.mark.parametrize("data,message", [
    (b"0 a\n2 b\n", "id 2 where 1"),
    (b"a\nA\n", "line 2: 'A' repeats line 1"),
    (b"\xff\xfe\x00", "UTF-8"),
    (b"# nothing\n\n", "no class names"),
])
def test_bad_class_names_txt(data, message):
    with pytest.raises(ProjectFileError, match=message):
        parse_class_names(data, "labels/class_names.txt")


def test_class_names_txt_alone_takes_colours_from_a_saved_png(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "class_names.txt").write_text("0 background\n1 cat\n2 dog\n", encoding="utf-8")
    write_label_png(labels / "a.png", np.zeros((3, 3), np.uint8), MODEL)
    project = FolderProject.open(labels)
    assert project.source == "class_names.txt" and project.class_list() == MODEL


# ----- saving into a folder -------------------------------------------------------------------------------
def _dataset(tmp_path, class_names=None):
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "a.png")
    if class_names:
        (tmp_path / "labels").mkdir()
        (tmp_path / "labels" / "class_names.txt").write_text(class_names, encoding="utf-8")
    return Dataset(tmp_path)


def test_first_save_writes_the_class_list_and_project(tmp_path):
    ds = _dataset(tmp_path)
    ds.save(0, np.ones((4, 5), np.uint8), MODEL)
    project = FolderProject.open(tmp_path / "labels")
    assert project.source == "project.json" and project.class_list() == MODEL
    assert read_label_palette(tmp_path / "labels" / "a.png")[1].tolist() == [200, 0, 0]


def test_saving_with_another_class_list_is_refused(tmp_path):
    ds = _dataset(tmp_path, "0 background\n1 dog\n2 cat\n")
    with pytest.raises(ClassListMismatch, match="another order"):
        ds.save(0, np.ones((4, 5), np.uint8), MODEL)
    assert not (tmp_path / "labels" / "a.png").exists()
    assert (tmp_path / "labels" / "class_names.txt").read_text() == "0 background\n1 dog\n2 cat\n"
    ds.save(0, np.ones((4, 5), np.uint8), ds.project.class_list())     # the folder's own list is fine


def test_unknown_values_need_a_decision_to_be_saved(tmp_path):
    ds = _dataset(tmp_path)
    labels = np.zeros((4, 5), np.uint8)
    labels[0, :2] = 7
    labels[1, 0] = 9
    labels[2, 0] = VOID
    with pytest.raises(UnknownLabelValues, match=r"a\.png.*3 pixels with label values 7, 9") as info:
        ds.save(0, labels, MODEL)
    assert info.value.values == (7, 9) and info.value.pixels == 3
    assert not (tmp_path / "labels" / "a.png").exists()
    ds.save(0, labels, MODEL, keep_unknown=True)                        # kept on purpose
    np.testing.assert_array_equal(read_label_png(tmp_path / "labels" / "a.png"), labels)


def test_unknown_value_helpers():
    labels = np.array([[0, 2, 3], [VOID, 200, 1]], np.uint8)
    assert unknown_values(labels, 3) == ((3, 200), 2)
    np.testing.assert_array_equal(unknown_mask(labels, 3), [[0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(void_unknown(labels, 3), [[0, 2, VOID], [VOID, VOID, 1]])
    rgba = unknown_rgba(unknown_mask(labels, 3))
    assert rgba.shape == (2, 3, 4) and rgba[0, 2, 3] == 255 and rgba[0, 0, 3] == 0


# ----- headless writers -----------------------------------------------------------------------------------
def test_labels_target_for_headless_writers(tmp_path):
    fresh = labels_target(tmp_path, MODEL)
    assert fresh.class_list == MODEL and fresh.channel_map.identity
    (tmp_path / "class_names.txt").write_text("0 background\n1 dog\n2 cat\n3 bird\n", encoding="utf-8")
    with pytest.raises(ClassListMismatch, match="--map-classes"):
        labels_target(tmp_path, MODEL)
    by_name = labels_target(tmp_path, MODEL, BY_NAME)
    assert by_name.channel_map.source == (0, 2, 1, -1) and by_name.class_list.names[1] == "dog"
    assert labels_target(tmp_path, MODEL, BY_POSITION).channel_map.source == (0, 1, 2, -1)
    (tmp_path / "class_names.txt").write_text("0 background\n1 cat\n2 dog\n3 bird\n", encoding="utf-8")
    extended = labels_target(tmp_path, MODEL)                       # the folder extends the model: fine
    assert extended.channel_map.source == (0, 1, 2, -1)
    (tmp_path / "class_names.txt").write_text("0 a\n1 a\n", encoding="utf-8")
    with pytest.raises(ProjectFileError, match="cannot tell"):
        labels_target(tmp_path, MODEL)
