"""The folder's head file (engine.learn.head_store): kept with every save and given back identically, following
class edits and matched by name, and set aside with a message when damaged, foreign, made for other features or
too big to read."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.demo import own_classes
from engine.learn.head_store import HeadFileError, HeadStore
from tests.support.own_class_fixtures import CLASSES, SOURCE, cardboard_taught, demo, scene_with, taught_cardboard_head


def test_the_folder_keeps_the_head_and_gives_back_identical_probabilities(tmp_path):
    loaded, adapter, feats, head = taught_cardboard_head()
    store = HeadStore(tmp_path / "labels", loaded.sha256)
    path = store.save(head, CLASSES.names, SOURCE)
    assert path.parent.name == ".model" and path.is_file()
    back = store.load(7)
    assert back.strokes == head.strokes and back.taught_by(5) == head.taught_by(5)
    np.testing.assert_array_equal(adapter.probs(feats, back), adapter.probs(feats, head))
    store.save(adapter.original, CLASSES.names, SOURCE)                # Reset, then save: nothing is kept
    assert not path.exists() and store.load(7) is None


def test_the_head_file_follows_class_edits_and_matches_rows_by_name(tmp_path):
    """A walk: 'wood' (id 7) taught and saved, then deleted, then 'rubber' added in id 7, and the folder reopened:
    rubber came back 'learnt (1)' and predicted wood's pixels, since the file kept wood's row and was read by
    position. Class edits relabel the file (ids are stable); a file whose names are not the folder's is read by
    name: a class it does not name starts untaught, a name the folder lost is dropped."""
    loaded, adapter, feats, head = taught_cardboard_head()
    wood = CLASSES.names[:5] + ("glass", "wood")                     # the taught class (id 5) named 'wood', last
    wood_head = replace(head, tensors=tuple(t.clone() for t in head.tensors))
    w, b = wood_head.tensors[0], wood_head.tensors[1]
    w[[5, 6]], b[[5, 6]] = w[[6, 5]].clone(), b[[6, 5]].clone()       # rows in 'wood''s order: glass 5, wood 6
    wood_head = replace(wood_head, taught=((6, 1, frozenset({"a"})),))
    store = HeadStore(tmp_path / "labels", loaded.sha256)
    store.save(wood_head, wood, SOURCE)
    stale = store.load(7, CLASSES.names[:5] + ("glass", "rubber"))    # an old file: rubber is not wood
    assert stale.taught == () and not stale.tensors[0][6].any() and torch.equal(stale.tensors[0][5], w[5])
    moved = store.load(7, CLASSES.names[:5] + ("wood", "glass"))      # another order: each row follows its name
    assert moved.taught == ((5, 1, frozenset({"a"})),) and torch.equal(moved.tensors[0][5], w[6])

    store.relabel(wood[:6], SOURCE[:6])                               # 'wood' deleted: its row goes
    store.relabel(wood[:6] + ("rubber",), SOURCE)                     # 'rubber' added in its id: untaught
    back = store.load(7, wood[:6] + ("rubber",))
    assert back.taught == () and not back.tensors[0][6].any() and torch.equal(back.tensors[0][5], w[5])
    store.relabel(wood[:5] + ("bottle glass", "rubber"), SOURCE)      # a rename keeps the row
    assert torch.equal(store.load(7, wood[:5] + ("bottle glass", "rubber")).tensors[0][5], w[5])
    assert store.load(7).strokes == head.strokes


def test_a_head_file_saved_before_the_pixel_term_still_restores(tmp_path):
    loaded, pred, adapter, head = cardboard_taught()
    store = HeadStore(tmp_path / "labels", loaded.sha256)
    path = store.save(head, CLASSES.names, SOURCE)
    with np.load(path) as z:
        assert z["pixel"].shape == (7, 3) and np.abs(z["pixel"]).max() > 0
        old = {k: z[k] for k in z.files if k != "pixel"}
    np.savez(path.with_suffix(".tmp.npz"), **old)
    path.with_suffix(".tmp.npz").replace(path)
    back = store.load(7)
    np.testing.assert_array_equal(back.tensors[0], head.tensors[0])
    assert back.tensors[3].abs().max() == 0                            # no pixel term: the cells' head as it was


def test_a_damaged_or_foreign_head_file_is_moved_aside_with_a_message(tmp_path):
    loaded, pred, adapter, head = cardboard_taught()
    other = HeadStore(tmp_path / "labels", "f" * 64)
    other.save(head, CLASSES.names, SOURCE)
    mine = HeadStore(tmp_path / "labels", loaded.sha256)
    mine.path.write_bytes(other.path.read_bytes())                      # another model's head under this model's name
    with pytest.raises(HeadFileError, match="another model") as err:
        mine.load(7)
    assert err.value.moved_to is not None and err.value.moved_to.is_file() and not mine.path.exists()
    assert "labels are untouched" in str(err.value)
    mine.path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(HeadFileError, match="not a readable head file"):
        mine.load(7)
    assert not mine.path.exists() and len(list((mine.path.parent / "damaged").glob("*.why.txt"))) == 2


def test_a_head_file_for_other_features_or_with_a_nested_header_is_moved_aside(tmp_path):
    """A walk: a head file whose rows read 7 channels (the demo model gives 134) was taken, and every image then
    failed in the network with a raw RuntimeError; one whose JSON header nested thousands deep hung the window."""
    import io

    loaded, pred, adapter, head = cardboard_taught()
    assert adapter.feature_channels == pred.extract_features(scene_with(own_classes.CARDBOARD).image).maps[0].shape[1]
    store = HeadStore(tmp_path / "labels", loaded.sha256)
    narrow = replace(head, tensors=(head.tensors[0][:, :7].contiguous(), *head.tensors[1:]))
    store.save(narrow, CLASSES.names, SOURCE)
    with pytest.raises(HeadFileError, match="read 7 feature channels, and this model gives 134"):
        store.load(7, CLASSES.names, adapter.feature_channels)
    assert not store.path.exists()
    store.save(head, CLASSES.names, SOURCE)
    assert store.load(7, CLASSES.names, adapter.feature_channels).strokes == head.strokes
    with np.load(store.path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["header"] = np.frombuffer(("[" * 100000 + "]" * 100000).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    store.path.write_bytes(buf.getvalue())
    with pytest.raises(HeadFileError, match="nested too deep"):
        store.load(7, CLASSES.names, adapter.feature_channels)
    assert not store.path.exists()


def test_a_head_file_that_unpacks_to_gigabytes_is_refused_before_it_is_read(tmp_path):
    import zipfile

    loaded, _ = demo()
    store = HeadStore(tmp_path / "labels", loaded.sha256)
    store.path.parent.mkdir(parents=True)
    with zipfile.ZipFile(store.path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("weight.npy", b"\x00" * (80 << 20))                # 80 MB of zeros, a few kB on disk
    assert store.path.stat().st_size < 1 << 20
    with pytest.raises(HeadFileError, match="unpacks to far more"):
        store.load(7)


def test_a_file_where_the_head_folder_goes_is_said_plainly(tmp_path):
    """A walk: labels/.model as a plain file gave a bare '[Errno 17] File exists' in the save's box."""
    from engine.errors import LabelIOError
    from engine.io.transaction import SaveTransaction
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / ".model").write_text("in the way")
    store = HeadStore(labels, "ab" * 32)
    loaded, adapter, features, head = taught_cardboard_head()
    with pytest.raises(LabelIOError, match="a file of that name is in the way. Nothing was changed on disk"):
        store.stage(SaveTransaction(labels), head, own_classes.CLASS_NAMES, adapter.source)
