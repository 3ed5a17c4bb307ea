"""An image's status is derived from its labels, never set by hand: an unreadable file's error clears when it
reads again, and undoing every stroke makes an image predicted again."""
import numpy as np
from PIL import Image

from engine.annotate.state import ImageState
from engine.folder.dataset import Dataset, Status


def test_unreadable_images_get_an_error_status_that_clears(tmp_path):
    for n in ("a.png", "b.png"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / n)
    ds = Dataset(tmp_path)
    ds.mark_unreadable(1, "b.png: truncated")
    assert ds.status(1) == Status.ERROR and ds[1].error == "b.png: truncated"
    assert ds.next_unsaved(0) == 0 and ds.next_unsaved(0, [0, 1]) == 0   # skipped: nothing to save
    ds.set_status(1, Status.PREDICTED)
    assert ds[1].error == ""


def test_status_follows_the_labels_not_a_flag():
    st = ImageState(index=0, path=None, image=np.zeros((8, 8, 3), np.uint8))
    assert st.status == Status.NEW
    probs = np.zeros((2, 8, 8), np.float32)
    probs[0] = 1
    st.set_prediction(probs)
    assert st.status == Status.PREDICTED
    edit = st.edits.brush([(2, 2)], 1, 1)
    st.note_hand_edit()
    assert st.status == Status.EDITED
    st.edits.undo(edit)
    st.note_hand_edit()
    assert st.status == Status.PREDICTED and not st.dirty
    st.edits.brush([(2, 2)], 1, 1)
    st.mark_saved()
    assert st.status == Status.SAVED
    blank = ImageState(index=0, path=None, image=np.zeros((8, 8, 3), np.uint8))
    e = blank.ensure_edits(2).brush([(1, 1)], 0, 1)
    assert blank.status == Status.EDITED
    blank.edits.undo(e)
    assert blank.status == Status.NEW                          # painted from scratch and undone: nothing there
