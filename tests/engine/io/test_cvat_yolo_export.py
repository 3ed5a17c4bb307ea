"""CVAT "Segmentation mask 1.1" and YOLO-seg exports: the layouts CVAT and Ultralytics define, read back with
their published rules (tests/support: datumaro's label map and colour decoding, Ultralytics' label checks) and
with datumaro itself where it is installed."""
import zipfile

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.folder.dataset import CLASS_NAMES_FILE, Dataset
from engine.io.cvat_export import cvat_labels
from engine.io.dataset_export import export_cvat_masks, export_yolo_seg
from engine.io.labels import write_class_names, write_label_png
from engine.io.voc_export import split_names
from engine.io.yolo_export import yolo_polygons
from engine.labels import VOID, ClassList, voc_palette
from tests.support.datumaro_port import parse_label_map, read_mask
from tests.support.ultralytics_port import check_data_yaml, img2label_path, read_segments

CLASSES = ClassList(("belt", "paper", "can"), ((0, 0, 0), (200, 0, 0), (200, 0, 0)))   # black, and a shared colour


def _scene(k: int) -> np.ndarray:
    lab = np.zeros((40, 60), np.uint8)
    lab[5:30, 5:30] = 1                          # paper with a can inside (a hole for YOLO)
    lab[12:20, 12:20] = 2
    cv2.circle(lab, (45, 20 + k), 8, 2, -1)
    lab[35, 50] = 1                              # a speck
    lab[0:2, 55:60] = VOID
    return lab


def _folder(tmp_path, n=5, classes=CLASSES):
    folder = tmp_path / "imgs"
    (folder / "labels").mkdir(parents=True)
    rng = np.random.default_rng(0)
    saved = {}
    for i in range(n):
        name = f"im{i}"
        Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(
            folder / f"{name}{'.jpg' if i == 0 else '.png'}")
        saved[name] = _scene(i)
        write_label_png(folder / "labels" / f"{name}.png", saved[name], classes)
    write_class_names(folder / "labels" / CLASS_NAMES_FILE, classes)
    return folder, saved


def _check_cvat(root, saved):
    """CVAT's layout; every mask decodes by the label map's colours to the labels, void as background."""
    label_map = parse_label_map(root / "labelmap.txt")
    names = list(label_map)
    assert names == ["background", "belt", "paper", "can"]
    assert label_map["background"] == (0, 0, 0)
    assert len(set(label_map.values())) == 4                 # black belt and the shared colour got free colours
    assert (root / "ImageSets" / "Segmentation" / "default.txt").read_text().split() == sorted(saved)
    for name, lab in saved.items():
        got = read_mask(root / "SegmentationClass" / f"{name}.png", label_map)
        want = lab.astype(int) + 1
        want[lab == VOID] = 0
        assert np.array_equal(got, want)
        objects = np.array(Image.open(root / "SegmentationObject" / f"{name}.png").convert("RGB"))
        inst_colours = {tuple(v): i for i, v in enumerate(voc_palette(256).tolist())}
        inst = np.vectorize(lambda r, g, b: inst_colours[(r, g, b)])(*np.moveaxis(objects, 2, 0))
        assert (inst[lab == VOID] == 0).all()
        for c in (0, 1, 2):                                    # one instance per class present
            assert len(np.unique(inst[lab == c])) == 1 and inst[lab == c][0] > 0
        assert len(np.unique(inst[lab != VOID])) == 3


def test_cvat_mask_folder_and_zip(tmp_path):
    folder, saved = _folder(tmp_path)
    summary = export_cvat_masks(Dataset(folder), CLASSES, tmp_path / "cvat")
    assert summary.startswith("5 images")
    _check_cvat(tmp_path / "cvat", saved)
    assert not list((tmp_path / "cvat").glob("JPEGImages"))   # masks only
    export_cvat_masks(Dataset(folder), CLASSES, tmp_path / "out" / "masks.zip")
    with zipfile.ZipFile(tmp_path / "out" / "masks.zip") as zf:
        assert "labelmap.txt" in zf.namelist() and "ImageSets/Segmentation/default.txt" in zf.namelist()
        zf.extractall(tmp_path / "unzipped")
    _check_cvat(tmp_path / "unzipped", saved)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["masks.zip"]   # no temporary file left


def test_cvat_keeps_a_background_class_and_its_colour():
    lines, lut = cvat_labels(ClassList(("background", "cat"), ((0, 0, 0), (1, 2, 3))))
    assert lines == [("background", (0, 0, 0)), ("cat", (1, 2, 3))]
    assert tuple(lut[VOID]) == (0, 0, 0) and tuple(lut[1]) == (1, 2, 3)


def test_real_datumaro_imports_the_cvat_export(tmp_path):
    dm = pytest.importorskip("datumaro", exc_type=ImportError)
    from datumaro.components.annotation import AnnotationType
    folder, saved = _folder(tmp_path)
    export_cvat_masks(Dataset(folder), CLASSES, tmp_path / "cvat")
    ds = dm.Dataset.import_from(str(tmp_path / "cvat"), "voc_segmentation")
    assert [c.name for c in ds.categories()[AnnotationType.label]] == ["background", "belt", "paper", "can"]
    for item in ds:
        got = np.zeros(saved[item.id].shape, int)
        for ann in item.annotations:
            if ann.type == AnnotationType.mask:
                got[ann.image.astype(bool)] = ann.label
        want = saved[item.id].astype(int) + 1
        want[saved[item.id] == VOID] = 0
        assert np.array_equal(got, want)
    assert sorted(item.id for item in ds) == sorted(saved)


def test_yolo_seg_layout_and_polygons(tmp_path):
    yaml = pytest.importorskip("yaml")
    classes = ClassList(("belt", "paper", "can"))
    folder, saved = _folder(tmp_path, classes=classes)
    out = tmp_path / "yolo"
    summary = export_yolo_seg(Dataset(folder), classes, out, val_fraction=0.4, seed=2)
    split = split_names(saved, 0.4, 2)
    assert f"(train {len(split.train)}, val {len(split.val)}, seed 2)" in summary
    assert "5 specks under 3 outline points dropped" in summary            # one 1-pixel paper speck per image
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert check_data_yaml(data) == {0: "belt", 1: "paper", 2: "can"}
    assert data["path"] == str(out.resolve()) and data["train"] == "images/train" and data["val"] == "images/val"
    for part, names in (("train", split.train), ("val", split.val)):
        for name in names:
            image = next((out / "images" / part).glob(f"{name}.*"))
            with Image.open(image) as im:
                assert im.size == (60, 40)
            segments = read_segments(img2label_path(image), len(data["names"]))
            lab = saved[name]
            # Ultralytics' own converter: outer outlines per class; filled back they cover each class's pixels
            # except the speck, and the can inside the paper is its own polygon
            assert sorted(c for c, _ in segments) == [0, 1, 2, 2]
            for c in (0, 1, 2):
                filled = np.zeros(lab.shape, np.uint8)
                for k, pts in segments:
                    if k == c:
                        cv2.fillPoly(filled, [np.rint(pts * (60, 40)).astype(np.int32)], 1)
                want = lab == c
                want[35, 50] = want[35, 50] and c != 1
                assert (filled.astype(bool) | ~want).all()       # every pixel of the class is inside
    assert (out / "images" / split_of(split, "im0") / "im0.jpg").read_bytes() == (folder / "im0.jpg").read_bytes()


def split_of(split, name):
    return "val" if name in split.val else "train"


def test_yolo_skips_background_void_and_specks():
    lab = np.zeros((10, 10), np.uint8)
    lab[2:6, 2:6] = 1
    lab[8, 8] = 1
    lab[0, 0] = VOID
    polygons, dropped = yolo_polygons(lab, ClassList(("background", "x")))
    assert [c for c, _ in polygons] == [1] and dropped == 1
    polygons, _ = yolo_polygons(lab, ClassList(("floor", "x")))
    assert sorted(c for c, _ in polygons) == [0, 1]


def test_real_ultralytics_loads_the_yolo_export(tmp_path, monkeypatch):
    """Ultralytics itself (where installed): data.yaml resolves, no label file is corrupt, every polygon counts."""
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "settings"))      # its settings file, if imported here
    pytest.importorskip("ultralytics", exc_type=ImportError)
    import ultralytics.data.utils as yolo_utils
    from ultralytics.data.dataset import YOLODataset
    monkeypatch.setattr(yolo_utils, "check_font", lambda *a, **k: None)    # it would download a font
    classes = ClassList(("belt", "paper", "can"))
    folder, saved = _folder(tmp_path, classes=classes)
    out = tmp_path / "yolo"
    export_yolo_seg(Dataset(folder), classes, out)
    data = yolo_utils.check_det_dataset(str(out / "data.yaml"))
    assert data["names"] == {0: "belt", 1: "paper", 2: "can"}
    n = 0
    for part in ("train", "val"):
        ds = YOLODataset(img_path=data[part], data=data, task="segment", augment=False, imgsz=64, cache=False)
        n += len(ds.labels)
        assert all(len(label["segments"]) == 4 for label in ds.labels)   # belt, paper, two cans
    assert n == len(saved)


def test_yolo_takes_image_names_with_spaces_that_voc_and_cvat_refuse(tmp_path):
    """A walk's 'Flasche grün 01.jpg' refused the whole YOLO-seg export, for list files it never writes:
    Ultralytics finds labels/<part>/<name>.txt beside images/<part>/<name>.<ext>. VOC and CVAT write image set
    lists, split at spaces, and still refuse such a name."""
    from engine.errors import LabelIOError
    from engine.io.dataset_export import export_voc

    classes = ClassList(("belt", "paper", "can"))
    folder, saved = _folder(tmp_path, n=2, classes=classes)
    (folder / "im1.png").rename(folder / "Flasche grün 01.png")
    (folder / "labels" / "im1.png").rename(folder / "labels" / "Flasche grün 01.png")
    out = tmp_path / "yolo"
    export_yolo_seg(Dataset(folder), classes, out, val_fraction=0.0, seed=0)
    image = out / "images" / "train" / "Flasche grün 01.png"
    assert image.is_file()
    segments = read_segments(img2label_path(image), 3)
    assert sorted(c for c, _ in segments) == [0, 1, 2, 2]
    for export in (export_voc, export_cvat_masks):
        with pytest.raises(LabelIOError, match="it has a space"):
            export(Dataset(folder), classes, tmp_path / export.__name__)


def test_yolo_writes_a_16_bit_png_as_the_app_shows_it_as_it_does_a_16_bit_tiff(tmp_path):
    """A walk: a 16-bit RGB PNG was copied as it is (PIL opens it as 'RGB'), while the same picture as a 16-bit
    TIFF was written as the 8-bit image the app shows. Both are written as the app shows them now."""
    from engine.io.images import read_image

    classes = ClassList(("belt", "paper", "can"))
    folder, saved = _folder(tmp_path, n=2, classes=classes)
    deep = (np.random.default_rng(1).integers(0, 4096, (40, 60, 3))).astype(np.uint16)
    (folder / "im1.png").unlink()
    cv2.imwrite(str(folder / "im1.png"), deep)
    out = tmp_path / "yolo"
    export_yolo_seg(Dataset(folder), classes, out, val_fraction=0.0, seed=0)
    written = out / "images" / "train" / "im1.png"
    with Image.open(written) as img:
        assert not any(";16" in str(t.args) for t in img.tile) and img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(Image.open(written)), read_image(folder / "im1.png"))
