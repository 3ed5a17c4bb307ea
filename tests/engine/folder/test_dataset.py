"""engine.folder.dataset (folder, label files, status) and engine.annotate.state (which label map wins)."""
import numpy as np
import pytest
from PIL import Image

from engine.annotate.state import ImageState
from engine.errors import LabelIOError
from engine.folder.dataset import CLASS_NAMES_FILE, Dataset, Status
from engine.io.labels import read_label_png, write_label_png
from engine.labels import ClassList

CLASSES = ClassList(("background", "cat", "dog"))


def _img(path, h=6, w=8):
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)


def test_lists_images_in_natural_order_and_ignores_the_rest(tmp_path):
    for name in ("img10.png", "img2.jpg", "img1.png", ".hidden.png"):
        _img(tmp_path / name)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "labels").mkdir()
    _img(tmp_path / "labels" / "img1.png")  # a label file is not an image of the folder
    ds = Dataset(tmp_path)
    assert [e.path.name for e in ds.entries] == ["img1.png", "img2.jpg", "img10.png"]
    assert ds[0].label_path == tmp_path / "labels" / "img1.png"
    assert ds.status(0) == Status.SAVED and ds.status(1) == Status.NEW
    assert ds.progress_text(1) == "image 2/3"
    assert ds.step(0, -1) == 0 and ds.step(2, +1) == 2 and ds.step(0, 1) == 1
    assert ds.index_of(tmp_path / "img10.png") == 2


def test_same_stem_images_get_distinct_label_files(tmp_path):
    _img(tmp_path / "a.png")
    _img(tmp_path / "a.jpg")
    ds = Dataset(tmp_path)
    assert len({e.label_path for e in ds.entries}) == 2


def test_an_image_named_like_another_images_label_file_gets_its_own(tmp_path):
    """A walk: photo.jpg (its stem shared with photo.png) and photo.jpg.png both mapped to labels/photo.jpg.png,
    and each save replaced the other's labels (prelabel said 3 images and wrote 2 files)."""
    for name in ("photo.jpg", "photo.png", "photo.jpg.png", "photo.jpg.png.tif"):
        _img(tmp_path / name)
    ds = Dataset(tmp_path)
    assert len({e.label_path for e in ds.entries}) == 4
    for i, e in enumerate(ds.entries):
        ds.save(i, np.full((6, 8), i % 3, np.uint8), CLASSES)
        if i < 3:
            assert not (np.asarray(ds.load_labels(0)) != 0).any()   # the first one's labels are still its own
    again = Dataset(tmp_path)
    assert [e.label_path for e in again.entries] == [e.label_path for e in ds.entries]
    for i, e in enumerate(again.entries):
        np.testing.assert_array_equal(again.load_labels(i), np.full((6, 8), i % 3, np.uint8))


def test_an_image_added_with_a_saved_images_stem_leaves_its_labels_where_they_are(tmp_path):
    """A walk saved scene.jpg (labels/scene.png), then copied a scene.png into the folder: scene.jpg now looked for
    labels/scene.jpg.png, and its saved work showed as never labelled. The saved file's provenance names its image,
    which keeps it; the newcomer gets its whole name."""
    from engine.io.provenance import make_provenance
    _img(tmp_path / "scene.jpg")
    labels = np.ones((6, 8), np.uint8)
    Dataset(tmp_path).save(0, labels, CLASSES, make_provenance(labels, np.ones((6, 8), bool), "scene.jpg"))
    _img(tmp_path / "scene.png")
    ds = Dataset(tmp_path)
    by_name = {e.path.name: e for e in ds.entries}
    assert by_name["scene.jpg"].label_path == tmp_path / "labels" / "scene.png"
    assert by_name["scene.jpg"].status == Status.SAVED and by_name["scene.png"].status == Status.NEW
    assert by_name["scene.png"].label_path == tmp_path / "labels" / "scene.png.png"


def test_save_writes_voc_png_and_class_names(tmp_path):
    _img(tmp_path / "x.png")
    ds = Dataset(tmp_path)
    labels = np.array([[0, 1, 2, 255]] * 6, np.uint8)[:, :4].repeat(2, axis=1)
    path = ds.save(0, labels, CLASSES)
    assert path == tmp_path / "labels" / "x.png"
    np.testing.assert_array_equal(read_label_png(path), labels)
    assert Image.open(path).mode == "P"
    names = (tmp_path / "labels" / CLASS_NAMES_FILE).read_text().split("\n")
    assert [n.split(" ", 1)[1] for n in names if n] == list(CLASSES.names)
    assert ds.status(0) == Status.SAVED
    np.testing.assert_array_equal(ds.load_labels(0), labels)


def test_save_failure_is_a_clear_labelioerror(tmp_path):
    _img(tmp_path / "x.png")
    (tmp_path / "labels").write_text("a file where the labels folder should be")
    ds = Dataset(tmp_path)
    with pytest.raises(LabelIOError, match="labels"):
        ds.save(0, np.zeros((6, 8), np.uint8), CLASSES)
    assert ds.status(0) == Status.NEW


def test_next_unsaved_wraps_and_reports_none(tmp_path):
    for i in range(3):
        _img(tmp_path / f"{i}.png")
    ds = Dataset(tmp_path)
    ds.set_status(1, Status.SAVED)
    assert ds.next_unsaved(0) == 2 and ds.next_unsaved(2) == 0
    for i in range(3):
        ds.set_status(i, Status.SAVED)
    assert ds.next_unsaved(0) is None
    ds.set_status(2, Status.EDITED)
    assert ds.unsaved() == [2]


def test_not_a_folder(tmp_path):
    with pytest.raises(LabelIOError, match="not a folder"):
        Dataset(tmp_path / "missing")


# ----- ImageState -------------------------------------------------------------------------------
def _state():
    return ImageState(index=0, path=None, image=np.zeros((2, 3, 3), np.uint8), token=1)


def _probs(winner):
    p = np.full((3, 2, 3), 0.1, np.float32)
    p[winner] = 0.8
    return p


def test_labels_follow_model_then_crf_and_status_is_derived():
    st = _state()
    assert st.status == Status.NEW and not st.dirty
    st.set_prediction(_probs(1))
    assert (st.labels == 1).all() and st.status == Status.PREDICTED and not st.dirty
    assert st.unc is not None and st.unc.shape == (2, 3)
    crf = np.full((2, 3), 2, np.uint8)
    st.set_crf(_probs(2), crf, "params")
    assert (st.labels == 2).all() and st.changed_by_crf().all()
    st.mark_saved()
    assert st.status == Status.SAVED
    st.set_crf(_probs(0), np.zeros((2, 3), np.uint8), "other")  # differs from the saved file now
    assert st.status == Status.EDITED and st.dirty


def test_disk_and_hand_labels_win_over_new_results_until_asked():
    st = _state()
    disk = np.full((2, 3), 2, np.uint8)
    st.set_saved_labels(disk)
    st.set_prediction(_probs(1))
    assert (st.labels == 2).all() and st.status == Status.SAVED
    hand = disk.copy()
    hand[0, 0] = 0
    st.set_hand_labels(hand)
    assert st.status == Status.EDITED
    st.set_crf(_probs(1), np.ones((2, 3), np.uint8), "p")
    assert st.labels[0, 0] == 0  # hand work kept
    assert st.use_model_result() and (st.labels == 1).sum() == 5 and st.labels[0, 0] == 0   # the hand edit stays
    with pytest.raises(ValueError, match="do not fit"):
        st.set_hand_labels(np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match="does not fit"):
        st.set_prediction(np.zeros((3, 4, 4), np.float32))


def test_reopen_saved_file_round_trip(tmp_path):
    _img(tmp_path / "x.png", 2, 3)
    labels = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    write_label_png(tmp_path / "labels" / "x.png", labels, CLASSES)
    ds = Dataset(tmp_path)
    st = _state()
    st.set_saved_labels(ds.load_labels(0))
    assert st.status == Status.SAVED and (st.labels == labels).all()


def test_status_lives_below_the_folder_and_keeps_its_old_import_path():
    """Status moved to engine.annotate.status (the open image derives it without importing the folder);
    engine.folder.dataset re-exports the same class for its callers."""
    from engine.annotate.status import Status as LowStatus
    assert Status is LowStatus
