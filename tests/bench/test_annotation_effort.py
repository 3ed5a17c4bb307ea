"""bench/annotation_effort.py --scenes FOLDER reads a folder's classes as the window does."""
import numpy as np
import pytest
from PIL import Image

from bench.annotation_effort import folder_scenes
from engine.labels import ClassList

MODEL = ClassList(("belt", "paper", "plastic bottle", "plastic bag", "metal can"))


def _folder(tmp_path, class_names: str, n: int = 3):
    labels = tmp_path / "labels"
    labels.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (12, 16, 3), np.uint8)).save(tmp_path / f"img{i}.png")
        gt = np.full((12, 16), i % 3, np.uint8)
        Image.fromarray(gt).save(labels / f"img{i}.png")
    (labels / "class_names.txt").write_text(class_names)
    return tmp_path


def test_a_labelme_list_keeps_its_ids_and_background_is_the_models_class_0(tmp_path):
    # labelme2voc: __ignore__ is void (no id), _background_ is id 0 whatever the model calls it
    folder = _folder(tmp_path, "__ignore__\n_background_\nPaper\nMetal-Can\nOrange Ball\n")
    scenes = folder_scenes(folder, 2, 1, MODEL)
    assert scenes.classes.names == ("belt", "Paper", "Metal-Can", "Orange Ball")
    assert scenes.source == (0, 1, 4, -1)   # names matched to the model's; the ball is a class it lacks
    assert [s.name for s in scenes.annotate] == ["img0.png", "img1.png"] and len(scenes.evaluate) == 1


def test_an_indexed_list_reads_as_written_by_the_app(tmp_path):
    folder = _folder(tmp_path, "0 belt\n1 paper\n2 glass\n")
    scenes = folder_scenes(folder, 1, 2, MODEL)
    assert scenes.classes.names == ("belt", "paper", "glass") and scenes.source == (0, 1, -1)


def test_a_folder_without_a_readable_class_list_says_so(tmp_path):
    folder = _folder(tmp_path, "3 belt\n")   # ids must start at 0
    with pytest.raises(SystemExit, match="class list"):
        folder_scenes(folder, 1, 1, MODEL)
