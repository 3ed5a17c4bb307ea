"""`export`: every format from the command line, targets checked before anything is written (--force to write into
what exists), messages worded for a terminal, help on every option, a progress bar on stderr for many images."""
import json

import numpy as np
import pytest
from PIL import Image

from engine.cli import main as cli_main
from engine.cli.export import KINDS, PROGRESS_MIN, build_parser
from engine.folder.dataset import CLASS_NAMES_FILE
from engine.io.labels import read_label_png, write_class_names, write_label_png
from engine.labels import ClassList

CLASSES = ClassList(("belt", "paper", "can"), ((10, 20, 30), (200, 0, 0), (0, 0, 200)))


def _folder(tmp_path, n=3):
    folder = tmp_path / "imgs"
    (folder / "labels").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
        lab = np.zeros((12, 16), np.uint8)
        lab[2:8, 3:9] = 1 + i % 2
        write_label_png(folder / "labels" / f"im{i}.png", lab, CLASSES)
    write_class_names(folder / "labels" / CLASS_NAMES_FILE, CLASSES)
    return folder


@pytest.mark.parametrize("kind,out,written", [
    ("coco", "c.json", "c.json"), ("labelme", "lm", "lm/im0.json"), ("voc", "voc", "voc/labelmap.txt"),
    ("cvat-mask", "cvat", "cvat/labelmap.txt"), ("cvat-mask", "cvat.zip", "cvat.zip"),
    ("yolo-seg", "yolo", "yolo/data.yaml")])
def test_every_kind_exports_and_refuses_to_overwrite_without_force(tmp_path, capsys, kind, out, written):
    folder = _folder(tmp_path)
    target = tmp_path / out
    assert cli_main(["export", kind, str(folder), "--out", str(target)]) == 0
    assert (tmp_path / written).is_file()
    assert "exported 3 images" in capsys.readouterr().out
    before = (tmp_path / written).read_bytes()
    assert cli_main(["export", kind, str(folder), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and ("already exists" in err or "is not empty" in err)
    assert (tmp_path / written).read_bytes() == before
    assert cli_main(["export", kind, str(folder), "--out", str(target), "--force"]) == 0


def test_wrong_kind_of_target_gets_a_cli_message(tmp_path, capsys):
    folder = _folder(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile.json").write_text("{}")
    assert cli_main(["export", "coco", str(folder), "--out", str(tmp_path / "adir")]) == 2
    err = capsys.readouterr().err
    assert "is a folder, but coco writes one file here" in err and "coco.json" in err
    assert "edits" not in err and "memory" not in err        # the window's wording is gone
    assert cli_main(["export", "voc", str(folder), "--out", str(tmp_path / "afile.json"), "--force"]) == 2
    assert "is a file, but voc writes a folder" in capsys.readouterr().err
    assert (tmp_path / "afile.json").read_text() == "{}"


def test_a_failed_write_is_told_without_the_window_wording(tmp_path, capsys):
    folder = _folder(tmp_path)
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "im0.json").mkdir()                   # a folder where a file must go
    assert cli_main(["export", "labelme", str(folder), "--out", str(tmp_path / "lm"), "--force"]) == 2
    err = capsys.readouterr().err
    assert "could not write" in err and "im0.json" in err and "Your edits" not in err


def test_progress_bar_on_stderr_for_many_images(tmp_path, capsys):
    folder = _folder(tmp_path, n=PROGRESS_MIN)
    assert cli_main(["export", "coco", str(folder), "--out", str(tmp_path / "c.json")]) == 0
    captured = capsys.readouterr()
    assert f"{PROGRESS_MIN}/{PROGRESS_MIN}" in captured.err and "export coco" in captured.err
    assert "%|" not in captured.out
    coco = json.loads((tmp_path / "c.json").read_text())
    assert len(coco["images"]) == PROGRESS_MIN
    few = _folder(tmp_path / "few", n=2)
    assert cli_main(["export", "coco", str(few), "--out", str(tmp_path / "d.json")]) == 0
    assert "%|" not in capsys.readouterr().err                # no bar for a couple of images


def test_a_labelme_export_shows_its_bar_from_one_image(tmp_path, capsys):
    """A big-photo walk: `export labelme` of one 12 MP label map ran 1.5-3 minutes (its exact polygons) and printed
    nothing until it ended. Its bar shows from the first image, at 0/1 before the work starts."""
    folder = _folder(tmp_path, n=1)
    assert cli_main(["export", "labelme", str(folder), "--out", str(tmp_path / "lm")]) == 0
    err = capsys.readouterr().err
    assert "export labelme" in err and "0/1" in err and "1/1" in err, err


def test_every_option_has_help():
    parser = build_parser()
    for action in parser._actions:
        assert action.help, action.dest
    assert set(parser._option_string_actions["--force"].option_strings) == {"--force"}
    kind = next(a for a in parser._actions if a.dest == "kind")
    assert tuple(kind.choices) == tuple(KINDS) == ("coco", "labelme", "voc", "cvat-mask", "yolo-seg")
    assert all(k in parser.description for k in KINDS)


def test_exported_labels_match_the_saved_ones(tmp_path):
    folder = _folder(tmp_path)
    assert cli_main(["export", "voc", str(folder), "--out", str(tmp_path / "voc")]) == 0
    for i in range(3):
        assert np.array_equal(read_label_png(tmp_path / "voc" / "SegmentationClass" / f"im{i}.png"),
                              read_label_png(folder / "labels" / f"im{i}.png"))


@pytest.mark.parametrize("kind", ["voc", "cvat-mask"])
def test_a_name_the_format_cannot_hold_is_refused_before_anything_is_written(tmp_path, capsys, kind):
    """A walk found 4 images' files written before 'sp ace.png' was refused, and the rerun needing --force. (YOLO-seg
    writes no image list, so it takes such a name: tests/engine/io/test_cvat_yolo_export.py.)"""
    folder = _folder(tmp_path)
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(folder / "zz top.png")   # sorted last
    write_label_png(folder / "labels" / "zz top.png", np.zeros((12, 16), np.uint8), CLASSES)
    target = tmp_path / "out"
    assert cli_main(["export", kind, str(folder), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "zz top" in err and "space" in err and ("VOC" in err) == (kind == "voc")
    assert not target.exists()


@pytest.mark.parametrize("kind,out", [("labelme", "lm"), ("coco", "c.json")])
def test_a_file_name_that_is_not_utf8_is_named_and_refused_before_anything_is_written(tmp_path, capsys, kind, out):
    """A walk: bad\xffname.png stopped a labelme export with "'utf-8' codec can't encode character '\udcff'"
    (no file named), and the COCO export wrote a file_name that matches no file."""
    import os
    folder = _folder(tmp_path)
    name = os.fsdecode(b"zz\xffbad.png")
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(folder / name)
    write_label_png(folder / "labels" / os.fsdecode(b"zz\xffbad.png"), np.zeros((12, 16), np.uint8), CLASSES)
    target = tmp_path / out
    assert cli_main(["export", kind, str(folder), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "zz\\xffbad.png" in err and "not valid UTF-8" in err and "rename" in err
    assert not target.exists()


def test_class_names_a_label_map_cannot_hold_are_refused(tmp_path, capsys):
    folder = _folder(tmp_path)
    write_class_names(folder / "labels" / CLASS_NAMES_FILE, ClassList(("belt", "# hash", "can")))
    assert cli_main(["export", "voc", str(folder), "--out", str(tmp_path / "voc")]) == 2
    assert "'#'" in capsys.readouterr().err and not (tmp_path / "voc").exists()


def test_targets_that_are_no_regular_file_or_stdout_are_refused(tmp_path, capsys):
    import os
    folder = _folder(tmp_path)
    assert cli_main(["export", "coco", str(folder), "--out", "-"]) == 2
    assert "standard output" in capsys.readouterr().err and not (tmp_path / "-").exists()
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert cli_main(["export", "coco", str(folder), "--out", str(fifo), "--force"]) == 2
    assert "not a regular file" in capsys.readouterr().err and fifo.is_fifo()
    real = tmp_path / "real.json"
    real.write_text("{}")
    (tmp_path / "link.json").symlink_to(real)
    assert cli_main(["export", "coco", str(folder), "--out", str(tmp_path / "link.json"), "--force"]) == 2
    assert "symbolic link" in capsys.readouterr().err and (tmp_path / "link.json").is_symlink()


def test_a_class_list_with_a_name_twice_is_refused(tmp_path, capsys):
    """Two COCO categories (or labelme labels) named alike could not be told apart by a reader."""
    folder = _folder(tmp_path)
    classes = tmp_path / "dup.txt"
    classes.write_text("belt\npaper\nPaper\n")
    assert cli_main(["export", "coco", str(folder), "--out", str(tmp_path / "c.json"), "--classes", str(classes)]) == 2
    assert f"{classes}: two classes are both named 'paper' / 'Paper'" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()


def test_a_folder_with_no_saved_labels_or_a_file_is_refused_with_what_to_do(tmp_path, capsys):
    """A walk: a folder with a class list and no saved labels exited 0 with an empty COCO file; a file given as
    the folder was 'no such folder'."""
    folder = _folder(tmp_path)
    for label in (folder / "labels").glob("*.png"):
        label.unlink()
    assert cli_main(["export", "coco", str(folder), "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err
    assert "no saved labels" in err and not (tmp_path / "c.json").exists()
    image = next(folder.glob("*.png"))
    assert cli_main(["export", "coco", str(image), "--out", str(tmp_path / "c.json")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_an_export_failing_part_way_says_what_it_left_and_how_to_rerun(tmp_path, capsys):
    """A walk's export stopped at an image it could not read, left the earlier images' files, and the rerun was
    refused for them without a word of --force."""
    folder = _folder(tmp_path)
    (folder / "im2.png").write_bytes(b"not an image any more")         # the last one fails
    assert cli_main(["export", "labelme", str(folder), "--out", str(tmp_path / "lm")]) == 2
    err = capsys.readouterr().err
    assert "im2.png" in err and "holds part of the export" in err and "--force" in err
    assert (tmp_path / "lm" / "im0.json").is_file()


def test_pre_labelled_files_are_said_and_reviewed_leaves_them_out(tmp_path, capsys):
    """A walk exported 8 reviewed images among 1,992 pre-labelled ones nobody had looked at, unasked and untold."""
    from engine.io.provenance import ORIGIN_MACHINE, make_provenance, write_provenance
    folder = _folder(tmp_path)
    for i in (1, 2):                                              # written by a pre-labelling run
        lab = read_label_png(folder / "labels" / f"im{i}.png")
        write_provenance(folder / "labels" / f"im{i}.png",
                         make_provenance(lab, lab == 255, f"im{i}.png", origin=ORIGIN_MACHINE))
    assert cli_main(["export", "coco", str(folder), "--out", str(tmp_path / "all.json")]) == 0
    out = capsys.readouterr().out
    assert "(2 of them pre-labelled, not reviewed: --reviewed leaves them out)" in out
    assert len(json.loads((tmp_path / "all.json").read_text())["images"]) == 3
    assert cli_main(["export", "coco", str(folder), "--out", str(tmp_path / "hand.json"), "--reviewed"]) == 0
    assert "(2 pre-labelled, not reviewed, left out)" in capsys.readouterr().out
    assert [im["file_name"] for im in json.loads((tmp_path / "hand.json").read_text())["images"]] == ["im0.png"]
    # a pre-label another tool repainted is a person's, as prelabel counts it (a walk: prelabel kept it as
    # hand-saved while --reviewed left it out as not reviewed)
    lab = read_label_png(folder / "labels" / "im2.png")
    lab[:4, :4] = 1
    write_label_png(folder / "labels" / "im2.png", lab, CLASSES)
    assert cli_main(["export", "coco", str(folder), "--out", str(tmp_path / "hand2.json"), "--reviewed"]) == 0
    assert "(1 pre-labelled, not reviewed, left out)" in capsys.readouterr().out
    assert [im["file_name"] for im in json.loads((tmp_path / "hand2.json").read_text())["images"]] == \
        ["im0.png", "im2.png"]
    (folder / "labels" / "im2.png").unlink()
    (folder / "labels" / "im0.png").unlink()
    assert cli_main(["export", "coco", str(folder), "--out", str(tmp_path / "none.json"), "--reviewed"]) == 2
    assert "1 pre-labelled one is left out by --reviewed" in capsys.readouterr().err
