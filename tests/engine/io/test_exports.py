"""COCO (pycocotools) and labelme exports read back to the same label maps; provenance sidecars round-trip."""
import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from engine.crf.params import PRESETS, CRFParams
from engine.errors import LabelIOError
from engine.io.exports import CocoImage, labelme_labels_txt, rle_decode, rle_encode, write_coco, write_labelme
from engine.io.provenance import make_provenance, read_provenance, sidecar_path, write_provenance
from engine.labels import VOID, voc_classes
from tests.support.labelme_port import labelme2voc_png


def _scene(h=60, w=80):
    lab = np.zeros((h, w), np.uint8)
    lab[5:45, 5:50] = 15                       # person, with a hole holding a chair
    lab[15:30, 15:30] = 9
    cv2.circle(lab, (65, 40), 10, 12, -1)      # dog: curved outline
    lab[50:55, 60:75] = VOID
    lab[52, 2] = 3                             # a single-pixel bird
    return lab


def test_rle_round_trip():
    m = np.zeros((7, 9), bool)
    m[2:5, 1:8] = True
    rle = rle_encode(m)
    assert rle["size"] == [7, 9] and isinstance(rle["counts"], str)
    json.dumps(rle)
    assert np.array_equal(rle_decode(rle), m)


def test_coco_export_loads_in_pycocotools_and_masks_match(tmp_path):
    classes = voc_classes()
    a, b = _scene(), np.full((20, 30), 1, np.uint8)
    b[:, :10] = 0
    path = tmp_path / "coco.json"
    write_coco(path, [CocoImage("a.jpg", a), CocoImage("sub/b.jpg", b)], classes)
    coco = COCO(str(path))
    assert sorted(coco.getImgIds()) == [1, 2]
    cats = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert cats[16] == classes.names[15] and 1 not in cats  # background left out; id = index + 1
    seen = set()
    for ann in coco.loadAnns(coco.getAnnIds()):
        labels = a if ann["image_id"] == 1 else b
        expected = labels == ann["category_id"] - 1
        assert np.array_equal(coco.annToMask(ann).astype(bool), expected)
        assert ann["area"] == expected.sum()
        seen.add((ann["image_id"], ann["category_id"] - 1))
    assert seen == {(1, 15), (1, 9), (1, 12), (1, 3), (2, 1)}
    with_bg = write_coco(tmp_path / "bg.json", [CocoImage("b.jpg", b)], classes, include_background=True)
    assert {a["category_id"] for a in with_bg["annotations"]} == {1, 2}


def test_export_rejects_labels_outside_class_list():
    bad = np.full((4, 4), 40, np.uint8)
    with pytest.raises(ValueError, match=r"\[40\] exceed the 21-class"):
        write_coco("/nonexistent/never.json", [CocoImage("x.jpg", bad)], voc_classes())


def test_labelme_export_is_loadable_and_rasterises_back(tmp_path):
    classes = voc_classes()
    lab = _scene()
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(tmp_path / "images" / "a.jpg")
    json_path = tmp_path / "labelme" / "a.json"
    write_labelme(json_path, lab, classes, tmp_path / "images" / "a.jpg")

    data = json.loads(json_path.read_text(encoding="utf-8"))
    for key in ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"):
        assert key in data
    assert data["imageData"] is None and data["imagePath"] == "../images/a.jpg"
    for s in data["shapes"]:
        assert set(s) >= {"label", "points", "group_id", "shape_type", "flags"}
        assert all(len(p) == 2 and all(isinstance(v, float) for v in p) for p in s["points"])
    assert {s["label"] for s in data["shapes"]} == {"person", "chair", "dog", "bird", "__ignore__"}
    assert np.array_equal(labelme2voc_png(json_path, labelme_labels_txt(classes)), lab)


def test_provenance_round_trip(tmp_path):
    labels = _scene()
    locked = np.zeros(labels.shape, bool)
    locked[10:20, 30:40] = True
    loaded = SimpleNamespace(spec=SimpleNamespace(name="demo v2", arch="deeplab_v2_resnet101"),
                             sha256="ab" * 32, source_format="deeplab-annotator/1", path=Path("demo_v2.pt"))
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    rec = make_provenance(labels, locked, "a.jpg", loaded=loaded, crf_params=PRESETS["deeplab-v2"],
                          crf_backend="reference", now=when)
    label_path = tmp_path / "labels" / "a.png"
    written = write_provenance(label_path, rec)
    assert written == sidecar_path(label_path) == tmp_path / "labels" / "a.provenance.json"
    raw = json.loads(written.read_text())
    assert raw["model_name"] == "demo v2" and raw["checkpoint_sha256"] == "ab" * 32
    assert raw["crf_params"]["bi_xy_std"] == 67 and raw["crf_backend"] == "reference"
    assert raw["created"] == "2025-01-02T03:04:05+00:00" and raw["edited_pixels"] == 100
    back = read_provenance(label_path)
    assert back == rec
    assert np.array_equal(back.edited_mask(), locked)
    assert CRFParams.from_dict(back.crf_params) == PRESETS["deeplab-v2"]

    plain = make_provenance(labels, np.zeros_like(locked), "b.jpg")  # hand-made, no model, no CRF
    assert plain.model_name == "" and plain.crf_params is None and plain.crf_backend == ""
    assert not plain.edited_mask().any()
    assert read_provenance(tmp_path / "none.png") is None
    sidecar_path(tmp_path / "bad.png").write_text("{broken")
    with pytest.raises(LabelIOError, match="unreadable"):
        read_provenance(tmp_path / "bad.png")
