"""`main.py import FOLDER --from FORMAT SOURCE`: exit codes and messages (engine.cli.import_labels)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from engine import cli
from engine.folder.lock import FolderLock
from engine.io.labels import read_label_png
from engine.io.provenance import read_provenance
from tests.support.paths import ROOT

H, W = 24, 32


def folder(tmp_path, names=("a", "b")):
    f = tmp_path / "images"
    f.mkdir()
    for n in names:
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(f / f"{n}.jpg")
    return f


def coco(tmp_path, names=("cat",), files=("a.jpg",)):
    m = np.zeros((H, W), np.uint8)
    m[4:12, 4:20] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    doc = {"images": [{"id": i, "file_name": f, "height": H, "width": W} for i, f in enumerate(files)],
           "categories": [{"id": k + 1, "name": n} for k, n in enumerate(names)],
           "annotations": [{"id": i, "image_id": i, "category_id": 1, "iscrowd": 0,
                            "segmentation": {"size": [H, W], "counts": rle["counts"].decode()}}
                           for i in range(len(files))]}
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def run(argv, capsys):
    code = cli.main(["import", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_writes_hand_labels_and_says_what_it_did(tmp_path, capsys):
    f = folder(tmp_path)
    code, out, err = run([f, "--from", "coco", coco(tmp_path)], capsys)
    assert code == 0, err
    assert "class 'cat' -> cat (new class)" in out and "imported 1 image(s); added class cat" in out
    labels = read_label_png(f / "labels" / "a.png")
    assert labels[5, 5] == 0 and labels[20, 30] == 255
    assert read_provenance(f / "labels" / "a.png").origin == "hand"


def test_saved_labels_need_force(tmp_path, capsys):
    f = folder(tmp_path)
    src = coco(tmp_path)
    assert run([f, "--from", "coco", src], capsys)[0] == 0
    code, out, _ = run([f, "--from", "coco", src], capsys)
    assert code == 0 and "saved labels (a.png) kept; replace them with --force" in out and "nothing to import" in out
    code, out, _ = run([f, "--from", "coco", src, "--force"], capsys)
    assert code == 0 and "replaced 1 earlier label file(s)" in out


def test_unmatched_classes_exit_2_with_the_map_to_give(tmp_path, capsys):
    f = folder(tmp_path)
    assert run([f, "--from", "coco", coco(tmp_path, names=("dog",))], capsys)[0] == 0
    (tmp_path / "instances.json").unlink()
    code, _, err = run([f, "--from", "coco", coco(tmp_path, names=("dgo",))], capsys)
    assert code == 2 and "match no class of the folder: dgo" in err and "--map dgo=dog" in err
    assert "--add-new" in err
    code, out, _ = run([f, "--from", "coco", tmp_path / "instances.json", "--map", "dgo=dog", "--force"], capsys)
    assert code == 0 and "class 'dgo' -> dog" in out
    code, _, err = run([f, "--from", "coco", tmp_path / "instances.json", "--map", "dgo"], capsys)
    assert code == 2 and "expected SOURCE=FOLDER" in err


def test_images_not_found_exit_1_and_are_named(tmp_path, capsys):
    f = folder(tmp_path, ["a"])
    code, out, _ = run([f, "--from", "coco", coco(tmp_path, files=("a.jpg", "gone.jpg"))], capsys)
    assert code == 1 and "name images that are not in the folder: gone.jpg" in out
    assert (f / "labels" / "a.png").is_file()


def test_an_image_annotated_twice_is_a_warning_on_stderr_and_exit_1(tmp_path, capsys):
    """A walk: a COCO file naming cam1/a.jpg and cam2/a.jpg exited 0 with the note on stdout only, and the summary
    said 'kept 1 image(s) as they were' of an image that had no labels before."""
    f = folder(tmp_path, ["a"])
    code, out, err = run([f, "--from", "coco", coco(tmp_path, files=("cam1/a.jpg", "cam2/a.jpg"))], capsys)
    assert code == 1
    assert "warning: a.jpg is annotated twice" in err and "the first is used" in err
    assert "imported 1 image(s)" in out and "as they were" not in out
    assert "ignored 1 second annotation(s) of an image (the first was used)" in out
    assert (f / "labels" / "a.png").is_file()


def test_the_apps_own_voc_export_imports_with_from_voc(tmp_path, capsys):
    """A walk: `import --from voc` was refused; the app's VOC export had to be imported as cvat-mask."""
    f = folder(tmp_path, ["a"])
    assert run([f, "--from", "coco", coco(tmp_path)], capsys)[0] == 0
    before = read_label_png(f / "labels" / "a.png")
    assert cli.main(["export", "voc", str(f), "-o", str(tmp_path / "voc")]) == 0
    capsys.readouterr()
    code, out, err = run([f, "--from", "voc", tmp_path / "voc", "--force"], capsys)
    assert code == 0, err
    assert "imported 1 image(s)" in out and np.array_equal(read_label_png(f / "labels" / "a.png"), before)


def test_unreadable_source_and_missing_folder_exit_2(tmp_path, capsys):
    f = folder(tmp_path)
    (tmp_path / "bad.json").write_text("[1, 2")
    code, _, err = run([f, "--from", "coco", tmp_path / "bad.json"], capsys)
    assert code == 2 and "bad.json: not valid JSON" in err
    code, _, err = run([tmp_path / "nope", "--from", "labelme", tmp_path], capsys)
    assert code == 2 and "no such folder" in err
    assert not (f / "labels").exists()


def test_dry_run_writes_nothing(tmp_path, capsys):
    f = folder(tmp_path)
    code, out, _ = run([f, "--from", "coco", coco(tmp_path), "--dry-run"], capsys)
    assert code == 0 and "1 to import" in out and "dry run: nothing written" in out
    assert not (f / "labels" / "a.png").exists()
    # an image the source names that the folder lacks: exit 1, as the run itself would give
    code, out, _ = run([f, "--from", "coco", coco(tmp_path, files=("a.jpg", "zz.jpg")), "--dry-run"], capsys)
    assert code == 1 and "dry run: nothing written" in out and not (f / "labels" / "a.png").exists()


def test_a_folder_a_window_holds_is_refused(tmp_path, capsys):
    f = folder(tmp_path)
    lock = FolderLock(f / "labels")
    lock.acquire()
    try:
        code, _, err = run([f, "--from", "coco", coco(tmp_path)], capsys)
    finally:
        lock.release()
    assert code == 2 and "is working on this folder" in err
    assert not (f / "labels" / "a.png").exists()


def test_help_names_every_option_and_the_subcommand_loads_no_qt():
    out = subprocess.run([sys.executable, "main.py", "import", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    for option in ("--from", "--map", "--add-new", "--unlabelled", "--force", "--dry-run", "labelme", "cvat-mask"):
        assert option in out.stdout
    code = ("import sys, engine.cli as c\nc.resolve(c.COMMANDS['import'])\n"
            "import engine.folder.imports, engine.io.imports\n"
            "assert not [m for m in sys.modules if m.startswith(('PySide6', 'gui'))]\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=300)


def test_cvat_mask_zip_and_yolo_seg_import_end_to_end(tmp_path, capsys):
    import io
    import zipfile

    f = folder(tmp_path)
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[2:10, 3:15] = (250, 50, 83)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    with zipfile.ZipFile(tmp_path / "task.zip", "w") as zf:
        zf.writestr("labelmap.txt", "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncat:250,50,83::\n")
        zf.writestr("SegmentationClass/a.png", buf.getvalue())
        zf.writestr("ImageSets/Segmentation/default.txt", "a\n")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.jpg").write_bytes((f / "a.jpg").read_bytes())
    code, out, err = run([plain, "--from", "cvat-mask", tmp_path / "task.zip"], capsys)
    assert code == 0, err                                         # CVAT's black 'background': not annotated
    labels = read_label_png(plain / "labels" / "a.png")
    assert labels[5, 5] == 0 and labels[20, 20] == 255            # cat is the folder's class 0, the rest void
    code, out, err = run([f, "--from", "cvat-mask", tmp_path / "task.zip", "--unlabelled", "background"], capsys)
    assert code == 0, err
    labels = read_label_png(f / "labels" / "a.png")
    assert labels[5, 5] == 1 and labels[20, 20] == 0            # asked for: background, cat

    yolo = tmp_path / "yolo"
    (yolo / "labels" / "val").mkdir(parents=True)
    (yolo / "data.yaml").write_text("names:\n  0: background\n  1: Cat\n")
    (yolo / "labels" / "val" / "b.txt").write_text("1 0.0 0.0 0.5 0.0 0.5 0.5 0.0 0.5\n")
    code, out, err = run([f, "--from", "yolo-seg", yolo], capsys)
    assert code == 0, err
    assert "class 'Cat' -> cat" in out
    labels = read_label_png(f / "labels" / "b.png")
    assert labels[3, 3] == 1 and labels[20, 25] == 255


def _labelme(path, shapes, h=H, w=W, image="a.jpg"):
    path.write_text(json.dumps({"version": "5.0.1", "flags": {}, "shapes": shapes, "imagePath": image,
                                "imageData": None, "imageHeight": h, "imageWidth": w}))


def test_a_file_that_cannot_be_read_is_a_failure_not_a_note(tmp_path, capsys):
    """A walk found a labelme file with one 2-point polygon (or broken JSON) dropped with exit 0."""
    f = folder(tmp_path)
    src = tmp_path / "lm"
    src.mkdir()
    good = {"label": "cat", "points": [[2, 2], [20, 2], [20, 10]], "shape_type": "polygon", "flags": {}}
    bad = {"label": "cat", "points": [[2, 2], [20, 2]], "shape_type": "polygon", "flags": {}}
    _labelme(src / "a.json", [good, bad])
    code, out, err = run([f, "--from", "labelme", src / "a.json", "--add-new"], capsys)
    assert code == 2 and "2 points" in err                                  # the one file given: unreadable
    _labelme(src / "b.json", [good], image="b.jpg")
    code, out, err = run([f, "--from", "labelme", src, "--add-new"], capsys)
    assert code == 1 and "a.json" in err and "could not be read" in err      # the others are imported
    assert (read_label_png(f / "labels" / "b.png") != 255).sum() > 20 and not (f / "labels" / "a.png").exists()
    (src / "a.json").write_text('{"shapes": [')
    code, out, err = run([f, "--from", "labelme", src / "a.json"], capsys)
    assert code == 2 and "not valid JSON" in err


def test_a_class_named_ignored_is_a_class_when_the_label_map_has_its_own_void(tmp_path, capsys):
    """This app's VOC export calls void 'void' when a class is named 'ignored'; the import read both as void."""
    f = folder(tmp_path, names=("a",))
    src = tmp_path / "voc"
    (src / "SegmentationClass").mkdir(parents=True)
    (src / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\nignored:1,2,3::\n"
                                      "void:224,224,192::\n")
    mask = np.zeros((H, W, 3), np.uint8)
    mask[2:6, 2:6] = (1, 2, 3)
    mask[10:12, 10:12] = (224, 224, 192)
    Image.fromarray(mask).save(src / "SegmentationClass" / "a.png")
    code, out, err = run([f, "--from", "cvat-mask", src, "--add-new"], capsys)
    assert code == 0, err
    labels = read_label_png(f / "labels" / "a.png")
    assert (labels[2:6, 2:6] != 255).all() and (labels[10:12, 10:12] == 255).all()


def test_a_folder_whose_class_list_cannot_be_read_is_refused_not_renumbered(tmp_path, capsys):
    """A damaged class_names.txt (a name twice) next to saved labels: importing would make a new list, and the
    saved labels' ids would change meaning. It stops (exit 2) and says which file, with the dry run too."""
    f = folder(tmp_path)
    (f / "labels").mkdir()
    (f / "labels" / "class_names.txt").write_text("0 background\n1 cat\n2 Cat\n3 car\n")
    saved = np.full((H, W), 3, np.uint8)
    Image.fromarray(saved).save(f / "labels" / "b.png")
    for extra in ([], ["--dry-run"]):
        code, out, err = run([f, "--from", "coco", coco(tmp_path), "--add-new", *extra], capsys)
        assert code == 2 and "class_names.txt" in err and "fix or remove that file" in err, (code, err)
    assert (f / "labels" / "class_names.txt").read_text().startswith("0 background")   # untouched
    assert not (f / "labels" / "a.png").exists() and not (f / "labels" / "class_names.txt.damaged").exists()


def test_a_folder_that_takes_no_file_exits_2_and_claims_no_class(tmp_path, capsys, monkeypatch):
    """Every save refused (a read-only labels folder; as root only an immutable flag does it, so the save is
    made to fail here): nothing was written, so exit 2, no 'added class', and no window wording."""
    from engine.folder.dataset import Dataset
    from engine.io.atomic import WriteFailed

    def refuse(self, index, *a, **k):
        raise WriteFailed(self.entries[index].label_path, "the folder is read-only or you lack permission")
    monkeypatch.setattr(Dataset, "save", refuse)
    f = folder(tmp_path)
    code, out, err = run([f, "--from", "coco", coco(tmp_path, files=("a.jpg", "b.jpg"))], capsys)
    assert code == 2, err
    assert "imported 0 image(s); 2 failed" in out and "added class" not in out
    assert err.count("read-only") == 2 and "in memory" not in err


def test_coco_into_a_new_folder_with_unlabelled_naming_class_0_gives_the_exported_ids(tmp_path, capsys):
    """COCO leaves the background out; a folder without classes given --unlabelled background makes it class 0,
    so an export from a background-first list comes back with its ids."""
    f = folder(tmp_path)
    code, out, err = run([f, "--from", "coco", coco(tmp_path, names=("cat",)), "--unlabelled", "background"],
                         capsys)
    assert code == 0, err
    assert (f / "labels" / "class_names.txt").read_text().split() == ["0", "background", "1", "cat"]
    labels = read_label_png(f / "labels" / "a.png")
    assert labels[5, 5] == 1 and labels[20, 30] == 0
    assert "added classes background, cat" in out
