"""The first start after an install compiles the fast CRF's kernels (~40 s, in the CRF lane): the status bar says
so while it runs and when it is done; a warm cache says nothing."""
from PySide6.QtGui import QUndoGroup

from gui.session import crf_requests
from gui.session.crf_requests import COMPILE_STATUS, CRFRequests
from gui.session.history import ImageHistory
from gui.session.lanes import Lane
from gui.session.open_image import OpenImage


def _requests(qtbot, monkeypatch, cached: bool):
    monkeypatch.setattr(crf_requests, "kernels_cached", lambda: cached)
    group = QUndoGroup()
    crf = CRFRequests(OpenImage(ImageHistory(group)), Lane("crf"), Lane("preview"))
    monkeypatch.setattr(crf.runner, "warm_up", lambda: None)   # the compilation itself is not what is tested
    said, progress = [], []
    crf.activity.connect(said.append)
    crf.lane.progress.connect(lambda _key, done, total, text: progress.append(text))
    return crf, said, progress, group


def test_a_cold_cache_is_announced_while_compiling_and_when_done(qtbot, monkeypatch):
    crf, said, progress, _group = _requests(qtbot, monkeypatch, cached=False)
    crf.warm_up()
    qtbot.waitUntil(lambda: crf.warm, timeout=10000)
    assert progress == [COMPILE_STATUS]
    assert len(said) == 1 and said[0].startswith("CRF kernels compiled in ")
    crf.close()


def test_a_warm_cache_says_nothing(qtbot, monkeypatch):
    crf, said, progress, _group = _requests(qtbot, monkeypatch, cached=True)
    crf.warm_up()
    qtbot.waitUntil(lambda: crf.warm, timeout=10000)
    assert progress == [] and said == []
    crf.close()
