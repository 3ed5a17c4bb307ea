"""The head journalled with each autosave (engine.learn.head_store.JournalledHead): it comes back bit for bit with
the image it was last fitted on and what each image taught; the network's own head is a note of its own (so a
crash after Reset does not bring back an older head file); a foreign or damaged journal is moved aside with a
message; drop_journalled clears it once no unsaved edits are left."""
import json

import numpy as np
import pytest
import torch

from engine.learn.head_store import HeadFileError, HeadStore, JournalledHead, drop_journalled
from tests.support.own_class_fixtures import CLASSES, SOURCE, cardboard_taught

LEARNT = {"a.png": (2, bytes(range(16))), "b.png": (1, None)}


def test_a_journalled_head_comes_back_bit_for_bit_with_what_each_image_taught(tmp_path):
    loaded, pred, adapter, head = cardboard_taught()
    journal = JournalledHead(tmp_path / "labels", loaded.sha256)
    journal.save(head, CLASSES.names, SOURCE, LEARNT)
    assert journal.store.path.parent == tmp_path / "labels" / ".recovery" / "head"
    assert not HeadStore(tmp_path / "labels", loaded.sha256).path.exists()   # not the folder's head file
    back, learnt = journal.load(7)
    assert learnt == LEARNT and back.fitted_on == head.fitted_on == "a"
    for got, want in zip(back.tensors, head.tensors):
        assert torch.equal(got, want) and got.dtype == want.dtype
    assert back.strokes == head.strokes and back.images == head.images and back.taught == head.taught


def test_the_networks_own_head_is_journalled_as_a_note_and_drop_clears_every_model(tmp_path):
    loaded, pred, adapter, head = cardboard_taught()
    journal = JournalledHead(tmp_path / "labels", loaded.sha256)
    assert journal.load(7) is None                                       # nothing journalled yet
    journal.save(head, CLASSES.names, SOURCE, LEARNT)
    journal.save(adapter.original, CLASSES.names, SOURCE, {})            # Reset, then an autosave
    assert not journal.store.path.exists() and journal.original_marker.is_file()
    assert journal.load(7) == (None, {})
    other = JournalledHead(tmp_path / "labels", "e" * 64)
    other.save(head, CLASSES.names, SOURCE, {})
    drop_journalled(tmp_path / "labels")
    assert journal.load(7) is None and other.load(7) is None
    assert not list(journal.folder.iterdir())


def test_a_foreign_or_damaged_journal_is_moved_aside_with_a_message(tmp_path):
    loaded, pred, adapter, head = cardboard_taught()
    journal = JournalledHead(tmp_path / "labels", loaded.sha256)
    other = JournalledHead(tmp_path / "labels", "f" * 64)
    other.save(head, CLASSES.names, SOURCE, LEARNT)
    journal.store.path.write_bytes(other.store.path.read_bytes())       # another model's head under this name
    with pytest.raises(HeadFileError, match="another model") as err:
        journal.load(7)
    assert err.value.moved_to is not None and not journal.store.path.exists()

    journal.save(head, CLASSES.names, SOURCE, LEARNT)
    with np.load(journal.store.path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(bytes(arrays["header"]).decode())
    header["session"]["learnt"]["a.png"] = ["two", "zz"]                # a hand-edited or damaged session header
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(journal.store.path.with_name("x.npz"), **arrays)
    journal.store.path.with_name("x.npz").replace(journal.store.path)
    with pytest.raises(HeadFileError, match="session header is malformed"):
        journal.load(7)

    journal.original_marker.write_bytes(b"\xff not json")
    with pytest.raises(HeadFileError, match="not a readable journal note"):
        journal.load(7)
    assert len(list((journal.folder / "damaged").glob("*.why.txt"))) == 3


def test_a_folder_that_cannot_be_made_is_an_engine_error_not_a_raw_os_error(tmp_path):
    """(A raw OSError escaped the autosave's handler, which reports EngineErrors once and keeps the edits.)"""
    from engine.errors import EngineError

    loaded, pred, adapter, head = cardboard_taught()
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / ".recovery").write_text("a file where the journal's folder goes")
    (labels / ".model").write_text("and one where the head files go")
    with pytest.raises(EngineError, match="could not create"):
        JournalledHead(labels, loaded.sha256).save(head, CLASSES.names, SOURCE, {})
    with pytest.raises(EngineError, match="could not create"):
        HeadStore(labels, loaded.sha256).save(head, CLASSES.names, SOURCE)
