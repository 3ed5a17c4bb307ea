"""Damaged recovery-journal entries are moved to .recovery/damaged/ with a reason, and the rest still works;
any file-system name, UTF-8 or not, has an entry that can be saved, restored and discarded."""
from __future__ import annotations

import io
import json
import os
import re

import numpy as np
import pytest

from engine.errors import LabelIOError
from engine.folder.journal import DAMAGED_DIRNAME, DamagedEntry, RecoveryJournal
from engine.folder.journal_entry import FORMAT
from tests.support.journal_entries import NON_UTF8, journal_entry


def _zip_bomb_entry() -> bytes:
    """header says 4x5, but labels.npy inflates to 64 MB of zeros."""
    buf = io.BytesIO()
    np.savez_compressed(buf, labels=np.zeros((8000, 8000), np.uint8), locked=np.packbits(np.ones(20, bool)),
                        header=np.array(json.dumps({"format": FORMAT, "image_id": "a.png", "saved_at": 1.0,
                                                    "shape": [4, 5], "edited_pixels": 1, "meta": {}})))
    return buf.getvalue()


@pytest.mark.parametrize("what, data, reason", [
    ("0 bytes", b"", "empty"),
    ("saved_at yesterday", journal_entry(saved_at="yesterday"), "saved_at must be a time"),
    ("shape 5", journal_entry(shape=5), r"shape must be \[height, width\]"),
    ("shape of 3", journal_entry(shape=[4, 5, 1]), "shape must be"),
    ("meta [1,2]", journal_entry(meta=[1, 2]), "meta must be a record"),
    ("edited_pixels -3", journal_entry(edited_pixels=-3), "edited_pixels"),
    ("image_id 7", journal_entry(image_id=7), "image_id"),
    ("not a zip", b"PK\x03\x04 not really a zip", "not a complete npz"),
    ("garbage", os.urandom(200), "not a complete npz"),
    ("huge shape", journal_entry(shape=[10 ** 6, 10 ** 6]), "over the pixel limit"),
])
def test_damaged_headers_are_moved_aside_and_the_rest_is_offered(tmp_path, what, data, reason):
    j = RecoveryJournal(tmp_path)
    j.save("good.png", np.ones((4, 5), np.uint8), np.ones((4, 5), bool))
    j.path_for("a.png").write_bytes(data)
    assert [e.image_id for e in j.pending()] == ["good.png"]           # never raises
    assert len(j.damaged) == 1 and j.damaged[0].reason
    assert re.search(reason, j.damaged[0].reason), j.damaged[0].reason
    moved = j.damaged[0].moved_to
    assert moved == tmp_path / DAMAGED_DIRNAME / j.path_for("a.png").name and moved.read_bytes() == data
    assert (tmp_path / DAMAGED_DIRNAME / (moved.name + ".why.txt")).read_text().strip() == j.damaged[0].reason
    assert not j.path_for("a.png").exists()
    assert j.pending() == j.pending() and not j.damaged                # moved once, then gone from the scan


def test_label_values_outside_the_model_are_caught_at_restore(tmp_path):
    j = RecoveryJournal(tmp_path)
    labels = np.zeros((4, 5), np.uint8)
    labels[1, 2] = 200                                                  # a locked class 200 of a 3-class model
    j.save("a.png", labels, np.ones((4, 5), bool))
    assert [e.image_id for e in j.pending()] == ["a.png"]              # the header is fine
    with pytest.raises(DamagedEntry, match=r"label value\(s\) \[200\].*3 classes.*moved to"):
        j.restore("a.png", n_classes=3)
    assert (tmp_path / DAMAGED_DIRNAME / j.path_for("a.png").name).is_file() and not j.pending()


def test_void_and_valid_classes_restore(tmp_path):
    j = RecoveryJournal(tmp_path)
    labels = np.full((4, 5), 255, np.uint8)
    labels[0] = [0, 1, 2, 1, 0]
    j.save("a.png", labels, np.eye(4, 5, dtype=bool))
    rec = j.restore("a.png", expected_shape=(4, 5), n_classes=3)
    np.testing.assert_array_equal(rec.labels, labels)
    np.testing.assert_array_equal(rec.locked, np.eye(4, 5, dtype=bool))


@pytest.mark.parametrize("what, data", [
    ("zip bomb member", _zip_bomb_entry()),
    ("labels of another shape", journal_entry(labels=np.zeros((5, 4), np.uint8), shape=[4, 5])),
    ("int64 labels", journal_entry(labels=np.zeros((4, 5), np.int64))),
    ("truncated lock mask", journal_entry(locked_bits=np.zeros(1, np.uint8))),
    ("stored, not compressed, and wrong", journal_entry(labels=np.zeros((3, 3), np.uint8), compress=False, shape=[4, 5])),
])
def test_damaged_arrays_are_caught_at_restore_without_inflating_them(tmp_path, what, data):
    from tests.support.fuzz_helpers import peak_memory_below

    j = RecoveryJournal(tmp_path)
    j.path_for("a.png").write_bytes(data)
    with peak_memory_below(40):
        entries = j.pending()
        if entries:
            with pytest.raises(DamagedEntry):
                j.restore("a.png")
    assert not j.path_for("a.png").exists() and len(j.damaged) == 1


def test_special_files_in_the_journal_are_not_read(tmp_path):
    j = RecoveryJournal(tmp_path)
    os.mkfifo(j.path_for("fifo.png"))
    j.path_for("zero.png").symlink_to("/dev/zero")
    j.path_for("dir.png").mkdir()
    assert j.pending() == []
    assert sorted(q.reason for q in j.damaged) == ["it is not a regular file"] * 3
    assert sorted(p.name for p in (tmp_path / DAMAGED_DIRNAME).iterdir() if not p.name.endswith(".txt")) == \
        sorted(j.path_for(n).name for n in ("fifo.png", "zero.png", "dir.png"))


def test_entry_under_another_name_is_not_trusted(tmp_path):
    j = RecoveryJournal(tmp_path)
    j.path_for("b.png").write_bytes(journal_entry(image_id="a.png"))         # claims to be a.png's
    assert j.pending() == [] and "names image 'a.png'" in j.damaged[0].reason


def test_non_utf8_names_save_restore_and_discard(tmp_path):
    j = RecoveryJournal(tmp_path)
    labels = np.arange(20, dtype=np.uint8).reshape(4, 5) % 3
    path = j.save(NON_UTF8, labels, np.ones((4, 5), bool), {"base": "model", "image": NON_UTF8})
    assert path.name.isascii() and path == j.path_for(NON_UTF8)
    assert j.path_for(NON_UTF8) != j.path_for(os.fsdecode(b"\xe8t\xe9.png"))   # distinct bytes, distinct entries
    [entry] = j.pending()
    assert entry.image_id == NON_UTF8 and entry.meta["image"] == NON_UTF8
    np.testing.assert_array_equal(j.restore(NON_UTF8, n_classes=3).labels, labels)
    j.discard(NON_UTF8)
    assert j.pending() == [] and not j.has(NON_UTF8)


def test_utf8_names_keep_their_entry_file_name(tmp_path):
    """os.fsencode of a UTF-8 name is its UTF-8 bytes: entries written before this change are still found."""
    import hashlib
    j = RecoveryJournal(tmp_path)
    name = "café.png"
    assert j.path_for(name).name.endswith(hashlib.sha1(name.encode("utf-8")).hexdigest()[:16] + ".recovery.npz")


def test_restore_of_a_missing_entry_is_a_clear_error(tmp_path):
    with pytest.raises(LabelIOError, match="no recovery entry"):
        RecoveryJournal(tmp_path).restore("nothing.png")
