"""The model of the session: loading a checkpoint, moving it to another device, running its weights by another
inference pipeline. Each is one job in the model lane (newest wins); the network is built in the worker.

ModelLoader owns the loaded checkpoint (``loaded``), its own pipeline, the device preference and the lock that
keeps a device move from overlapping a forward pass. It answers with ``ready``; the session then reconciles the
folder's classes, restores what waited for the class count and predicts again. Widget-free.
"""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.checkpoints import load_checkpoint, with_pipeline
from engine.errors import EngineError
from engine.models.device import describe, pick_device
from engine.predict import Predictor, alpha_background


class ModelLoader(QObject):
    ready = Signal(bool, bool, object)   # (other weights, by a pipeline switch, Predictor): ``loaded`` is them now
    loading = Signal(object)             # Path of the checkpoint asked for (the folder's settings compare it)
    device_changed = Signal(str)         # human-readable device in use
    activity = Signal(str)
    error = Signal(str)

    def __init__(self, lane, parent: QObject | None = None):
        super().__init__(parent)
        self.lane = lane
        self.loaded = None                  # the engine.checkpoints checkpoint in use, or None
        self.own_pipeline: str | None = None   # the loaded checkpoint's own inference pipeline
        self.device_pref = "auto"
        self.lock = threading.Lock()        # a device move must not overlap a forward pass
        lane.finished.connect(self._on_ready)

    def alpha_background(self) -> tuple[int, int, int]:
        """What transparent pixels of an RGBA image are composited onto (see engine.predict.alpha_background)."""
        return alpha_background(self.loaded.spec if self.loaded is not None else None)

    def load(self, path: str | Path) -> None:
        """Load a checkpoint in the background."""
        path, pref, lock = Path(path), self.device_pref, self.lock
        self.loading.emit(path)
        self.activity.emit(f"Loading model {path.name}…")

        def job(cancel, report):
            loaded = load_checkpoint(path)
            with lock:
                return loaded, Predictor(loaded, device=pref)
        self.lane.submit(("model", str(path), pref), job)

    def set_device(self, pref: str) -> None:
        """Move the model to another device ('auto', 'cpu', 'cuda:0', ...)."""
        try:
            device = pick_device(pref)
        except EngineError as exc:   # (which device runs instead: a walk's warning did not say)
            self.error.emit(f"{exc}; using {describe(pick_device(self.device_pref))} ({self.device_pref})")
            return
        self.device_pref = pref
        if self.loaded is None:
            self.device_changed.emit(describe(device))
            return
        loaded, lock = self.loaded, self.lock
        self.activity.emit(f"Moving model to {describe(device)}…")

        def job(cancel, report):
            with lock:
                return loaded, Predictor(loaded, device=pref)
        self.lane.submit(("device", pref), job)

    def set_pipeline(self, name: str) -> None:
        """Run the loaded weights by another inference pipeline ('caffe' / 'kazuto')."""
        loaded, pref, lock = self.loaded, self.device_pref, self.lock
        if loaded is None or name == loaded.spec.pipeline:
            return
        self.activity.emit(f"Switching to the {name} pipeline…")

        def job(cancel, report):
            switched = with_pipeline(loaded, name)
            with lock:
                return switched, Predictor(switched, device=pref)
        self.lane.submit(("pipeline", name), job)

    def _on_ready(self, key, result) -> None:
        loaded, predictor = result
        switched = key[0] == "pipeline"
        another = loaded is not self.loaded and not switched   # a pipeline switch keeps the classes
        changed = loaded is not self.loaded
        self.loaded = loaded
        if another:
            self.own_pipeline = loaded.spec.pipeline
        self.ready.emit(changed, switched, predictor)
