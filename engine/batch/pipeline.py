"""Pre-labelling in one process: the sequential loop, and the pipeline in which the stages overlap.

Pipeline: a reader thread decodes the next images, the network thread predicts one while the CRF thread refines
the one before (torch and the numba CRF release the GIL), and the caller's thread receives the outcomes (and
writes them). Queues between the stages are short, so at most a few images and probability maps are in memory.
Outcomes come in input order. A failing image becomes an error outcome and the rest carry on; cancelling (or the
caller dropping the generator) stops every stage at its next check, and unfinished images are not reported.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator

from ..errors import Cancelled
from .plan import Item
from .stages import NetworkStage, Outcome, RefineStage, describe_error, read_stage

_END = object()
_POLL = 0.05  # s between looks at the stop flag while a queue is full or empty


def _do(outcome: Outcome, fn) -> bool:
    """Run one stage for an outcome still without error; False if it was cancelled (drop it)."""
    if outcome.error:
        return True
    try:
        fn()
    except Cancelled:
        return False
    except Exception as exc:  # noqa: BLE001 - one bad image must not stop the run
        outcome.error = describe_error(outcome.item, exc)
    return True


def _process(item: Item, network: NetworkStage, refine: RefineStage, should_cancel=None) -> Outcome | None:
    """All stages of one image in the calling thread (the sequential loop)."""
    out, data = Outcome(item), {}

    def read():
        data["image"] = read_stage(item)

    def net():
        data["probs"] = network(data["image"], should_cancel)

    def crf():
        out.labels, out.mean_uncertainty = refine(data["image"], data["probs"], should_cancel)

    for fn in (read, net, crf):
        if not _do(out, fn):
            return None
    return out


def sequential(items: Iterable[Item], network: NetworkStage, refine: RefineStage,
               should_cancel: Callable[[], bool] | None = None) -> Iterator[Outcome]:
    """One image after the other, each stage waiting for the one before: the baseline the pipeline is measured
    against (bench/prelabel.py)."""
    network.pin_threads()
    for item in items:
        if should_cancel is not None and should_cancel():
            return
        out = _process(item, network, refine, should_cancel)
        if out is None:
            return
        yield out


def _get(q: queue.Queue, stop: threading.Event):
    while not stop.is_set():
        try:
            return q.get(timeout=_POLL)
        except queue.Empty:
            continue
    return _END


def _put(q: queue.Queue, msg, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(msg, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False


def pipelined(items: Iterable[Item], network: NetworkStage, refine: RefineStage,
              should_cancel: Callable[[], bool] | None = None, depth: int = 2) -> Iterator[Outcome]:
    """The same work as `sequential`, with reading, the network and the CRF of different images overlapping."""
    stop = threading.Event()
    cancelled = stop.is_set
    to_net: queue.Queue = queue.Queue(maxsize=depth)
    to_crf: queue.Queue = queue.Queue(maxsize=depth)
    done: queue.Queue = queue.Queue()

    def reader():
        for item in items:
            out, data = Outcome(item), {}

            def read():
                data["image"] = read_stage(item)
            _do(out, read)
            if not _put(to_net, (out, data), stop):
                return
        _put(to_net, _END, stop)

    def net():
        network.pin_threads()
        while (msg := _get(to_net, stop)) is not _END:
            out, data = msg
            if not _do(out, lambda: data.__setitem__("probs", network(data["image"], cancelled))):
                return
            if not _put(to_crf, msg, stop):
                return
        _put(to_crf, _END, stop)

    def crf():
        while (msg := _get(to_crf, stop)) is not _END:
            out, data = msg

            def run():
                out.labels, out.mean_uncertainty = refine(data["image"], data["probs"], cancelled)
            if not _do(out, run):
                return
            data.clear()  # the image and probabilities are not needed any more
            done.put(out)
        done.put(_END)

    threads = [threading.Thread(target=fn, name=f"prelabel-{fn.__name__}", daemon=True) for fn in (reader, net, crf)]
    for t in threads:
        t.start()
    try:
        while True:
            if should_cancel is not None and should_cancel():
                return
            try:
                msg = done.get(timeout=_POLL)
            except queue.Empty:
                if not threads[-1].is_alive() and done.empty():
                    return  # the CRF thread ended without its end mark: it was stopped
                continue
            if msg is _END:
                return
            yield msg
    finally:
        stop.set()
        for t in threads:
            t.join()
