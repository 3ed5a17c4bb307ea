"""VOC dataset export: the layout VOC loaders read, indexed label PNGs equal to the saved labels, a seeded
split that is the same on every run, and the headless `export` subcommand on a saved folder."""
import numpy as np
import pytest
from PIL import Image

from engine.cli import main as cli_main
from engine.errors import LabelIOError
from engine.folder.dataset import CLASS_NAMES_FILE, Dataset
from engine.io.dataset_export import export_voc, saved_class_list
from engine.io.labels import read_label_palette, read_label_png, write_class_names, write_label_png
from engine.io.voc_export import VocItem, split_names, voc_labelmap, write_voc
from engine.labels import VOID, ClassList
from tests.support.datumaro_port import parse_label_map, read_mask

CLASSES = ClassList(("belt", "paper", "can"), ((10, 20, 30), (200, 0, 0), (0, 0, 200)))


def _folder(tmp_path, n=5):
    """n images (PNG, and one upright JPEG) with saved labels, the way the app leaves a folder."""
    folder = tmp_path / "imgs"
    (folder / "labels").mkdir(parents=True)
    rng = np.random.default_rng(1)
    saved = {}
    for i in range(n):
        rgb = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
        suffix = ".jpg" if i == 0 else ".png"
        Image.fromarray(rgb).save(folder / f"im{i}{suffix}")
        if i == n - 1:
            continue                      # one image never saved: not exported
        lab = rng.integers(0, 3, (12, 16)).astype(np.uint8)
        lab[0, :3] = VOID
        write_label_png(folder / "labels" / f"im{i}.png", lab, CLASSES)
        saved[f"im{i}"] = lab
    write_class_names(folder / "labels" / CLASS_NAMES_FILE, CLASSES)
    return folder, saved


def test_voc_layout_labels_and_split(tmp_path):
    folder, saved = _folder(tmp_path)
    out = tmp_path / "voc"
    summary = export_voc(Dataset(folder), CLASSES, out, val_fraction=0.25, seed=3)
    assert summary == "4 images (train 3, val 1, seed 3)"
    sets = out / "ImageSets" / "Segmentation"
    train, val = (sets / "train.txt").read_text().split(), (sets / "val.txt").read_text().split()
    assert sorted(train + val) == sorted(saved) == (sets / "trainval.txt").read_text().split()
    assert not set(train) & set(val) and len(val) == 1
    for name, lab in saved.items():
        png = out / "SegmentationClass" / f"{name}.png"
        with Image.open(png) as im:
            assert im.mode == "P"
        assert np.array_equal(read_label_png(png), lab)
        assert read_label_palette(png)[1].tolist() == [200, 0, 0]
        with Image.open(out / "JPEGImages" / f"{name}.jpg") as im:
            assert im.format == "JPEG" and im.size == (16, 12)
    src = next(folder.glob("im0.jpg"))
    assert (out / "JPEGImages" / "im0.jpg").read_bytes() == src.read_bytes()   # an upright JPEG is copied as is
    assert (out / "class_names.txt").read_text().split("\n")[:3] == ["belt", "paper", "can"]


def test_split_is_seeded_and_stable():
    names = [f"n{i}" for i in range(20)]
    a = split_names(names, 0.3, seed=7)
    assert a == split_names(list(reversed(names)), 0.3, seed=7)      # order of discovery does not matter
    assert len(a.val) == 6 and len(a.train) == 14
    assert split_names(names, 0.3, seed=8) != a
    assert split_names(["x", "y"], 0.01).val != ()                   # at least one val image
    assert split_names(["x"], 0.5).val == ()
    with pytest.raises(ValueError):
        split_names(names, 1.0)


def test_bad_items_are_refused(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(LabelIOError, match="labels are 5x5"):
        write_voc(tmp_path / "voc", [VocItem("a", tmp_path / "a.png", np.zeros((5, 5), np.uint8))], CLASSES)
    with pytest.raises(LabelIOError, match="cannot hold the name"):
        write_voc(tmp_path / "voc", [VocItem("a b", tmp_path / "a.png", np.zeros((4, 4), np.uint8))], CLASSES)


def test_headless_export_subcommand(tmp_path, capsys):
    folder, saved = _folder(tmp_path)
    assert saved_class_list(Dataset(folder)) == CLASSES       # names from class_names.txt, colours from a PNG
    assert cli_main(["export", "voc", str(folder), "--out", str(tmp_path / "v"), "--seed", "1"]) == 0
    assert "train 3, val 1, seed 1" in capsys.readouterr().out
    assert cli_main(["export", "labelme", str(folder), "--out", str(tmp_path / "lm")]) == 0
    assert (tmp_path / "lm" / "labels.txt").read_text().startswith("__ignore__\n_background_\npaper\n")
    assert len(list((tmp_path / "lm").glob("*.json"))) == 4
    assert cli_main(["export", "coco", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c.json")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_labelmap_declares_every_colour_so_datumaro_reads_the_masks(tmp_path):
    """The issue: datumaro stopped at 'Undeclared color' without labelmap.txt; void needs its own line."""
    folder, saved = _folder(tmp_path)
    out = tmp_path / "voc"
    export_voc(Dataset(folder), CLASSES, out)
    text = (out / "labelmap.txt").read_text()
    assert text.splitlines() == ["# label:color_rgb:parts:actions", "belt:10,20,30::", "paper:200,0,0::",
                                 "can:0,0,200::", "ignored:224,224,192::"]
    label_map = parse_label_map(out / "labelmap.txt")
    for name, lab in saved.items():
        got = read_mask(out / "SegmentationClass" / f"{name}.png", label_map)
        want = lab.astype(int)
        want[lab == VOID] = list(label_map).index("ignored")
        assert np.array_equal(got, want)
    with pytest.raises(KeyError, match="Undeclared color"):      # what datumaro said before
        read_mask(out / "SegmentationClass" / "im1.png", {"background": (0, 0, 0)})


def test_labelmap_names_void_apart_and_warns_of_shared_colours(tmp_path):
    classes = ClassList(("ignored", "a", "b"), ((1, 1, 1), (5, 5, 5), (5, 5, 5)))
    text, clashes = voc_labelmap(classes)
    assert text.splitlines()[-1] == "void:224,224,192::" and clashes == ["'a' and 'b' share the colour (5, 5, 5)"]
    folder, _ = _folder(tmp_path)
    write_class_names(folder / "labels" / CLASS_NAMES_FILE, classes)
    summary = export_voc(Dataset(folder), classes, tmp_path / "voc")
    assert "warning: 'a' and 'b' share the colour (5, 5, 5)" in summary
    with pytest.raises(ValueError, match="holds ':'"):
        voc_labelmap(ClassList(("bg", "a:b")))


def test_real_datumaro_imports_the_voc_export(tmp_path):
    """datumaro itself (where installed): every mask decodes to the saved labels."""
    dm = pytest.importorskip("datumaro", exc_type=ImportError)
    from datumaro.components.annotation import AnnotationType
    folder, saved = _folder(tmp_path)
    out = tmp_path / "voc"
    export_voc(Dataset(folder), CLASSES, out)
    ds = dm.Dataset.import_from(str(out), "voc_segmentation")
    names = [c.name for c in ds.categories()[AnnotationType.label]]
    assert names == ["belt", "paper", "can", "ignored"]
    seen = set()
    for item in ds:
        got = np.full(saved[item.id].shape, -1)
        for ann in item.annotations:
            if ann.type == AnnotationType.mask:
                got[ann.image.astype(bool)] = ann.label
        want = saved[item.id].astype(int)
        want[want == VOID] = 3
        assert np.array_equal(got, want)
        seen.add(item.id)
    assert seen == set(saved)


def test_exports_show_a_float_image_with_the_folders_scaling(tmp_path):
    """A float TIFF exported to VOC, YOLO-seg and labelme is written as the app shows it: the folder's bands and
    scaling (labels/project.json), not the default stretch."""
    import io as _io

    import tifffile
    from PIL import Image

    from engine.folder.dataset import Dataset
    from engine.io.dataset_export import EXPORTERS
    from engine.io.images import read_image
    from engine.io.labels import write_class_names, write_label_png
    from engine.io.scaling import ImageScaling
    from engine.labels import ClassList

    folder = tmp_path / "site"
    folder.mkdir()
    values = np.linspace(0, 1000, 40 * 50, dtype=np.float32).reshape(40, 50)
    tifffile.imwrite(folder / "scan.tif", values)
    classes = ClassList(("background", "thing"))
    write_label_png(folder / "labels" / "scan.png", (values > 500).astype(np.uint8), classes)
    write_class_names(folder / "labels" / "class_names.txt", classes)
    dataset = Dataset(folder)
    fixed = ImageScaling(mode="fixed", range=(0.0, 4000.0))
    dataset.set_image_settings(fixed)
    shown = read_image(folder / "scan.tif", scaling=fixed)
    assert shown.max() < 80                                   # the default stretch would reach 255
    EXPORTERS["voc"](Dataset(folder), classes, tmp_path / "voc")
    jpeg = np.asarray(Image.open(tmp_path / "voc" / "JPEGImages" / "scan.jpg").convert("RGB"))
    assert np.abs(jpeg.astype(int) - shown.astype(int)).max() <= 8
    EXPORTERS["yolo-seg"](Dataset(folder), classes, tmp_path / "yolo")
    png = next((tmp_path / "yolo" / "images").rglob("scan.*"))
    np.testing.assert_array_equal(np.asarray(Image.open(png).convert("RGB")), shown)
    EXPORTERS["labelme"](Dataset(folder), classes, tmp_path / "lm")
    import base64
    import json
    data = json.loads((tmp_path / "lm" / "scan.json").read_text())
    embedded = np.asarray(Image.open(_io.BytesIO(base64.b64decode(data["imageData"]))).convert("RGB"))
    np.testing.assert_array_equal(embedded, shown)
