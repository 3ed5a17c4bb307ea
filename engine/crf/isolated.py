"""Run a CRF backend that holds the GIL (pydensecrf) in a child process.

pydensecrf keeps the GIL for its whole inference (seconds at 0.5 MP), so in a thread it would
freeze the GUI. A persistent child process keeps the parent responsive; it caches the session of
the last image, and cancelling kills it (pydensecrf cannot stop mid-run), a new one starts on the
next request. Backends that release the GIL (``backend.releases_gil``) run in a thread instead.
"""
from __future__ import annotations

import multiprocessing as mp
import threading

import numpy as np

from engine.crf.base import CRFResult, progress_only
from engine.errors import Cancelled, EngineError

_POLL_S = 0.02


def needs_process(backend) -> bool:
    """True when the backend's session.run would block other Python threads."""
    return not getattr(backend, "releases_gil", False)


def _serve(conn, backend_name: str) -> None:
    """Child loop: ('image', key, rgb) sets the image; ('run', key, probs, params) answers
    ('iter', i, n) messages, then ('ok', probs, labels) or ('err', kind, message)."""
    from engine.crf import get_backend

    backend = get_backend(backend_name)
    session_key, session = None, None
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "image":
            session_key, session = msg[1], backend.session(msg[2])
        elif msg[0] == "run":
            _, key, probs, params = msg
            try:
                if key != session_key:
                    raise EngineError("CRF worker got probabilities for an image it does not hold")
                progress = progress_only(lambda i, n, q=None: conn.send(("iter", i, n)))
                res = session.run(probs, params, on_iteration=progress)
                conn.send(("ok", res.probs, res.labels))
            except EngineError as exc:
                conn.send(("err", "engine", str(exc)))
            except Exception as exc:  # noqa: BLE001 - report, keep serving
                conn.send(("err", "crash", f"{type(exc).__name__}: {exc}"))
        elif msg[0] == "ping":
            conn.send(("pong",))
        elif msg[0] == "stop":
            return


class IsolatedCRF:
    """A backend's sessions run in one child process; call ``run`` from one thread at a time.

    After a cancel has killed the child, a spare child is kept warm, so the next request does not
    wait for a process start (imports take seconds once torch/numba are in engine.crf)."""

    def __init__(self, backend_name: str):
        self.backend_name = backend_name
        self._ctx = mp.get_context("spawn")  # fork after Qt/torch threads is unsafe
        self._proc = None
        self._conn = None
        self._spare = None                   # (process, connection) started ahead of need
        self._image_key = None
        self._closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the child now, e.g. while the model predicts. Never blocks on a running job."""
        if not self._closed and self._lock.acquire(blocking=False):
            try:
                self._ensure()
            finally:
                self._lock.release()

    def warm_up(self, timeout_s: float = 60.0) -> None:
        """Start the child and wait until it has imported the backend (seconds on a cold start)."""
        with self._lock:
            self._ensure()
            try:
                self._conn.send(("ping",))
                if not self._conn.poll(timeout_s):
                    raise EngineError(f"the CRF worker process ({self.backend_name}) did not start in {timeout_s:.0f} s")
                self._conn.recv()
            except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
                self._kill()
                raise EngineError(f"the CRF worker process ({self.backend_name}) failed to start: {exc}") from exc

    def _spawn(self):
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve, args=(child, self.backend_name), daemon=True,
                                 name=f"crf-{self.backend_name}")
        proc.start()
        child.close()
        return proc, parent

    def _ensure(self) -> None:
        if self._closed:
            raise EngineError(f"the CRF worker ({self.backend_name}) was closed")
        if self._proc is not None and self._proc.is_alive():
            return
        if self._spare is not None and self._spare[0].is_alive():
            (self._proc, self._conn), self._spare = self._spare, None
        else:
            self._proc, self._conn = self._spawn()
        self._image_key = None

    def run(self, image_key, image_rgb: np.ndarray, probs: np.ndarray, params, should_cancel=None,
            on_iteration=None) -> CRFResult:
        """Like session.run, for the image identified by image_key (sent once per image)."""
        with self._lock:
            self._ensure()
            try:
                if image_key != self._image_key:
                    self._conn.send(("image", image_key, np.ascontiguousarray(image_rgb)))
                    self._image_key = image_key
                self._conn.send(("run", image_key, np.ascontiguousarray(probs, dtype=np.float32), params))
                while True:
                    while not self._conn.poll(_POLL_S):
                        if should_cancel is not None and should_cancel():
                            self._kill()
                            raise Cancelled("CRF cancelled")
                        if not self._proc.is_alive():
                            raise EngineError(f"the CRF worker process ({self.backend_name}) died "
                                              f"(exit code {self._proc.exitcode})")
                    msg = self._conn.recv()
                    if msg[0] == "iter":
                        if on_iteration is not None:
                            on_iteration(msg[1], msg[2], None)
                    elif msg[0] == "ok":
                        return CRFResult(msg[1], msg[2])
                    else:
                        raise EngineError(msg[2])
            except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
                self._kill()
                raise EngineError(f"lost the CRF worker process ({self.backend_name}): {exc}") from exc

    def _kill(self, keep_spare: bool = True) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(2)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = self._image_key = None
        if keep_spare and self._spare is None and not self._closed:
            self._spare = self._spawn()

    def close(self) -> None:
        """Stop the child processes now, without waiting for a run in another thread (that run
        then fails with 'lost the CRF worker process', and its result is stale anyway)."""
        self._closed = True
        for proc in (self._proc, self._spare[0] if self._spare else None):
            if proc is not None and proc.is_alive():
                proc.kill()
        if self._lock.acquire(timeout=2):
            try:
                self._kill(keep_spare=False)
                if self._spare is not None:
                    proc, conn = self._spare
                    proc.join(2)
                    conn.close()
                    self._spare = None
            finally:
                self._lock.release()
