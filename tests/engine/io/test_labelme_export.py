"""The labelme export is exact: labelme's rasteriser (tests/support/labelme_port.py, and the real labelme package when
it is installed) paints every exported file back into the saved label PNG pixel for pixel, with labelme2voc's
ids from our labels.txt; polygons are never degenerate and are simpler than the pixel outline."""
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.io.exports import (
    BACKGROUND_LABEL,
    IGNORE_LABEL,
    labelme_dict,
    labelme_labels_txt,
    write_labelme,
    write_labelme_labels,
)
from engine.io.images import read_image
from engine.io.labelme_shapes import SPECK_PAD
from engine.io.labels import read_label_png
from engine.labels import VOID, ClassList, voc_classes
from engine.paths import RESOURCES
from tests.support.labelme_port import (
    labelme2voc_png,
    labelme_image,
    labels_txt_ids,
    load_label_file,
    shapes_to_instances,
    shapes_to_label,
    xanylabeling_rejects,
)

BELT = ClassList(("belt", "paper", "plastic bottle", "plastic bag", "metal can"))


def _export(tmp_path, lab, classes=BELT, name="a", **kw):
    """Write image + labelme JSON + labels.txt like File > Export; return (json path, labels.txt text)."""
    (tmp_path / "img").mkdir(exist_ok=True)
    Image.fromarray(np.zeros(lab.shape + (3,), np.uint8)).save(tmp_path / "img" / f"{name}.png")
    out = tmp_path / "labelme"
    path = out / f"{name}.json"
    write_labelme(path, lab, classes, tmp_path / "img" / f"{name}.png", **kw)
    assert (out / "labels.txt").read_text() == labelme_labels_txt(classes)     # written beside the JSON
    return path, write_labelme_labels(out, classes).read_text()


def _back(path, labels_txt):
    return labelme2voc_png(path, labels_txt)


def _polygons(path):
    return [s for s in json.loads(path.read_text())["shapes"] if s["shape_type"] == "polygon"]


def _assert_not_degenerate(shapes):
    for s in shapes:
        pts = np.array(s["points"])
        assert len(np.unique(pts, axis=0)) >= 3
        assert abs(cv2.contourArea(pts.astype(np.float32))) > 0


def test_issue_minimal_diagonal_join(tmp_path):
    """Pixel (2,2) is class 0 joined to the outside only through a diagonal: it must stay 0."""
    lab = np.zeros((7, 7), np.uint8)
    lab[1:6, 1:6] = 1
    lab[1, 1] = 0
    lab[2, 2] = 0
    path, txt = _export(tmp_path, lab)
    assert np.array_equal(_back(path, txt), lab)
    shapes = json.loads(path.read_text())["shapes"]
    assert [s["shape_type"] for s in shapes] == ["polygon"]   # the hole is cut into the one polygon
    _assert_not_degenerate(shapes)


def _nested_scene():
    lab = np.zeros((64, 80), np.uint8)
    lab[4:60, 4:44] = 1                          # paper with a hole of plastic bottle ...
    lab[10:50, 10:38] = 2
    lab[16:40, 16:32] = 0                        # ... which holds belt (class 0) ...
    lab[22:30, 20:28] = 3                        # ... which holds a bag
    lab[25, 23] = 1                              # a paper dot inside the bag
    cv2.circle(lab, (62, 20), 12, 4, -1)         # a can with a void hole (curved outlines)
    cv2.circle(lab, (62, 20), 4, VOID, -1)
    lab[40:52, 50:76] = VOID                     # void with a class-0 hole and a paper hole
    lab[44:48, 54:58] = 0
    lab[44:48, 66:70] = 1
    lab[56, 50:78] = 2                           # a 1-pixel line
    for k in range(8):                           # a checkerboard of diagonal joins
        for j in range(8):
            if (k + j) % 2:
                lab[k + 54, j + 4] = 3
    lab[0, 0] = 4                                # corner pixels
    lab[63, 79] = VOID
    return lab


def test_holes_void_class0_and_order_are_exact(tmp_path):
    lab = _nested_scene()
    path, txt = _export(tmp_path, lab)
    assert np.array_equal(_back(path, txt), lab)
    data = json.loads(path.read_text())
    labels = {s["label"] for s in data["shapes"]}
    assert {"paper", "plastic bottle", "plastic bag", "metal can", IGNORE_LABEL} <= labels
    assert "belt" not in labels                  # class 0 is labelme's background slot
    _assert_not_degenerate(_polygons(path))


def test_explicit_background_and_without_void(tmp_path):
    lab = _nested_scene()
    path, txt = _export(tmp_path, lab, include_background=True)
    assert np.array_equal(_back(path, txt), lab)
    assert BACKGROUND_LABEL in {s["label"] for s in json.loads(path.read_text())["shapes"]}
    data = labelme_dict(lab, BELT, "a.png", include_void=False)
    assert IGNORE_LABEL not in {s["label"] for s in data["shapes"]}
    back = shapes_to_label(lab.shape, _decoded(data), labels_txt_ids(labelme_labels_txt(BELT))).astype(np.uint8)
    assert np.array_equal(back[lab != VOID], lab[lab != VOID])   # void is simply not drawn


def _decoded(data):
    """Shapes of an in-memory dict as labelme's loader gives them (mask PNG decoded)."""
    import base64
    import io
    out = []
    for s in data["shapes"]:
        m = None if s["mask"] is None else np.array(Image.open(io.BytesIO(base64.b64decode(s["mask"])))) > 0
        out.append(dict(s, mask=m))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_random_label_maps_are_exact(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(8, 40, 2)
    if seed % 2:      # salt and pepper: dots, lines, diagonal joins everywhere
        lab = rng.choice([0, 1, 2, VOID], size=(h, w), p=[0.4, 0.3, 0.2, 0.1]).astype(np.uint8)
    else:             # blobs with smooth, nested outlines
        coarse = rng.integers(0, 4, (4, 5)).astype(np.float32)
        lab = cv2.GaussianBlur(cv2.resize(coarse, (int(w), int(h)), interpolation=cv2.INTER_NEAREST), (0, 0), 2)
        lab = np.rint(lab).astype(np.uint8)
        lab[rng.random((h, w)) < 0.02] = VOID
    classes = ClassList(("belt", "a", "b", "c"))
    data = labelme_dict(lab, classes, "x.png", include_background=bool(seed % 3 == 0))
    back = shapes_to_label(lab.shape, _decoded(data), labels_txt_ids(labelme_labels_txt(classes)))
    assert np.array_equal(back.astype(np.uint8), lab)
    _assert_not_degenerate([s for s in data["shapes"] if s["shape_type"] == "polygon"])


def test_demo_labels_exact_simplified_and_mostly_polygons(tmp_path):
    """On the shipped ground truth: exact, fewer vertices than the pixel outline, at most a few masks."""
    for name in ("belt_02", "belt_11"):
        lab = read_label_png(RESOURCES / "samples_gt" / f"{name}.png")
        path, txt = _export(tmp_path, lab, name=name)
        assert np.array_equal(_back(path, txt), lab)
        shapes = json.loads(path.read_text())["shapes"]
        polygons = [s for s in shapes if s["shape_type"] == "polygon"]
        assert len(polygons) >= len(shapes) - 1
        _assert_not_degenerate(polygons)
        outline = 0
        for c in np.unique(lab[lab != 0]):
            contours, _ = cv2.findContours((lab == c).astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
            outline += sum(len(k) for k in contours)
        vertices = sum(len(s["points"]) for s in polygons)
        assert vertices < 0.75 * outline, (vertices, outline)


def test_labels_txt_is_accepted_by_labelme2voc_and_gives_our_ids(tmp_path):
    txt = labelme_labels_txt(BELT)
    assert txt.splitlines() == [IGNORE_LABEL, BACKGROUND_LABEL, "paper", "plastic bottle", "plastic bag",
                                "metal can"]
    ids = labels_txt_ids(txt)
    assert ids[IGNORE_LABEL] == -1 and ids[BACKGROUND_LABEL] == 0
    assert all(ids[n] == i for i, n in enumerate(BELT.names) if i)
    voc = voc_classes()
    assert labels_txt_ids(labelme_labels_txt(voc))["person"] == voc.names.index("person")


def test_names_labelme_cannot_hold_are_refused():
    lab = np.zeros((4, 4), np.uint8)
    for names in (("belt", "_background_"), ("belt", "__ignore__"), ("belt", " paper"), ("bg", "a", "a")):
        with pytest.raises(ValueError, match="labelme"):
            labelme_dict(lab, ClassList(names), "x.png")


def _speckled(h=64, w=120):
    """More than 255 regions: 2x2 blocks, dots and 1-pixel lines of four classes on class 0, and void."""
    lab = np.zeros((h, w), np.uint8)
    k = 0
    for y in range(1, h - 3, 5):
        for x in range(1, w - 3, 5):
            size = (1, 2, 3)[k % 3]
            lab[y:y + size, x:x + (1 if k % 7 == 0 else size)] = 1 + k % 4
            k += 1
    lab[h - 1, :] = 2                            # a 1-pixel line
    lab[0, :4] = VOID
    lab[30:33, 40] = VOID
    return lab, k


def test_specks_are_box_polygons_every_tool_loads(tmp_path):
    """No shape type X-AnyLabeling refuses; dots, lines and diagonal chains are boxes that labelme paints exactly."""
    lab, regions = _speckled()
    assert regions > 255
    path, txt = _export(tmp_path, lab)
    data = json.loads(path.read_text())
    assert xanylabeling_rejects(data) == []
    assert {s["shape_type"] for s in data["shapes"]} == {"polygon"} and all(s["mask"] is None for s in data["shapes"])
    assert np.array_equal(_back(path, txt), lab)
    _assert_not_degenerate(data["shapes"])                  # boxes are real polygons with area
    boxes = [np.array(s["points"]) for s in data["shapes"] if np.array(s["points"]).max() % 1]
    assert boxes and all(len(b) == 4 and np.allclose(b.max(axis=0) % 1, SPECK_PAD) for b in boxes)
    dot = np.zeros((5, 5), np.uint8)
    dot[2, 2] = 1
    shapes = labelme_dict(dot, BELT, "x.png")["shapes"]
    assert shapes == [dict(shapes[0], points=[[2.0, 2.0], [2 + SPECK_PAD, 2.0], [2 + SPECK_PAD, 2 + SPECK_PAD],
                                              [2.0, 2 + SPECK_PAD]])]


def test_every_sample_loads_in_x_anylabeling_and_is_exact(tmp_path):
    """The issue's measurement: 10 of 12 sample exports held "mask" shapes X-AnyLabeling refuses."""
    for gt in sorted((RESOURCES / "samples_gt").glob("*.png")):
        lab = read_label_png(gt)
        path, txt = _export(tmp_path, lab, name=gt.stem)
        assert xanylabeling_rejects(json.loads(path.read_text())) == [], gt.name
        assert np.array_equal(_back(path, txt), lab), gt.name


def test_labelme2voc_instances_fit_8_bits_with_hundreds_of_regions(tmp_path):
    """group_id is the class: labelme2voc's SegmentationObject holds one instance per class, not per region."""
    lab, regions = _speckled()
    path, txt = _export(tmp_path, lab)
    data = load_label_file(path)
    assert {s["group_id"] for s in data["shapes"]} <= set(range(256))
    ids = labels_txt_ids(txt)
    ins = shapes_to_instances(lab.shape, data["shapes"], ids)
    assert ins.max() <= 255 and regions > 255
    for c in (1, 2, 3, 4):                                  # each class is exactly one instance
        assert len(np.unique(ins[lab == c])) == 1 and ins[lab == c][0] > 0
    assert (ins[lab == VOID] == 0).all()
    without = [dict(s, group_id=None) for s in data["shapes"]]   # what the old export did: one per region
    assert shapes_to_instances(lab.shape, without, ids).max() > 255


@pytest.mark.parametrize("kind", ["cmyk", "grey16"])
def test_images_labelme_cannot_open_are_embedded(tmp_path, kind):
    """A CMYK JPEG or a 16-bit grey PNG: labelme refuses the file, so the JSON carries the picture the app shows."""
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    (tmp_path / "img").mkdir()
    if kind == "cmyk":
        image = tmp_path / "img" / "a.jpg"
        Image.fromarray(rgb).convert("CMYK").save(image)
    else:
        image = tmp_path / "img" / "a.png"
        Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(image)
    with Image.open(image) as im:
        assert im.mode in ("CMYK", "I;16", "I")              # modes labelme does not show
    lab = np.zeros((20, 30), np.uint8)
    lab[5:15, 5:20] = 2
    path = tmp_path / "lm" / "a.json"
    write_labelme(path, lab, BELT, image)
    data = json.loads(path.read_text())
    assert data["imageData"] is not None and data["imagePath"] == f"../img/{image.name}"
    shown = labelme_image(path)
    assert shown.dtype == np.uint8 and shown.shape == (20, 30, 3)
    assert np.array_equal(shown, read_image(image))          # what the app labelled, 8-bit RGB
    assert np.array_equal(labelme2voc_png(path, labelme_labels_txt(BELT)), lab)
    plain = tmp_path / "img" / "b.png"
    Image.fromarray(rgb).save(plain)
    assert write_labelme(tmp_path / "lm" / "b.json", lab, BELT, plain)["imageData"] is None   # opens: not embedded


def test_real_labelme_rasterises_the_export_exactly(tmp_path):
    """The same checks with the labelme package itself (runs where labelme is installed): exact classes,
    instances that fit 8 bits, embedded images."""
    labelme = pytest.importorskip("labelme", exc_type=ImportError)
    for lab in (_nested_scene(), read_label_png(RESOURCES / "samples_gt" / "belt_04.png"), _speckled()[0]):
        path, txt = _export(tmp_path, lab)
        ids = labels_txt_ids(txt)
        label_file = labelme.LabelFile(filename=str(path))
        cls, ins = labelme.utils.shapes_to_label(img_shape=lab.shape, shapes=label_file.shapes,
                                                 label_name_to_value=ids)
        assert np.array_equal(cls.astype(np.uint8), lab)
        assert ins.max() <= 255


def test_real_x_anylabeling_loads_the_export(tmp_path):
    """X-AnyLabeling's own reader (where installed, with its PyQt6): the files load, specks and all."""
    label_file = pytest.importorskip("anylabeling.views.labeling.label_file", exc_type=ImportError)
    for lab in (_speckled()[0], read_label_png(RESOURCES / "samples_gt" / "belt_10.png")):
        path, _ = _export(tmp_path, lab)
        loaded = label_file.LabelFile(str(path), image_dir=str(tmp_path / "img"))
        assert {s.shape_type for s in loaded.shapes} == {"polygon"}
        assert len(loaded.shapes) == len(json.loads(path.read_text())["shapes"])


def test_a_polygon_cut_to_the_canvas_rows_draws_the_same_pixels():
    """polygon_mask drops runs of vertices wholly above or below its canvas; on random self-crossing polygons and
    small canvases anywhere over them the pixels are PIL's for the whole polygon."""
    from PIL import Image, ImageDraw

    from engine.io.labelme_shapes import polygon_mask

    rng = np.random.default_rng(7)
    for _ in range(300):
        poly = rng.integers(0, 120, (int(rng.integers(9, 60)), 2))
        h, w = int(rng.integers(1, 25)), int(rng.integers(1, 25))
        x0, y0 = int(rng.integers(-10, 120)), int(rng.integers(-10, 120))
        canvas = Image.new("L", (w, h), 0)
        ImageDraw.Draw(canvas).polygon(xy=(poly - (x0, y0)).ravel().tolist(), outline=1, fill=1)
        whole = np.asarray(canvas).astype(bool)
        assert np.array_equal(polygon_mask(poly, h, w, x0, y0), whole)


def test_a_keyhole_slit_starts_at_the_vertex_a_full_search_finds():
    """_splice looks for the hole's nearest polygon vertex among those near the hole first; the vertex it takes
    (the first at the least Chebyshev distance) and the polygon it makes are the full search's."""
    from engine.io.labelme_shapes import _dedupe, _splice

    rng = np.random.default_rng(3)
    for _ in range(200):
        poly = rng.integers(0, 400, (int(rng.integers(3, 80)), 2))
        hole = rng.integers(0, 400, (int(rng.integers(3, 12)), 2)) // int(rng.integers(1, 8))
        d = np.abs(poly[:, None, :] - hole[None, :, :]).max(axis=2)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        ring = np.concatenate([hole[j:], hole[:j + 1]])
        expected = _dedupe(np.concatenate([poly[:i + 1], ring, poly[i:]]))
        cut, (x0, y0, x1, y1) = _splice(poly, hole)
        assert np.array_equal(cut, expected)
        assert (x0, y0) == tuple(np.minimum(hole.min(axis=0), poly[i])) and \
            (x1, y1) == tuple(np.maximum(hole.max(axis=0), poly[i]))


def test_a_hole_is_cut_by_rasterising_its_box_only(monkeypatch):
    """A region with many holes whose all-at-once keyhole is not exact cuts them one at a time; each cut is checked
    on its hole's and slit's box (not the region's: 576 holes on a 2570 x 2000 region took 28 s of a 12 MP
    export), and what the polygon paints afterwards is what PIL paints for it over the whole region."""
    from engine.io import labelme_shapes as ls

    own = np.ones((120, 160), bool)
    rng = np.random.default_rng(5)
    for _ in range(30):                      # square holes of 2-5 px, some touching diagonally (interlocked)
        y, x, s = int(rng.integers(4, 110)), int(rng.integers(4, 150)), int(rng.integers(2, 6))
        own[y:y + s, x:x + s] = False
    own[50:52, 60:62] = False
    own[52:54, 62:64] = False                # two holes joined at a corner: one keyhole for all cannot be exact
    region = ls._Region(1, 0, 0, own)
    outer, holes = ls._contours(own)
    assert len(holes) > 10
    every = outer
    for hole in holes:
        every = ls._splice(every, hole)[0]
    assert ls._fits(every, own, own) is None       # so _trace cuts them one at a time
    canvases = []
    real = ls.polygon_mask
    monkeypatch.setattr(ls, "polygon_mask", lambda p, h, w, dx=0, dy=0: canvases.append(h * w) or real(p, h, w, dx, dy))
    poly, painted = outer, ls._fits(outer, own, np.ones_like(own))
    for hole in holes:
        cut_before = canvases.copy()
        poly, painted = ls._cut_if_exact(poly, hole, own, painted)
        assert max(canvases[len(cut_before):]) < own.size / 4    # the hole's box, not the region's
    assert np.array_equal(real(poly, *own.shape), painted)      # the box-merged result is the whole polygon's
    assert (painted & own).sum() == own.sum() and (~own & ~painted).sum() > 0   # holes were cut out
    ls._trace(region)
    assert region.points is not None and np.array_equal(region.paints, real(region.points, *own.shape))
