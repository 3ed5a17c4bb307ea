"""engine.folder.imports: classes matched by name (new ones added, the rest asked for), images matched by name,
hand labels never overwritten without force, imported labels saved as hand labels that training learns from."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from engine.annotate.status import Status
from engine.folder.dataset import Dataset
from engine.folder.imports import match_classes, plan_import, run_import
from engine.io.imports import read_labelme
from engine.io.labels import read_label_png
from engine.io.provenance import ORIGIN_HAND, ORIGIN_MACHINE, make_provenance, read_provenance
from engine.labels import VOID, ClassList
from engine.batch.plan import plan_folder
from engine.batch.settings import PrelabelSettings
from engine.learn.saved import load_checked, saved_images
from engine.project import FolderClasses
from engine.project.errors import ClassEditError

H, W = 30, 40
SQUARE = [[2, 2], [20, 2], [20, 20], [2, 20]]


def make_folder(tmp_path, names=("a", "b", "c")):
    folder = tmp_path / "images"
    folder.mkdir()
    for n in names:
        Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(folder / f"{n}.png")
    return folder


def labelme(tmp_path, files: dict[str, list[tuple[str, list]]]):
    src = tmp_path / "labelme"
    src.mkdir()
    for stem, shapes in files.items():
        doc = {"version": "5.4.1", "flags": {}, "imagePath": f"{stem}.png", "imageData": None, "imageHeight": H,
               "imageWidth": W, "shapes": [{"label": lab, "points": pts, "shape_type": "polygon", "flags": {},
                                            "group_id": None} for lab, pts in shapes]}
        (src / f"{stem}.json").write_text(json.dumps(doc))
    return read_labelme(src)


def with_classes(folder, names):
    ds = Dataset(folder)
    ds.project.set_classes(FolderClasses.from_names(names))
    ds.project.write()
    return Dataset(folder)


def test_names_match_whatever_the_case_and_separators_near_misses_are_suggested():
    folder = FolderClasses.from_names(["background", "plastic bottle", "dog"])
    classes, targets, added, unmatched = match_classes(["Plastic_Bottle", "DOG", "dgo", "_background_"], folder)
    assert targets == {"Plastic_Bottle": 1, "DOG": 2, "_background_": 0}
    assert unmatched == {"dgo": ["dog"]} and added == [] and classes == folder
    classes, targets, added, unmatched = match_classes(["DOG", "dgo", "cat"], folder, {"dgo": "dog", "cat": "void"})
    assert targets == {"DOG": 2, "dgo": 2, "cat": None} and not unmatched
    classes, targets, added, _ = match_classes(["dog", "cat"], folder, add_new=True)
    assert added == ["cat"] and classes.names == ("background", "plastic bottle", "dog", "cat") and targets["cat"] == 3
    with pytest.raises(ClassEditError, match="no class 'horse'"):
        match_classes(["dog"], folder, {"dog": "horse"})
    with pytest.raises(ClassEditError, match="does not use"):
        match_classes(["dog"], folder, {"cow": "dog"})


def test_labelme_background_is_class_0_when_the_folder_has_no_background_class():
    folder = FolderClasses.from_names(["belt", "paper"])
    _, targets, _, unmatched = match_classes(["_background_", "paper"], folder)
    assert targets == {"_background_": 0, "paper": 1} and not unmatched


def test_labelme_files_into_a_fresh_folder_export_back_with_every_name(tmp_path):
    """A walk imported labelme files (no labels.txt) into a folder without classes: the first label drawn, 'paper',
    became class 0, which the labelme export writes as labelme's _background_: 'paper' was gone from labels.txt and
    from every JSON. Class 0 is kept for labelme's background now."""
    from engine.io.dataset_export import export_labelme
    folder = make_folder(tmp_path)
    source = labelme(tmp_path, {"a": [("paper", SQUARE), ("can", [[10, 10], [30, 10], [30, 25]])]})
    ds = Dataset(folder)
    run_import(ds, plan_import(ds, source))
    again = Dataset(folder)
    out = tmp_path / "lm"
    export_labelme(again, again.project.classes.class_list(), out)
    lines = (out / "labels.txt").read_text().split()
    assert lines[:2] == ["__ignore__", "_background_"] and {"paper", "can"} <= set(lines)
    shapes = json.loads((out / "a.json").read_text())["shapes"]
    assert {s["label"] for s in shapes} >= {"paper", "can"}


def test_a_folder_without_classes_takes_the_sources_and_the_labels_are_saved_hand_labels(tmp_path):
    folder = make_folder(tmp_path)
    source = labelme(tmp_path, {"a": [("cat", SQUARE)], "b": [("dog", SQUARE), ("cat", [[10, 10], [30, 10], [30, 25]])],
                                "zzz": [("cat", SQUARE)]})
    ds = Dataset(folder)
    plan = plan_import(ds, source)
    # labelme's id 0 is its background: kept for it, so the labelme export writes 'cat' back as 'cat'
    assert plan.classes.names == ("background", "cat", "dog") and plan.added == ["background", "cat", "dog"]
    assert plan.not_found == ["zzz.png"] and [j.index for j in plan.jobs] == [0, 1]
    seen = []
    result = run_import(ds, plan, progress=lambda d, t, n: seen.append((d, t, n)))
    assert result.imported == ["a.png", "b.png"] and not result.errors and seen[-1] == (2, 2, "b.png")
    labels = read_label_png(folder / "labels" / "a.png")
    assert labels.shape == (H, W) and labels[10, 10] == 1 and labels[25, 35] == VOID
    record = read_provenance(folder / "labels" / "a.png")
    assert record.origin == ORIGIN_HAND and record.edited_pixels == H * W and record.model_name == ""
    assert record.label_file_sha256 == hashlib.sha256((folder / "labels" / "a.png").read_bytes()).hexdigest()
    again = Dataset(folder)
    assert [again.status(i) for i in range(3)] == [Status.SAVED, Status.SAVED, Status.NEW]
    assert again.project.classes.names == ("background", "cat", "dog")
    assert [s.name for s in saved_images(folder)] == ["a.png", "b.png"]   # "Train on saved labels" takes them
    pairs = load_checked(saved_images(folder), 3)
    assert [lab.shape for _, lab in pairs] == [(H, W), (H, W)]
    prelabel = plan_folder(again, None, PrelabelSettings(crf_params=None))     # pre-labelling leaves them alone
    assert [item.name for item in prelabel.todo] == ["c.png"]
    assert {item.name for item, why in prelabel.kept if "saved by hand" in why} == {"a.png", "b.png"}


def test_saved_hand_labels_are_kept_unless_forced_machine_labels_are_replaced(tmp_path):
    folder = make_folder(tmp_path)
    ds = with_classes(folder, ["cat", "dog"])
    mine = np.full((H, W), 1, np.uint8)
    ds.save(0, mine, ds.project.class_list(), provenance=make_provenance(mine, np.ones((H, W), bool), "a.png"))
    machine = np.zeros((H, W), np.uint8)
    ds.save(1, machine, ds.project.class_list(),
            provenance=make_provenance(machine, np.zeros((H, W), bool), "b.png", origin=ORIGIN_MACHINE))
    source = labelme(tmp_path, {"a": [("cat", SQUARE)], "b": [("cat", SQUARE)], "c": [("cat", SQUARE)]})
    ds = Dataset(folder)
    plan = plan_import(ds, source, protect={"c.png"})
    assert [ds.entries[j.index].path.name for j in plan.jobs] == ["b.png"] and plan.jobs[0].replaces == "machine"
    assert plan.hand_saved == ["a.png"] and "unsaved edits" in dict(plan.kept)["c.png"]
    result = run_import(ds, plan)
    assert result.replaced == ["b.png"]
    assert np.array_equal(read_label_png(folder / "labels" / "a.png"), mine)           # untouched
    assert read_provenance(folder / "labels" / "b.png").origin == ORIGIN_HAND
    forced = plan_import(Dataset(folder), source, force=True)
    assert [j.replaces for j in forced.jobs] == ["hand", "hand", ""]
    run_import(Dataset(folder), forced)
    assert read_label_png(folder / "labels" / "a.png")[10, 10] == 0


def test_unmatched_classes_stop_the_run_until_decided_and_unlabelled_can_take_a_class(tmp_path):
    folder = make_folder(tmp_path, ["a"])
    with_classes(folder, ["background", "dog"])
    source = labelme(tmp_path, {"a": [("dgo", SQUARE)]})
    plan = plan_import(Dataset(folder), source)
    assert plan.unmatched == {"dgo": ["dog"]}
    with pytest.raises(ClassEditError, match="dgo"):
        run_import(Dataset(folder), plan)
    assert not (folder / "labels" / "a.png").exists()
    plan = plan_import(Dataset(folder), source, mapping={"dgo": "dog"}, unlabelled="background")
    run_import(Dataset(folder), plan)
    labels = read_label_png(folder / "labels" / "a.png")
    assert labels[10, 10] == 1 and labels[25, 35] == 0 and VOID not in labels
    with pytest.raises(ClassEditError, match="--unlabelled"):
        plan_import(Dataset(folder), source, mapping={"dgo": "dog"}, unlabelled="sky")


def test_new_classes_are_added_to_the_folder_list_with_the_labels(tmp_path):
    folder = make_folder(tmp_path, ["a"])
    with_classes(folder, ["background", "dog"])
    source = labelme(tmp_path, {"a": [("Cat", SQUARE), ("DOG", [[25, 5], [35, 5], [35, 15]])]})
    plan = plan_import(Dataset(folder), source, add_new=True)
    assert plan.added == ["Cat"] and plan.targets == {"Cat": 2, "DOG": 1}
    run_import(Dataset(folder), plan)
    ds = Dataset(folder)
    assert ds.project.classes.names == ("background", "dog", "Cat")
    assert (folder / "labels" / "class_names.txt").read_text().splitlines() == ["0 background", "1 dog", "2 Cat"]
    labels = read_label_png(folder / "labels" / "a.png")
    assert labels[10, 10] == 2 and labels[7, 30] == 1


def test_one_bad_annotation_fails_its_image_only(tmp_path):
    folder = make_folder(tmp_path, ["a", "b"])
    source = labelme(tmp_path, {"a": [("cat", [[1e30, 0], [5, 5], [0, 9]])], "b": [("cat", SQUARE)]})
    ds = Dataset(folder)
    result = run_import(ds, plan_import(ds, source))
    assert result.imported == ["b.png"]
    (name, why), = result.errors
    assert name == "a.png" and "far outside" in why
    assert not (folder / "labels" / "a.png").exists()


def test_an_annotation_for_another_size_is_refused_with_both_sizes(tmp_path):
    folder = make_folder(tmp_path, ["a"])
    src = tmp_path / "lm"
    src.mkdir()
    (src / "a.json").write_text(json.dumps({"imagePath": "a.png", "imageHeight": 300, "imageWidth": 400,
                                            "shapes": [{"label": "x", "points": SQUARE, "shape_type": "polygon"}]}))
    ds = Dataset(folder)
    result = run_import(ds, plan_import(ds, read_labelme(src)))
    assert "drawn on a 400x300 image, but the image is 40x30" in result.errors[0][1]


def test_cancel_stops_between_images(tmp_path):
    folder = make_folder(tmp_path)
    source = labelme(tmp_path, {n: [("cat", SQUARE)] for n in "abc"})
    ds = Dataset(folder)
    calls = []
    result = run_import(ds, plan_import(ds, source), should_cancel=lambda: len(calls) >= 1,
                        progress=lambda *a: calls.append(a))
    assert result.cancelled and result.imported == ["a.png"]


def test_class_list_mismatch_is_never_written(tmp_path):
    """The folder's list is the authority: a plan made from another list does not rewrite ids silently."""
    folder = make_folder(tmp_path, ["a"])
    ds = with_classes(folder, ["x", "y"])
    assert ds.project.class_list() == ClassList(("x", "y"), ds.project.class_list().palette)
    source = labelme(tmp_path, {"a": [("y", SQUARE)]})
    run_import(ds, plan_import(ds, source))
    assert read_label_png(folder / "labels" / "a.png")[10, 10] == 1


def test_an_annotation_on_the_stored_pixels_of_an_exif_rotated_photo_is_turned_like_the_image(tmp_path):
    """labelme and the app show the photo upright; a COCO file made by a tool that ignored EXIF declares the
    stored size: its map is turned with the image, so the saved labels fit the image the app and training read."""
    from engine.io.images import read_image
    from engine.io.imports import read_coco

    folder = tmp_path / "photos"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 8   # stored 40 wide x 30 high, shown rotated 90 degrees counter-clockwise: 30 wide x 40 high
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(folder / "p.jpg", exif=exif)
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(folder / "q.jpg", exif=exif)
    doc = {"images": [{"id": 1, "file_name": "p.jpg", "height": H, "width": W},      # the stored frame
                      {"id": 2, "file_name": "q.jpg", "height": W, "width": H}],     # the upright frame
           "categories": [{"id": 1, "name": "mark"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]]},
                           {"id": 2, "image_id": 2, "category_id": 1, "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]]}]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    ds = Dataset(folder)
    result = run_import(ds, plan_import(ds, read_coco(tmp_path / "c.json")))
    assert result.imported == ["p.jpg", "q.jpg"] and not result.errors
    upright = read_image(folder / "p.jpg").shape[:2]
    p, q = read_label_png(folder / "labels" / "p.png"), read_label_png(folder / "labels" / "q.png")
    assert upright == (W, H) and p.shape == q.shape == upright
    assert p[-2, 1] == 0 and p[1, 1] == VOID        # stored top-left -> upright bottom-left (orientation 8)
    assert q[1, 1] == 0 and q[-2, 1] == VOID        # drawn upright: kept as drawn
    assert [s.load()[1].shape for s in saved_images(folder)] == [upright, upright]


def test_the_apps_own_labelme_export_imports_back_pixel_for_pixel(tmp_path):
    """labels.txt beside the JSON files (labelme2voc's: __ignore__, _background_, classes) says unlabelled pixels
    are _background_, our class 0; __ignore__ is void. So export -> import gives the saved labels back."""
    from engine.io.dataset_export import export_labelme

    folder = make_folder(tmp_path, ["a", "b"])
    ds = with_classes(folder, ["belt", "paper", "can"])
    rng = np.random.default_rng(3)
    saved = []
    for i in range(2):
        labels = np.zeros((H, W), np.uint8)
        for _ in range(6):
            y, x, h, w = rng.integers(0, H - 4), rng.integers(0, W - 4), rng.integers(2, 12), rng.integers(2, 12)
            labels[y:y + h, x:x + w] = rng.choice([1, 2, VOID])
        labels[5:8, 5:8] = 0    # a hole of class 0 inside another region
        ds.save(i, labels, ds.project.class_list(), provenance=make_provenance(labels, np.ones((H, W), bool), "x"))
        saved.append(labels)
    export_labelme(ds, ds.project.class_list(), tmp_path / "exported")
    source = read_labelme(tmp_path / "exported")
    assert source.unlabelled == "_background_"
    plan = plan_import(Dataset(folder), source, force=True)
    assert plan.targets["_background_"] == 0 and not plan.unmatched
    result = run_import(Dataset(folder), plan)
    assert result.imported == ["a.png", "b.png"]
    for name, labels in zip(("a", "b"), saved):
        assert np.array_equal(read_label_png(folder / "labels" / f"{name}.png"), labels)
    # into a folder without classes: labels.txt's order gives the same ids (class 0 is labelme's _background_)
    (tmp_path / "fresh").mkdir()
    fresh = make_folder(tmp_path / "fresh", ["a", "b"])
    run_import(Dataset(fresh), plan_import(Dataset(fresh), source))
    assert Dataset(fresh).project.classes.names == ("_background_", "paper", "can")
    assert np.array_equal(read_label_png(fresh / "labels" / "a.png"), saved[0])


def test_classes_labels_txt_declares_but_no_shape_uses_need_no_decision(tmp_path):
    folder = make_folder(tmp_path, ["a"])
    with_classes(folder, ["background", "cat"])
    source = labelme(tmp_path, {"a": [("cat", SQUARE)]})
    (tmp_path / "labelme" / "labels.txt").write_text("__ignore__\n_background_\ncat\nunicorn\n")
    source = read_labelme(tmp_path / "labelme")
    assert source.unused == {"unicorn", "_background_"} and source.unlabelled == "_background_"
    plan = plan_import(Dataset(folder), source)
    assert not plan.unmatched and plan.targets["unicorn"] is None and plan.unlabelled == 0
    run_import(Dataset(folder), plan)
    labels = read_label_png(folder / "labels" / "a.png")
    assert labels[10, 10] == 1 and labels[25, 35] == 0
    plan = plan_import(Dataset(folder), source, force=True, unlabelled="void")
    assert plan.unlabelled is None


def test_a_coco_category_no_annotation_uses_needs_no_decision(tmp_path):
    """A walk: a Roboflow-style file lists {"id": 0, "name": "belt-items"}, used by no annotation: the import into a
    folder with classes stopped ('1 source class(es) match no class of the folder: belt-items')."""
    from engine.io.imports import read_coco
    folder = make_folder(tmp_path, ["a"])
    with_classes(folder, ["belt", "paper"])
    rle = {"size": [H, W], "counts": [0, H * W]}   # the whole image
    (tmp_path / "coco.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "height": H, "width": W}],
        "categories": [{"id": 0, "name": "belt-items", "supercategory": "none"},
                       {"id": 1, "name": "paper", "supercategory": "belt-items"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle, "iscrowd": 1}]}))
    source = read_coco(tmp_path / "coco.json")
    assert source.unused == {"belt-items"}
    plan = plan_import(Dataset(folder), source)
    assert not plan.unmatched and plan.targets["paper"] == 1 and plan.targets["belt-items"] is None
    run_import(Dataset(folder), plan)
    assert (read_label_png(folder / "labels" / "a.png") == 1).all()


def test_the_apps_own_coco_export_imports_back(tmp_path):
    """COCO leaves class 0 (background) out: imported back with --unlabelled naming it, the labels are the same."""
    from engine.io.dataset_export import export_coco
    from engine.io.imports import read_coco

    folder = make_folder(tmp_path, ["a"])
    ds = with_classes(folder, ["belt", "paper", "can"])
    labels = np.zeros((H, W), np.uint8)
    labels[3:20, 4:30], labels[10:25, 20:38], labels[12:15, 8:12] = 1, 2, 0
    ds.save(0, labels, ds.project.class_list(), provenance=make_provenance(labels, np.ones((H, W), bool), "a.png"))
    export_coco(ds, ds.project.class_list(), tmp_path / "coco.json")
    plan = plan_import(Dataset(folder), read_coco(tmp_path / "coco.json"), force=True, unlabelled="belt")
    assert plan.targets == {"belt": 0, "paper": 1, "can": 2}
    run_import(Dataset(folder), plan)
    assert np.array_equal(read_label_png(folder / "labels" / "a.png"), labels)


def test_labels_a_person_saves_while_the_import_runs_win(tmp_path):
    folder = make_folder(tmp_path, ["a", "b"])
    source = labelme(tmp_path, {"a": [("cat", SQUARE)], "b": [("cat", SQUARE)]})
    ds = Dataset(folder)
    plan = plan_import(ds, source)
    mine = np.full((H, W), VOID, np.uint8)
    ds.project.set_classes(plan.classes)
    ds.save(1, mine, ds.project.class_list(), provenance=make_provenance(mine, np.ones((H, W), bool), "b.png"))
    seen = []
    result = run_import(Dataset(folder), plan, progress=lambda *a: seen.append(a))
    assert result.imported == ["a.png"] and result.kept == ["b.png"] and seen[-1] == (2, 2, "b.png")
    assert "kept 1 image(s) saved by hand during the import" in result.message(plan)
    assert np.array_equal(read_label_png(folder / "labels" / "b.png"), mine)


def _saved_scene(tmp_path, names=("belt", "paper", "can"), void=True):
    """A folder with two saved label maps: rectangles of every class, class 0 around them, void where asked."""
    folder = make_folder(tmp_path, ["a", "b"])
    ds = with_classes(folder, list(names))
    saved = []
    for i in range(2):
        labels = np.zeros((H, W), np.uint8)
        labels[3 + i:14, 4:22], labels[12:26, 18 + i:37] = 1, 2
        if void:
            labels[0:2, :] = VOID
        ds.save(i, labels, ds.project.class_list(), provenance=make_provenance(labels, np.ones((H, W), bool), "x"))
        saved.append(labels)
    return folder, saved


def test_the_apps_own_cvat_mask_and_voc_exports_import_back(tmp_path):
    """CVAT masks: class colours come back as names, CVAT's background (what was void) is void again. A VOC
    export has the same layout (labelmap.txt with datumaro's `ignored` void line, indexed PNGs): read the same way."""
    from engine.io.dataset_export import EXPORTERS
    from engine.io.imports import read_cvat_mask

    folder, saved = _saved_scene(tmp_path)
    ds = Dataset(folder)
    for kind, target in (("cvat-mask", tmp_path / "cvat.zip"), ("cvat-mask", tmp_path / "cvat"),
                         ("voc", tmp_path / "voc")):
        EXPORTERS[kind](ds, ds.project.class_list(), target)
        plan = plan_import(Dataset(folder), read_cvat_mask(target), force=True)
        assert not plan.unmatched and [plan.targets[n] for n in ("belt", "paper", "can")] == [0, 1, 2], kind
        result = run_import(Dataset(folder), plan)
        assert result.imported == ["a.png", "b.png"] and not result.errors, (kind, result.errors)
        for name, labels in zip("ab", saved):
            assert np.array_equal(read_label_png(folder / "labels" / f"{name}.png"), labels), (kind, target)


def test_a_cvat_export_into_a_folder_with_no_classes_keeps_its_ids_and_void(tmp_path):
    """A walk imported the app's own CVAT zip on the command line into a folder of bare images: CVAT's black
    'background' (what nobody annotated: the void) became class 0, every class id moved by one and the void came
    back as that class. A folder without classes takes the source's classes, not its 'not annotated' colour."""
    import shutil

    from engine.io.dataset_export import EXPORTERS
    from engine.io.imports import read_cvat_mask

    folder, saved = _saved_scene(tmp_path)
    ds = Dataset(folder)
    EXPORTERS["cvat-mask"](ds, ds.project.class_list(), tmp_path / "cvat.zip")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for image in folder.glob("*.png"):
        shutil.copy(image, fresh / image.name)
    plan = plan_import(Dataset(fresh), read_cvat_mask(tmp_path / "cvat.zip"))
    assert plan.classes.names == ("belt", "paper", "can") and plan.targets["background"] is None
    result = run_import(Dataset(fresh), plan)
    assert result.imported == ["a.png", "b.png"] and not result.errors
    for name, labels in zip("ab", saved):
        assert np.array_equal(read_label_png(fresh / "labels" / f"{name}.png"), labels)


def test_the_apps_own_yolo_seg_export_imports_back_up_to_its_coordinate_rounding(tmp_path):
    """YOLO-seg stores coordinates as 6-decimal fractions, which Ultralytics (and this import) truncate to pixels: a
    border at 13/30 = 0.433333 comes back at row 12.99999 -> 12. So the labels come back except, at most, one
    pixel along a region's border."""
    from engine.io.dataset_export import export_yolo_seg
    from engine.io.imports import read_yolo_seg

    folder, saved = _saved_scene(tmp_path, void=False)
    ds = Dataset(folder)
    export_yolo_seg(ds, ds.project.class_list(), tmp_path / "yolo")
    plan = plan_import(Dataset(folder), read_yolo_seg(tmp_path / "yolo"), force=True)
    assert sorted(j.item.image for j in plan.jobs) == ["a", "b"] and not plan.unmatched
    run_import(Dataset(folder), plan)
    for name, labels in zip("ab", saved):
        got = read_label_png(folder / "labels" / f"{name}.png")
        border = np.zeros_like(labels, bool)
        border[1:] |= labels[1:] != labels[:-1]
        border[:-1] |= labels[1:] != labels[:-1]
        border[:, 1:] |= labels[:, 1:] != labels[:, :-1]
        border[:, :-1] |= labels[:, 1:] != labels[:, :-1]
        wrong = got != labels
        assert not (wrong & ~border).any() and wrong.mean() < 0.05, name


def test_annotations_import_onto_multi_band_float_tiffs(tmp_path):
    """A float TIFF with five bands (Pillow cannot open it; tifffile's header gives its frame) takes labels like
    any image, at the size the window and training read it."""
    import tifffile

    from engine.io.imports import read_coco
    from engine.learn.saved import saved_images

    folder = tmp_path / "scene"
    folder.mkdir()
    tifffile.imwrite(folder / "s.tif", np.random.default_rng(0).random((H, W, 5), dtype=np.float32),
                     photometric="minisblack", planarconfig="contig")
    doc = {"images": [{"id": 1, "file_name": "s.tif", "height": H, "width": W}],
           "categories": [{"id": 1, "name": "field"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 20, 2, 20, 20]]}]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    result = run_import(Dataset(folder), plan_import(Dataset(folder), read_coco(tmp_path / "c.json")))
    assert result.imported == ["s.tif"] and not result.errors
    image, labels = saved_images(folder)[0].load()
    assert labels.shape == image.shape[:2] == (H, W) and labels[5, 15] == 0


def test_an_empty_annotation_is_skipped_and_leaves_a_machine_label_as_it_was(tmp_path):
    folder = make_folder(tmp_path)
    ds = with_classes(folder, ["cat", "dog"])
    machine = np.zeros((H, W), np.uint8)
    ds.save(1, machine, ds.project.class_list(),
            provenance=make_provenance(machine, np.zeros((H, W), bool), "b.png", origin=ORIGIN_MACHINE))
    # a: one shape; b: no shapes at all; c: only an __ignore__ region
    source = labelme(tmp_path, {"a": [("cat", SQUARE)], "b": [], "c": [("__ignore__", SQUARE)]})
    ds = Dataset(folder)
    plan = plan_import(ds, source)
    result = run_import(ds, plan)
    assert result.imported == ["a.png"] and result.empty == ["b.png", "c.png"] and not result.errors
    assert "skipped 2 image(s) whose annotation labels no pixel" in result.message(plan)
    assert read_provenance(folder / "labels" / "b.png").origin == ORIGIN_MACHINE
    assert np.array_equal(read_label_png(folder / "labels" / "b.png"), machine)
    assert not (folder / "labels" / "c.png").exists()
