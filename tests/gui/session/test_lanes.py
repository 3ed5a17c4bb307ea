"""gui.session.lanes.Lane: newest request wins, stale results are dropped, cancel reaches the job."""
import threading
import time

import pytest

from engine.errors import Cancelled, EngineError
from gui.session.lanes import Lane


@pytest.fixture
def lane(qtbot):
    lane = Lane("test")
    yield lane
    lane.cancel()
    lane.wait(5000)


def test_superseded_result_is_dropped_and_newest_is_delivered(qtbot, lane):
    gate, started = threading.Event(), threading.Event()
    got, dropped = [], []
    lane.finished.connect(lambda k, r: got.append((k, r)))
    lane.dropped.connect(lambda k: dropped.append(k))

    def slow(cancel, report):  # ignores cancel on purpose: a result that arrives late anyway
        started.set()
        gate.wait(5)
        return "old"
    lane.submit(("img", 1), slow)
    assert started.wait(5)
    lane.submit(("img", 2), lambda c, r: "new")
    gate.set()
    qtbot.waitUntil(lambda: bool(got and dropped), timeout=5000)
    assert got == [(("img", 2), "new")]
    assert dropped == [("img", 1)]
    assert not lane.busy


def test_job_superseded_before_it_starts_does_no_work(qtbot, lane):
    gate, started, ran = threading.Event(), threading.Event(), []
    lane.submit(0, lambda c, r: started.set() or gate.wait(5))  # occupies the single worker ...
    assert started.wait(5)  # ... once running (a job superseded before it starts is skipped, not run)
    lane.submit(1, lambda c, r: ran.append(1))         # queued, then superseded
    with qtbot.waitSignal(lane.finished, timeout=5000) as blocker:
        lane.submit(2, lambda c, r: ran.append(2) or "done")
        gate.set()
    assert blocker.args == [2, "done"] and ran == [2]


def test_submit_cancels_the_running_job(qtbot, lane):
    started, saw_cancel = threading.Event(), threading.Event()

    def loop(cancel, report):
        started.set()
        for _ in range(500):
            if cancel():
                saw_cancel.set()
                raise Cancelled("stop")
            time.sleep(0.01)
        return "finished anyway"
    lane.submit(1, loop)
    assert started.wait(5)
    with qtbot.waitSignal(lane.finished, timeout=5000) as blocker:
        lane.submit(2, lambda c, r: 42)
    assert saw_cancel.is_set()
    assert blocker.args == [2, 42]


def test_cancel_forgets_key_and_clears_busy(qtbot, lane):
    gate = threading.Event()
    got = []
    lane.finished.connect(lambda k, r: got.append(k))
    with qtbot.waitSignal(lane.busy_changed, timeout=1000):
        lane.submit(1, lambda c, r: gate.wait(5) and "x")
    assert lane.busy
    lane.cancel()
    assert not lane.busy
    gate.set()
    assert lane.wait(5000)
    qtbot.wait(50)
    assert got == []


def test_errors_and_progress_reach_the_gui_thread(qtbot, lane):
    progress = []
    lane.progress.connect(lambda k, d, t, s: progress.append((d, t, s)))

    def failing(cancel, report):
        report(1, 2, "half")
        raise EngineError("model.pt: not a checkpoint")
    with qtbot.waitSignal(lane.failed, timeout=5000) as blocker:
        lane.submit("k", failing)
    assert blocker.args == ["k", "model.pt: not a checkpoint"]
    assert progress == [(1, 2, "half")]

    with qtbot.waitSignal(lane.failed, timeout=5000) as blocker:
        lane.submit("k2", lambda c, r: 1 / 0)
    assert "ZeroDivisionError" in blocker.args[1]


def test_equal_keys_are_still_distinct_requests(qtbot, lane):
    """Re-submitting the same key (same image, same settings) must not let the first job's
    cancellation end the second one."""
    gate, got = threading.Event(), []
    lane.finished.connect(lambda k, r: got.append(r))
    lane.submit("same", lambda c, r: gate.wait(5) and "first")
    lane.submit("same", lambda c, r: "second")
    gate.set()
    qtbot.waitUntil(lambda: got == ["second"], timeout=5000)
    assert not lane.busy
