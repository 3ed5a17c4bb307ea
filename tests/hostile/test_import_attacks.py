"""Hostile imports: every bad input becomes a message naming the file, never a crash, a hang or a huge allocation,
and a bad annotation costs only its own image (engine.io.imports, engine.folder.imports)."""
from __future__ import annotations

import base64
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from engine import limits
from engine.folder.dataset import Dataset
from engine.folder.imports import plan_import, run_import
from engine.io.imports import ImportSourceError, read_coco, read_cvat_mask, read_labelme
from tests.support.attacks.bombs import png_bomb

H, W = 20, 30


def _labelme(folder, stem, shapes, **top):
    folder.mkdir(exist_ok=True)
    doc = {"imagePath": f"{stem}.png", "imageData": None, "imageHeight": H, "imageWidth": W, "shapes": shapes, **top}
    (folder / f"{stem}.json").write_text(json.dumps(doc))


def test_a_json_over_the_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_IMPORT_FILE_BYTES", 1000)
    _labelme(tmp_path, "big", [{"label": "x", "points": [[0, 0], [5, 0], [5, 5]] * 100, "shape_type": "polygon"}])
    _labelme(tmp_path, "small", [{"label": "x", "points": [[0, 0], [5, 0], [5, 5]], "shape_type": "polygon"}])
    source = read_labelme(tmp_path)
    assert [i.image for i in source.items] == ["small.png"]
    assert "big.json" in source.problems[0] and "MB" in source.problems[0]


def test_deeply_nested_json_and_declared_giant_images_are_messages(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    _labelme(tmp_path, "giant", [], imageHeight=10 ** 6, imageWidth=10 ** 6)
    _labelme(tmp_path, "floaty", [], imageHeight=2.5, imageWidth=3)
    problems = "\n".join(read_labelme(tmp_path).problems)
    assert "deep.json" in problems and "giant.json" in problems and "over the limit" in problems
    assert "integers" in problems
    with pytest.raises(ImportSourceError, match="not a COCO instances file"):
        read_coco(tmp_path / "giant.json")


def test_a_mask_shape_declaring_a_bomb_png_is_refused_by_the_pixel_cap(tmp_path):
    bomb = base64.b64encode(png_bomb(50000, 50000, colour=False)).decode()
    _labelme(tmp_path, "a", [{"label": "x", "points": [[0, 0], [4, 4]], "shape_type": "mask", "mask": bomb},
                             {"label": "x", "points": [[0, 0], [4, 4]], "shape_type": "mask", "mask": "%%%notpng"}])
    (item,) = read_labelme(tmp_path).items
    with pytest.raises(ImportSourceError, match="pixel limit|over the limit"):
        item.render(H, W)


def test_nan_and_absurd_coordinates_in_coco_polygons_fail_that_image(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": H, "width": W}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 9, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 5, 0, float("nan"), 5]]},
                           {"id": 10, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 5, 0, 9e300, 5]]}]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    item = read_coco(tmp_path / "c.json").items[0]
    with pytest.raises(ImportSourceError, match="annotation 9.*finite"):
        item.render(H, W)


def test_a_zip_with_too_many_members_or_a_fake_png_is_a_message(tmp_path, monkeypatch):
    path = tmp_path / "e.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("labelmap.txt", "cat:255,0,0::\n")
        zf.writestr("SegmentationClass/a.png", b"not a png at all")
        for k in range(5):
            zf.writestr(f"junk/{k}.txt", b"x")
    (item,) = read_cvat_mask(path).items
    with pytest.raises(ImportSourceError, match="not a readable image"):
        item.render(H, W)
    monkeypatch.setattr(limits, "MAX_ZIP_MEMBERS", 3)
    with pytest.raises(ImportSourceError, match="at most 3 are read"):
        read_cvat_mask(path)


def test_a_cvat_mask_of_the_wrong_size_fails_its_image_only(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for n in ("a", "b"):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(images / f"{n}.png")
    src = tmp_path / "cvat"
    (src / "SegmentationClass").mkdir(parents=True)
    (src / "labelmap.txt").write_text("background:0,0,0::\ncat:255,0,0::\n")
    for n, size in (("a", (W, H)), ("b", (W + 1, H))):
        buf = io.BytesIO()
        Image.new("RGB", size, (255, 0, 0)).save(buf, format="PNG")
        (src / "SegmentationClass" / f"{n}.png").write_bytes(buf.getvalue())
    ds = Dataset(images)
    result = run_import(ds, plan_import(ds, read_cvat_mask(src)))
    assert result.imported == ["a.png"] and "drawn on a 31x20 image" in result.errors[0][1]


def test_a_source_naming_more_classes_than_the_cap_is_refused(tmp_path):
    from engine.io.imports import read_yolo_seg

    (tmp_path / "data.yaml").write_text("names: [" + ", ".join(f"n{k}" for k in range(20000)) + "]\n")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "x.txt").write_text("0 0.1 0.1 0.2 0.2 0.3 0.1\n")
    with pytest.raises(ImportSourceError, match="20000 class names; at most 10000"):
        read_yolo_seg(tmp_path)
