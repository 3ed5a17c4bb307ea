"""The folder's band choice and scaling in labels/project.json ('image'): defaults, strict validation with the field
named, the round trip through the file, and Dataset.set_image_settings (written at once, with the folder's classes
or the ones a first save would take; in memory only while there are none)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from engine.folder.dataset import Dataset, folder_image_settings
from engine.io.scaling import DEFAULT_SCALING, ImageScaling
from engine.labels import ClassList
from engine.project import FolderProject, ProjectFileError, parse_project, project_json
from engine.project.classes import FolderClasses
from engine.project.schema import Project

CLASSES = ClassList(("background", "water"), ((0, 0, 0), (0, 0, 200)))


def _file(image=None, **extra) -> str:
    obj = {"format": "deeplab-annotator-project", "version": 1,
           "classes": [{"id": 0, "name": "background", "color": [0, 0, 0]}], **extra}
    if image is not None:
        obj["image"] = image
    return json.dumps(obj)


@pytest.mark.parametrize("image", [
    ImageScaling(),
    ImageScaling(bands=(4, 3, 2)),
    ImageScaling("percentile", (0.5, 99.5), bands=(1,)),
    ImageScaling("minmax"),
    ImageScaling("fixed", range=(-1000.0, 3000.5), bands=(8, 4, 3)),
])
def test_round_trip(image):
    project = Project(FolderClasses.from_names(("background", "water")), image=image)
    text = project_json(project)
    assert parse_project(text).image == image
    assert json.loads(text)["image"]["scaling"] == image.mode


def test_absent_means_the_default_and_the_file_reads_as_written():
    assert parse_project(_file()).image is None
    got = parse_project(_file({"bands": [4, 3, 2], "scaling": "fixed", "range": [0, 4000]})).image
    assert got == ImageScaling("fixed", range=(0, 4000), bands=(4, 3, 2))
    assert parse_project(_file({"scaling": "percentile"})).image.percentiles == (2.0, 98.0)
    text = project_json(Project(FolderClasses.from_names(("a",)), image=ImageScaling(bands=(4, 3, 2))))
    assert '"image": {"bands": [4, 3, 2], "scaling": "percentile", "percentiles": [2, 98]}' in text


@pytest.mark.parametrize("image, message", [
    ("percentile", "'image' must be an object"),
    ({}, "'image' lacks 'scaling'"),
    ({"scaling": "gamma"}, "image.scaling must be one of percentile, minmax, fixed"),
    ({"scaling": "fixed"}, "needs a range"),
    ({"scaling": "fixed", "range": [4000, 0]}, "low < high"),
    ({"scaling": "fixed", "range": [0, "max"]}, "image.range must hold two finite numbers"),
    ({"scaling": "percentile", "percentiles": [2]}, r"image.percentiles must be \[low, high\]"),
    ({"scaling": "percentile", "percentiles": [50, 200]}, "0 <= low < high <= 100"),
    ({"scaling": "minmax", "bands": [1, 2]}, "image.bands must list one band"),
    ({"scaling": "minmax", "bands": [0, 1, 2]}, "image.bands must be an integer 1-256"),
    ({"scaling": "minmax", "bands": [1.5]}, "image.bands must be an integer"),
    ({"scaling": "minmax", "gamma": 2}, "'image' has unknown key 'gamma'"),
])
def test_bad_image_settings_name_the_field(image, message):
    with pytest.raises(ProjectFileError, match=message):
        parse_project(_file(image), "labels/project.json")


def test_a_damaged_image_field_leaves_the_default_and_the_folder_opens(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "project.json").write_text(_file({"scaling": "fixed"}))
    project = FolderProject.open(tmp_path / "labels")
    assert project.image_settings == DEFAULT_SCALING and "needs a range" in project.problems[0]
    assert folder_image_settings(tmp_path) == DEFAULT_SCALING


def test_dataset_writes_the_setting_at_once_and_reads_with_it(tmp_path):
    data = np.stack([np.full((6, 8), 10.0 * (k + 1), np.float32) for k in range(4)], axis=-1)
    data[0, 0] = 0
    tifffile.imwrite(tmp_path / "a.tif", data, photometric="minisblack", planarconfig="contig")
    ds = Dataset(tmp_path)
    assert ds.image_settings == DEFAULT_SCALING
    choice = ImageScaling("fixed", range=(0, 40), bands=(4, 3, 2))
    assert ds.set_image_settings(choice, CLASSES)            # no class list yet: takes the one a save would
    again = Dataset(tmp_path)
    assert again.image_settings == choice and again.project.classes.names == CLASSES.names
    assert folder_image_settings(tmp_path) == choice
    image = again.read_image(0)
    assert tuple(image[3, 3]) == (255, 191, 128)              # bands 4, 3, 2 = 40, 30, 20 of 0-40
    assert again.set_image_settings(None)                     # back to the default: the field goes
    assert "image" not in json.loads((tmp_path / "labels" / "project.json").read_text())


def test_without_any_class_list_the_setting_waits_for_the_first_save(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((6, 8), np.uint16))
    ds = Dataset(tmp_path)
    choice = ImageScaling("minmax", bands=(1,))
    assert not ds.set_image_settings(choice)                  # nothing to write it with yet
    assert not (tmp_path / "labels" / "project.json").exists() and ds.image_settings == choice
    ds.save(0, np.zeros((6, 8), np.uint8), CLASSES)
    assert Dataset(tmp_path).image_settings == choice


def test_training_reads_saved_images_with_the_folders_setting(tmp_path):
    from engine.io.images import read_image
    from engine.learn.saved import saved_images

    data = np.random.default_rng(3).normal(500, 80, (6, 8, 4)).astype(np.float32)
    tifffile.imwrite(tmp_path / "a.tif", data, photometric="minisblack", planarconfig="contig")
    ds = Dataset(tmp_path)
    choice = ImageScaling("minmax", bands=(4, 1, 2))
    ds.set_image_settings(choice, CLASSES)
    ds.save(0, np.ones((6, 8), np.uint8), CLASSES)
    (item,) = saved_images(tmp_path)
    image, labels = item.load()
    np.testing.assert_array_equal(image, read_image(tmp_path / "a.tif", scaling=choice))
    assert not np.array_equal(image, read_image(tmp_path / "a.tif")) and labels.shape == (6, 8)


def test_apply_image_settings_says_what_happened_and_holds_them_for_the_session_when_it_may_not_write(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((6, 8), np.uint16))
    ds = Dataset(tmp_path)
    choice = ImageScaling("minmax", bands=(1,))
    message, failed = ds.apply_image_settings(choice, None, refusal="another window writes this folder")
    assert not failed and "session only: another window writes this folder" in message
    assert ds.image_settings == choice and not (tmp_path / "labels" / "project.json").exists()
    message, failed = ds.apply_image_settings(choice, None)
    assert not failed and "written to labels/project.json with the first save" in message
    message, failed = ds.apply_image_settings(choice, CLASSES)
    assert not failed and message.startswith("Bands and scaling: ") and "first save" not in message
    assert Dataset(tmp_path).image_settings == choice
    (tmp_path / "labels" / "project.json").chmod(0o444)
    (tmp_path / "labels").chmod(0o555)
    try:
        message, failed = Dataset(tmp_path).apply_image_settings(None, CLASSES)
    finally:
        (tmp_path / "labels").chmod(0o755)
    if failed:   # (root ignores permissions: then the write simply succeeds)
        assert message.endswith("The bands and scaling are used for this session only")


def test_status_on_disk_is_what_the_file_says_else_predicted_or_new(tmp_path):
    from engine.folder.dataset import Status
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(tmp_path / name, np.zeros((6, 8), np.uint16))
    ds = Dataset(tmp_path)
    assert ds.status_on_disk(0, predicted=False) == Status.NEW
    assert ds.status_on_disk(0, predicted=True) == Status.PREDICTED
    ds.save(0, np.zeros((6, 8), np.uint8), CLASSES)
    assert ds.status_on_disk(0, predicted=True) == Status.SAVED
    assert ds.status_on_disk(1, predicted=True) == Status.PREDICTED
