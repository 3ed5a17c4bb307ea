"""engine.folder.opening: what opening an image reads, and which image a folder opens after a refused one."""
import numpy as np
from PIL import Image

from engine.folder.dataset import Dataset
from engine.folder.opening import file_stamp, next_readable, read_for_opening
from engine.io.labels import write_label_png
from engine.labels import ClassList

CLASSES = ClassList(("background", "cat"))


def _folder(tmp_path):
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((6, 8, 3), 40, np.uint8)).save(tmp_path / name)
    (tmp_path / "labels").mkdir()
    return Dataset(tmp_path)


def test_reads_pixels_and_saved_labels_and_says_what_is_wrong_with_the_labels(tmp_path):
    ds = _folder(tmp_path)
    write_label_png(ds[0].label_path, np.ones((6, 8), np.uint8), CLASSES)
    write_label_png(ds[1].label_path, np.ones((5, 8), np.uint8), CLASSES)      # another size than the image
    first = read_for_opening(ds, 0, (255, 255, 255))
    assert first.image.shape == (6, 8, 3) and (first.saved == 1).all() and first.problem is None
    second = read_for_opening(ds, 1, (255, 255, 255))
    assert second.saved is None and "does not match the image" in second.problem
    ds[0].label_path.write_bytes(b"not a png")
    broken = read_for_opening(ds, 0, (255, 255, 255))                  # unreadable labels: said, not raised
    assert broken.saved is None and broken.problem and broken.image.shape == (6, 8, 3)


def test_prefetched_pixels_are_used_as_they_are(tmp_path):
    ds = _folder(tmp_path)

    class Cached:
        image, alpha = np.zeros((6, 8, 3), np.uint8), None
    opened = read_for_opening(ds, 0, (255, 255, 255), Cached())
    assert opened.image is Cached.image


def test_next_readable_goes_on_in_display_order_wrapping_and_skips_what_failed():
    order = [3, 0, 2, 1]
    bad = {2}
    assert next_readable(order, 0, [0], bad.__contains__) == 1        # 2 is unreadable: the next after it
    assert next_readable(order, 1, [0, 1], bad.__contains__) == 3     # wraps around to the start
    assert next_readable(order, 1, [0, 1, 3], bad.__contains__) is None


def test_the_pixels_a_person_edited_come_with_the_saved_labels(tmp_path):
    """From the labels' provenance sidecar: all of them for imported labels, a stroke's for a window save; none
    known for a pre-labelling run's file or a file without a sidecar."""
    from engine.io.provenance import ORIGIN_HAND, ORIGIN_MACHINE, make_provenance

    ds = _folder(tmp_path)
    labels = np.ones((6, 8), np.uint8)
    stroke = np.zeros((6, 8), bool)
    stroke[2:4, 3:6] = True
    ds.save(0, labels, CLASSES, provenance=make_provenance(labels, np.ones((6, 8), bool), "a.png",
                                                           origin=ORIGIN_HAND))
    ds.save(1, labels, CLASSES, provenance=make_provenance(labels, stroke, "b.png"))
    assert read_for_opening(ds, 0, (255, 255, 255)).hand.all()
    assert np.array_equal(read_for_opening(ds, 1, (255, 255, 255)).hand, stroke)
    ds.save(1, labels, CLASSES, provenance=make_provenance(labels, np.zeros((6, 8), bool), "b.png",
                                                           origin=ORIGIN_MACHINE))
    assert read_for_opening(ds, 1, (255, 255, 255)).hand is None
    sidecars = list(tmp_path.joinpath("labels").glob("a*.json"))
    assert len(sidecars) == 1
    sidecars[0].unlink()   # a file saved by another tool: no record of who edited what
    assert read_for_opening(ds, 0, (255, 255, 255)).hand is None


def test_a_label_files_stamp_follows_its_bytes_not_its_inode(tmp_path):
    """The stamp a save compares (gui.session.saving): the same labels written again (a new inode and time, as an
    atomic save or a network drive gives) are the same file; other bytes, no file, or a folder in its place are
    not."""
    path = tmp_path / "a.png"
    assert file_stamp(path) is None
    path.write_bytes(b"labels v1")
    first = file_stamp(path)
    path.unlink()
    path.write_bytes(b"labels v1")
    assert file_stamp(path) == first
    path.write_bytes(b"labels v2")
    assert file_stamp(path) not in (first, None)
    path.unlink()
    path.mkdir()
    assert file_stamp(path) not in (first, None)
