"""engine.io.imports: each reader against its format's published definition. labelme: its shapes_to_label
(labelme/_utils/shape.py) restated here on the whole canvas, and the real package when installed; COCO: fixtures
made with pycocotools and decoded with its COCO.annToMask; CVAT mask 1.1: labelmap.txt + colour PNGs; YOLO-seg:
Ultralytics' polygon2mask / polygons2masks_overlap restated; EXIF orientation."""
from __future__ import annotations

import base64
import io
import json
import math
import zipfile

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from engine.io.imports import (IGNORE, UNLABELLED, ImportSourceError, image_frame, read_coco, read_cvat_mask,
                               read_labelme, read_source, read_yolo_seg)

H, W = 48, 64


# --- labelme ------------------------------------------------------------------------------------------------------

def labelme_shape_to_mask(img_shape, points, shape_type=None, line_width=10, point_size=5):
    """labelme's shape_to_mask (labelme/_utils/shape.py, v7.1), on the whole canvas."""
    mask = Image.fromarray(np.zeros(img_shape[:2], dtype=np.uint8))
    draw = ImageDraw.Draw(mask)
    xy = [tuple(p) for p in points]
    if shape_type == "circle":
        (cx, cy), (px, py) = xy
        d = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)
        draw.ellipse([cx - d, cy - d, cx + d, cy + d], outline=1, fill=1)
    elif shape_type == "rectangle":
        (x0, y0), (x1, y1) = xy
        draw.rectangle(((min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1))), outline=1, fill=1)
    elif shape_type == "line":
        draw.line(xy=xy, fill=1, width=line_width)
    elif shape_type == "linestrip":
        draw.line(xy=xy, fill=1, width=line_width, joint="curve")
    elif shape_type == "point":
        cx, cy = xy[0]
        draw.ellipse([cx - point_size, cy - point_size, cx + point_size, cy + point_size], outline=1, fill=1)
    else:
        draw.polygon(xy=xy, outline=1, fill=1)
    return np.array(mask, dtype=bool)


def labelme_reference(shapes, names):
    """labelme's shapes_to_label painting order, with our UNLABELLED start and __ignore__ as IGNORE."""
    out = np.full((H, W), UNLABELLED, np.int32)
    for s in shapes:
        if s["shape_type"] == "mask":
            bitmap = np.array(Image.open(io.BytesIO(base64.b64decode(s["mask"])))).astype(bool)
            mask = np.zeros((H, W), bool)
            pts = np.asarray(s["points"], float)
            (x1, y1), (x2, y2) = pts.round().astype(int)
            ph, pw = (y2 - y1 + 1, x2 - x1 + 1) if np.array_equal(pts, np.trunc(pts)) else bitmap.shape
            ys, ye, xs, xe = max(y1, 0), min(y1 + ph, H), max(x1, 0), min(x1 + pw, W)
            mask[ys:ye, xs:xe] = bitmap[ys - y1:ye - y1, xs - x1:xe - x1]
        else:
            mask = labelme_shape_to_mask((H, W), s["points"], s["shape_type"])
        out[mask] = IGNORE if s["label"] == "__ignore__" else names.index(s["label"])
    return out


def _png_b64(bitmap):
    buf = io.BytesIO()
    Image.fromarray(bitmap.astype(np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def every_shape():
    speck = np.array([[1, 0, 1], [0, 1, 0]], bool)
    return [
        {"label": "belt", "points": [[2.5, 3.2], [60.1, 4.7], [55.3, 40.2], [3.0, 44.9]], "shape_type": "polygon"},
        {"label": "bag", "points": [[-20.5, 30.2], [70.3, 52.9], [50.2, 60.0]], "shape_type": "polygon"},
        {"label": "paper", "points": [[40.6, 30.2], [10.4, 8.8]], "shape_type": "rectangle"},
        {"label": "can", "points": [[30.3, 24.1], [36.9, 28.6]], "shape_type": "circle"},
        {"label": "bag", "points": [[1, 47], [63, 1]], "shape_type": "line"},
        {"label": "bag", "points": [[5, 5], [20, 40], [50, 10]], "shape_type": "linestrip"},
        {"label": "can", "points": [[58.2, 42.7]], "shape_type": "point"},
        {"label": "paper", "points": [[10, 30], [20, 25], [25, 35], [15, 40]], "shape_type": "oriented_rectangle"},
        {"label": "__ignore__", "points": [[44, 2], [50, 2], [50, 9], [44, 9]], "shape_type": "polygon"},
        {"label": "can", "points": [[61, 45], [63, 46]], "shape_type": "mask", "mask": _png_b64(speck)},
        {"label": "belt", "points": [[-1.4, 10.6], [1.6, 12.4]], "shape_type": "mask", "mask": _png_b64(speck)},
    ]


def write_labelme(folder, stem, shapes, image_path=None, size=(H, W)):
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"version": "5.4.1", "flags": {},
           "shapes": [dict(s, group_id=None, flags={}, description="") for s in shapes],
           "imagePath": image_path or f"{stem}.png", "imageData": None,
           "imageHeight": size[0] if size else None, "imageWidth": size[1] if size else None}
    (folder / f"{stem}.json").write_text(json.dumps(doc))


def test_labelme_every_shape_type_paints_what_labelmes_rasteriser_paints(tmp_path):
    shapes = every_shape()
    write_labelme(tmp_path, "scene", shapes, image_path="..\\images\\scene.jpg")
    source = read_labelme(tmp_path)
    (item,) = source.items
    assert item.image == "scene.jpg" and item.size == (H, W) and item.aliases == ("scene",)
    assert source.names == ["belt", "bag", "paper", "can"]
    got = item.render(H, W)
    want = labelme_reference(shapes, source.names)
    assert np.array_equal(got, want)
    assert {IGNORE, UNLABELLED, 0, 1, 2, 3} <= set(np.unique(got).tolist())


def test_x_anylabeling_rectangles_as_four_corners_and_rotated_boxes_are_read(tmp_path):
    """A walk: X-AnyLabeling writes a rectangle as its 4 corners and a rotated box as shape_type "rotation"; each
    failed its whole file ('a rectangle needs exactly 2 points, got 4'). The corners draw the box they span (as the
    2-point rectangle of the same box), a rotation draws as labelme's oriented_rectangle; the extra keys are
    ignored."""
    extra = {"score": 0.93, "difficult": False, "attributes": {}, "kie_linking": []}
    shapes = [
        dict(extra, label="paper", points=[[20, 20], [50, 20], [50, 40], [20, 40]], shape_type="rectangle"),
        dict(extra, label="can", points=[[5, 30], [15, 25], [20, 35], [10, 40]], shape_type="rotation",
             direction=0.3),
        dict(extra, label="belt", points=[[40.5, 2.2], [60.3, 2.2], [60.3, 12.7], [40.5, 12.7]],
             shape_type="rectangle"),
    ]
    write_labelme(tmp_path, "scene", shapes)
    (item,) = read_labelme(tmp_path).items
    got = item.render(H, W)
    as_labelme = [dict(shapes[0], points=[[20, 20], [50, 40]]),
                  dict(shapes[1], shape_type="oriented_rectangle"),
                  dict(shapes[2], points=[[40.5, 2.2], [60.3, 12.7]])]
    assert np.array_equal(got, labelme_reference(as_labelme, ["paper", "can", "belt"]))
    assert (got == 0).sum() > 600 and (got == 1).sum() > 100   # (the rotated can touches the paper)


def test_labelme_crops_paint_the_same_pixels_as_the_whole_canvas_for_random_shapes(tmp_path):
    rng = np.random.default_rng(25)
    counts = {"polygon": 5, "rectangle": 2, "circle": 2, "line": 2, "linestrip": 4, "point": 1,
              "oriented_rectangle": 4}
    shapes = []
    for k in range(300):
        kind = list(counts)[k % len(counts)]
        pts = np.c_[rng.uniform(-W / 2, 1.4 * W, counts[kind]), rng.uniform(-H / 2, 1.4 * H, counts[kind])]
        if kind in ("circle", "point", "rectangle"):
            pts = np.c_[rng.uniform(-5, W + 5, counts[kind]), rng.uniform(-5, H + 5, counts[kind])]
        shapes.append({"label": f"c{k % 7}", "points": np.round(pts, 2).tolist(), "shape_type": kind})
    write_labelme(tmp_path / "all", "random", shapes)
    source = read_labelme(tmp_path / "all")
    assert np.array_equal(source.items[0].render(H, W), labelme_reference(shapes, source.names))
    for k, shape in enumerate(shapes):   # each alone too, so no later shape hides a wrong pixel
        write_labelme(tmp_path / "one", f"s{k:03d}", [shape])
    for item, shape in zip(read_labelme(tmp_path / "one").items, shapes):
        assert np.array_equal(item.render(H, W) >= 0, labelme_shape_to_mask((H, W), shape["points"],
                                                                            shape["shape_type"])), shape


def test_labelme_package_agrees_when_installed(tmp_path):
    utils = pytest.importorskip("labelme.utils")
    shapes = [s for s in every_shape() if s["label"] != "__ignore__"]
    write_labelme(tmp_path, "scene", shapes)
    source = read_labelme(tmp_path)
    loaded = []
    for s in shapes:
        d = dict(s, group_id=None)
        if s["shape_type"] == "mask":
            d["mask"] = np.array(Image.open(io.BytesIO(base64.b64decode(s["mask"])))).astype(bool)
        else:
            d["mask"] = None
        loaded.append(d)
    cls = utils.shapes_to_label((H, W), loaded, {n: i + 1 for i, n in enumerate(source.names)})
    cls = cls[0] if isinstance(cls, tuple) else cls
    got = source.items[0].render(H, W)
    assert np.array_equal(np.where(got == UNLABELLED, 0, got + 1), cls)


def test_labelme_skips_files_that_are_not_labelme_and_names_them(tmp_path):
    write_labelme(tmp_path, "good", every_shape()[:1])
    (tmp_path / "coco.json").write_text(json.dumps({"images": []}))
    (tmp_path / "broken.json").write_text("{not json")
    write_labelme(tmp_path, "badshape", [{"label": "x", "points": [[1, 1], [2, 2]], "shape_type": "polygon"}])
    source = read_labelme(tmp_path)
    assert [i.aliases[0] for i in source.items] == ["good"]
    text = "\n".join(source.problems)
    assert "coco.json: not a labelme file" in text and "broken.json: not valid JSON" in text
    assert "a polygon needs more than 2 points" in text


# --- COCO -----------------------------------------------------------------------------------------------------------

def _disc(cx, cy, r):
    yy, xx = np.mgrid[:H, :W]
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


def coco_fixture(path):
    big, small, crowd = _disc(30, 24, 18), _disc(34, 22, 6), np.zeros((H, W), bool)
    crowd[30:46, 2:40] = True
    rle = mask_utils.encode(np.asfortranarray(big.astype(np.uint8)))
    small_rle = {"size": [H, W],
                 "counts": mask_utils.encode(np.asfortranarray(small.astype(np.uint8)))["counts"].decode()}
    uncompressed = {"size": [H, W], "counts": []}
    flat = crowd.ravel(order="F").astype(np.uint8)
    run, value = 0, 0
    for v in flat:
        if v != value:
            uncompressed["counts"].append(run)
            run, value = 0, v
        run += 1
    uncompressed["counts"].append(run)
    doc = {
        "images": [{"id": 7, "file_name": "sub/scene.jpg", "height": H, "width": W},
                   {"id": 8, "file_name": "empty.jpg", "height": H, "width": W}],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "Plastic Bag"}, {"id": 5, "name": "can"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 5, "iscrowd": 0,
             "segmentation": [[30, 20, 40, 20, 40, 28, 30, 28]]},
            {"id": 2, "image_id": 7, "category_id": 3, "iscrowd": 0,
             "segmentation": {"size": [H, W], "counts": rle["counts"].decode()}},
            {"id": 3, "image_id": 7, "category_id": 1, "iscrowd": 0, "segmentation": small_rle},
            {"id": 4, "image_id": 7, "category_id": 1, "iscrowd": 1, "segmentation": uncompressed},
        ]}
    path.write_text(json.dumps(doc))
    return doc


def test_coco_polygons_and_rle_decode_as_pycocotools_does_smaller_instances_on_top(tmp_path):
    path = tmp_path / "instances.json"
    doc = coco_fixture(path)
    source = read_coco(path)
    assert source.names == ["person", "Plastic Bag", "can"]
    (item,) = source.items
    assert item.image == "scene.jpg" and item.size == (H, W)
    assert any("1 image(s) without annotations" in p for p in source.problems)
    got = item.render(H, W)
    api = COCO(str(path))
    index = {1: 0, 3: 1, 5: 2}
    anns = api.loadAnns(api.getAnnIds(imgIds=[7], iscrowd=None))
    order = sorted(anns, key=lambda a: (not a["iscrowd"], -int(api.annToMask(a).sum())))
    want = np.full((H, W), UNLABELLED, np.int32)
    for a in order:
        want[api.annToMask(a).astype(bool)] = index[a["category_id"]]
    assert np.array_equal(got, want)
    assert len(doc["annotations"]) == 4 and set(np.unique(got).tolist()) == {UNLABELLED, 0, 1, 2}
    # the small person over the big bag survives; the crowd is under the bag
    assert got[24, 35] == 2 and got[17, 34] == 0 and got[24, 20] == 1 and got[44, 5] == 0


def test_coco_random_polygons_each_paint_what_pycocotools_decodes(tmp_path):
    rng = np.random.default_rng(1)
    polys = []
    for _ in range(200):
        n = rng.integers(3, 9)
        polys.append([round(v, 2) for v in np.c_[rng.uniform(-20, W + 20, n), rng.uniform(-20, H + 20, n)].ravel()])
    doc = {"images": [{"id": k, "file_name": f"{k}.png", "height": H, "width": W} for k in range(len(polys))],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": k, "image_id": k, "category_id": 1, "segmentation": [p]}
                           for k, p in enumerate(polys)]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    api = COCO(str(tmp_path / "c.json"))
    for item in read_coco(tmp_path / "c.json").items:
        k = int(item.image.split(".")[0])
        assert np.array_equal(item.render(H, W) == 0, api.annToMask(api.loadAnns([k])[0]).astype(bool)), k


def test_coco_refuses_an_rle_whose_runs_do_not_cover_the_image(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": H, "width": W}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 1,
                            "segmentation": {"size": [H, W], "counts": [10, 5000000]}}]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    item = read_coco(tmp_path / "c.json").items[0]
    with pytest.raises(ImportSourceError, match="add up to"):
        item.render(H, W)
    doc["annotations"][0]["segmentation"] = {"size": [H, W], "counts": "0P"}   # a run that never ends
    (tmp_path / "c.json").write_text(json.dumps(doc))
    with pytest.raises(ImportSourceError, match="middle of a run"):
        read_coco(tmp_path / "c.json").items[0].render(H, W)


# --- CVAT Segmentation mask 1.1 ---------------------------------------------------------------------------------------

LABELMAP = "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncat:250,50,83::\ndog:61,245,61::\n"


def cvat_mask():
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[5:20, 5:30] = (250, 50, 83)
    rgb[25:40, 30:60] = (61, 245, 61)
    rgb[0:2, :] = (224, 224, 192)
    return rgb


def _png(rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_cvat_mask_folder_maps_colours_to_names(tmp_path):
    (tmp_path / "SegmentationClass").mkdir()
    (tmp_path / "labelmap.txt").write_text(LABELMAP)
    (tmp_path / "SegmentationClass" / "scene.png").write_bytes(_png(cvat_mask()))
    source = read_cvat_mask(tmp_path)
    assert source.names == ["background", "cat", "dog"]
    assert source.unlabelled == "background" and source.unused == {"background"}   # CVAT's "not annotated"
    got = source.items[0].render(H, W)
    assert source.items[0].image == "scene"
    assert got[10, 10] == 1 and got[30, 40] == 2 and got[45, 5] == UNLABELLED and got[0, 0] == IGNORE


def test_cvat_mask_agrees_with_datumaros_reading_of_the_same_folder(tmp_path):
    from tests.support.datumaro_port import parse_label_map, read_mask

    (tmp_path / "SegmentationClass").mkdir()
    (tmp_path / "labelmap.txt").write_text(LABELMAP + "void:224,224,192::\nbird:::\n")
    (tmp_path / "SegmentationClass" / "scene.png").write_bytes(_png(cvat_mask()))
    source = read_cvat_mask(tmp_path)
    assert source.unused == {"background", "bird"}
    got = source.items[0].render(H, W)
    label_map = parse_label_map(tmp_path / "labelmap.txt")
    theirs = np.array(list(label_map))[read_mask(tmp_path / "SegmentationClass" / "scene.png", label_map)]
    ours = np.where(got == UNLABELLED, "background", np.where(got == IGNORE, "void",
                                                                np.array(source.names + [""])[got]))
    assert np.array_equal(ours, theirs)


def test_cvat_mask_zip_is_read_in_memory_and_refuses_slips_bombs_and_undeclared_colours(tmp_path):
    path = tmp_path / "export.zip"
    bad = cvat_mask()
    bad[44:, 60:] = (1, 2, 3)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("task/labelmap.txt", LABELMAP.replace("background:0,0,0::\n", ""))
        zf.writestr("task/SegmentationClass/scene.png", _png(cvat_mask()))
        zf.writestr("task/SegmentationClass/odd.png", _png(bad))
        zf.writestr("task/SegmentationClass/bomb.png", b"\0" * (50 << 20))
        zf.writestr("../../evil/SegmentationClass/x.png", _png(cvat_mask()))
    source = read_cvat_mask(path)
    assert any("zip-slip" in p for p in source.problems)
    by = {i.image: i for i in source.items}
    assert set(by) == {"scene", "odd", "bomb"}
    got = by["scene"].render(H, W)
    assert got[45, 5] == UNLABELLED and got[10, 10] == 0        # undeclared black is unlabelled
    with pytest.raises(ImportSourceError, match=r"\(1, 2, 3\) is not in labelmap.txt"):
        by["odd"].render(H, W)
    with pytest.raises(ImportSourceError, match="zip bomb"):
        by["bomb"].render(H, W)
    assert not (tmp_path.parent / "evil").exists()


def test_cvat_mask_refuses_a_file_that_is_not_a_zip(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ImportSourceError, match="not a readable zip"):
        read_cvat_mask(tmp_path / "x.zip")


# --- YOLO-seg -------------------------------------------------------------------------------------------------------

def ultralytics_overlap(polys, classes):
    """Ultralytics polygon2mask + polygons2masks_overlap (ultralytics/data/utils.py), then the class of each."""
    masks = []
    for p in polys:
        m = np.zeros((H, W), np.uint8)
        pts = np.asarray(p, dtype=np.int32).reshape((1, -1, 2))
        cv2.fillPoly(m, pts, color=1)
        masks.append(m)
    index = np.argsort(-np.array([m.sum() for m in masks]), kind="stable")
    out = np.full((H, W), UNLABELLED, np.int32)
    for i in index:
        out[masks[i].astype(bool)] = classes[i]
    return out


@pytest.mark.parametrize("names", ["names: [belt, paper, can]\n", "names:\n  0: belt\n  1: paper\n  2: can\n"])
def test_yolo_seg_polygons_rasterise_as_ultralytics_does(tmp_path, names):
    (tmp_path / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\n" + names)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    rows = [(0, [0.05, 0.1, 0.95, 0.1, 0.95, 0.9, 0.05, 0.9]), (2, [0.4, 0.4, 0.6, 0.42, 0.5, 0.7]),
            (1, [0.1, 0.5, 0.3, 0.5, 0.3, 0.8]),
            (2, [-0.2, -0.1, 0.5, -0.1, 1.1, 1.2])]   # crosses the image's borders
    text = "\n".join(f"{c} " + " ".join(f"{v:.6f}" for v in p) for c, p in rows) + "\n2 0.5 0.5 0.1 0.1\n"
    (tmp_path / "labels" / "train" / "scene.txt").write_text(text)
    source = read_yolo_seg(tmp_path)
    assert source.names == ["belt", "paper", "can"]
    assert any("detection box" in p for p in source.problems)
    (item,) = source.items
    got = item.render(H, W)
    px = [[v * (W if k % 2 == 0 else H) for k, v in enumerate(p)] for _, p in rows]
    assert np.array_equal(got, ultralytics_overlap(px, [c for c, _ in rows]))
    assert read_source("yolo-seg", tmp_path / "data.yaml").names == source.names


def test_yolo_seg_finds_the_labels_under_data_yamls_path_and_skips_its_image_lists(tmp_path):
    """A walk's data.yaml in a config folder, `path:` naming the dataset, `train: train.txt` beside it: the import
    read the image list as labels ('not class x1 y1 .. numbers') and stopped."""
    root = tmp_path / "yl"
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "scene.txt").write_text("1 0.1 0.1 0.5 0.1 0.5 0.5\n")
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "train.txt").write_text("/somewhere/images/train/scene.png\n")
    (cfg / "data.yaml").write_text(f"path: {root}\ntrain: train.txt\nnames: [belt, paper]\n")
    source = read_yolo_seg(cfg / "data.yaml")
    assert [i.image for i in source.items] == ["scene"] and not source.problems and not source.failed
    (tmp_path / "flat").mkdir()                               # no labels/ folder: the lists are still not labels
    (tmp_path / "flat" / "scene.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    (tmp_path / "flat" / "val.txt").write_text("images/scene.png\n")
    (tmp_path / "flat" / "data.yaml").write_text("path: .\nval: val.txt\nnames: [belt]\n")
    flat = read_yolo_seg(tmp_path / "flat")
    assert [i.image for i in flat.items] == ["scene"] and not flat.failed


def test_yolo_seg_bad_lines_fail_their_file(tmp_path):
    (tmp_path / "data.yaml").write_text("names: [a]\n")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "x.txt").write_text("3 0.1 0.1 0.2 0.2 0.3 0.1\n")
    (tmp_path / "labels" / "y.txt").write_text("0 0.1 0.1 0.2 nan 0.3 0.1\n")
    (tmp_path / "labels" / "z.txt").write_text("0 0.1 0.1 0.2 0.2 0.3 0.1\n")
    source = read_yolo_seg(tmp_path)
    assert [i.image for i in source.items] == ["y", "z"]
    assert any("class 3 is not in data.yaml" in p for p in source.problems)
    with pytest.raises(ImportSourceError, match="finite"):
        source.items[0].render(H, W)


def test_yolo_seg_names_mapping_must_be_indexed_from_zero(tmp_path):
    (tmp_path / "data.yaml").write_text("names:\n  1: a\n  2: b\n")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "x.txt").write_text("0 0.1 0.1 0.2 0.2 0.3 0.1\n")
    with pytest.raises(ImportSourceError, match="indexed 0..1"):
        read_yolo_seg(tmp_path)


# --- frames ---------------------------------------------------------------------------------------------------------

def test_an_exif_rotated_image_has_its_upright_frame_and_stored_maps_turn_with_it(tmp_path):
    img = Image.fromarray(np.zeros((H, W, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6   # stored landscape, shown rotated 90 degrees clockwise
    img.save(tmp_path / "r.jpg", exif=exif)
    frame = image_frame(tmp_path / "r.jpg")
    assert frame.shape == (W, H) and frame.stored == (H, W)
    assert frame.fit((W, H), "x") == ((W, H), False)
    assert frame.fit((H, W), "x") == ((H, W), True)
    with pytest.raises(ValueError, match="another image"):
        frame.fit((10, 10), "x")
    stored = np.zeros((H, W), np.uint8)
    stored[0, 0] = 1                                  # top-left of the stored pixels
    upright = frame.upright(stored)
    assert upright.shape == (W, H) and upright[0, H - 1] == 1   # orientation 6: top-left goes to top-right


def test_coco_messages_name_annotations_by_their_id_as_the_file_does(tmp_path):
    """A walk found notes counting annotations from 0 by place while errors used the COCO id."""
    import json as _json

    from engine.io.imports.coco import read_coco
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 4, "width": 4}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 6, "image_id": 1, "category_id": 99, "segmentation": [[0, 0, 3, 0, 3, 3]]},
                           {"image_id": 1, "category_id": 1}]}
    (tmp_path / "c.json").write_text(_json.dumps(doc))
    problems = " | ".join(read_coco(tmp_path / "c.json").problems)
    assert "annotation 6 has category 99" in problems and "annotation #2 (no id) has no segmentation" in problems
