"""The one per-image history store (gui.session.history.ImageHistory): an image's label map and undo stack live
while it is open, stay after it only while its labels are on disk, and the store holds at most its cap of closed
images, by count and by bytes, dropping the least recently left first when the next image opens; the open image
is never dropped."""
from PySide6.QtGui import QUndoCommand, QUndoGroup

from engine.annotate.edits import EditableLabels
from gui.session.history import ImageHistory, entry_bytes


class _Edit(QUndoCommand):
    """An undo command carrying a region edit, as the editor pushes them."""

    def __init__(self, edit):
        super().__init__("stroke")
        self.edit = edit


def _image(history, key, h=40, w=50, strokes=1):
    """Open ``key``, paint ``strokes`` strokes on it (one undo command each) and return its label map."""
    labels = EditableLabels.blank(h, w, 3)
    stack = history.activate(key, labels)
    for i in range(strokes):
        stack.push(_Edit(labels.brush([(5 + i, 5), (20 + i, 10)], 3, 1)))
    return labels


def test_the_count_cap_drops_the_least_recently_left_and_never_the_open_image(qapp):
    history = ImageHistory(QUndoGroup(), max_images=2, max_bytes=10**9)
    kept = {}
    for key in "abcd":
        kept[key] = _image(history, key)
        history.leave(key, keep=True)
    open_now = _image(history, "e")
    assert [k for k in "abcd" if history.kept_labels(k) is not None] == ["c", "d"]
    assert history.kept_labels("c") is kept["c"] and history.kept_labels("e") is open_now
    assert len(history) == 3                      # two closed images and the open one


def test_the_byte_cap_counts_label_maps_locks_and_undo_records(qapp):
    probe = ImageHistory(QUndoGroup())
    labels = _image(probe, "probe", strokes=3)
    one = entry_bytes(labels, probe.group.activeStack())
    assert one > labels.labels.nbytes + labels.locked.nbytes   # the three undo records count too
    history = ImageHistory(QUndoGroup(), max_images=100, max_bytes=int(2.5 * one))
    for key in "abcd":
        _image(history, key, strokes=3)
        history.leave(key, keep=True)
    opened = _image(history, "e", strokes=3)     # the caps apply as the next image opens
    assert [k for k in "abcd" if history.kept_labels(k) is not None] == ["c", "d"]
    assert history.total_bytes() - entry_bytes(opened, history.group.activeStack()) <= 2.5 * one


def test_an_image_left_without_labels_on_disk_keeps_no_history(qapp):
    history = ImageHistory(QUndoGroup())
    _image(history, "a")
    history.leave("a", keep=False)
    assert history.kept_labels("a") is None and len(history) == 0


def test_coming_back_keeps_the_stack_only_for_the_same_label_map(qapp):
    history = ImageHistory(QUndoGroup())
    labels = _image(history, "a", strokes=2)
    history.leave("a", keep=True)
    assert history.activate("a", labels).count() == 2                          # same map: undo history back
    history.leave("a", keep=True)
    assert history.activate("a", EditableLabels.blank(40, 50, 3)).count() == 0  # read afresh: a clean stack


def test_clear_drops_everything_for_a_new_folder(qapp):
    history = ImageHistory(QUndoGroup())
    for key in "ab":
        _image(history, key)
        history.leave(key, keep=True)
    history.clear()
    assert len(history) == 0 and history.group.activeStack() is None


class _Copyable(_Edit):
    def copy(self):
        return _Copyable(self.edit)


def test_the_open_images_undo_records_are_capped_by_bytes_oldest_first(qapp, monkeypatch):
    """A walk filled a 6 MP image 40 times: 1 GB of undo records, no cap. The open image keeps its newest records
    within OPEN_UNDO_BYTES (the last one always), in a stack that is still the group's active one."""
    from gui.session import history as history_mod

    history = ImageHistory(QUndoGroup())
    labels = EditableLabels.blank(40, 50, 3)
    history.activate("a", labels)
    one = entry_bytes(None, _one_record_stack(labels))
    monkeypatch.setattr(history_mod, "OPEN_UNDO_BYTES", 3 * one)
    edits = []
    for i in range(7):
        stack = history.group.activeStack()
        edit = labels.brush([(5 + i, 5), (20 + i, 10)], 3, 1 + i % 2)
        edits.append(edit)
        stack.push(_Copyable(edit))
        history.trim_open()
    stack = history.group.activeStack()
    assert stack.count() == 3 and entry_bytes(None, stack) <= 3 * one
    assert [stack.command(i).edit for i in range(3)] == edits[-3:]     # the newest, in order
    assert history.kept_labels("a") is labels and stack.canUndo() and stack.index() == 3


def _one_record_stack(labels):
    from PySide6.QtGui import QUndoStack
    stack = QUndoStack()
    stack.push(_Edit(labels.brush([(5, 5), (20, 10)], 3, 1)))
    return stack
