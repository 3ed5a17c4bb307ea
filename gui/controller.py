"""Binds the engine objects of one session (folder, current image, model, CRF) to background lanes.

Widget-free, so the flow can be driven and tested without a window. Every request is keyed by
the image token and the generation of its inputs; a result is applied only if its key still
matches the current state, otherwise it is dropped (see gui.workers.Lane). Hand edits go through
``editor`` (undo stacks), are autosaved by ``recovery`` and constrain the CRF as locked pixels;
``prefetch`` predicts the next images ahead of the user.
"""
from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.checkpoints import load_checkpoint, with_pipeline
from engine.crf import DEFAULT_BACKEND, PRESETS, CRFParams
from engine.crf.constraints import run_constrained
from engine.crf_runner import CRFRunner
from engine.dataset import Dataset, Status
from engine.device import describe, pick_device
from engine.errors import EngineError
from engine.image_state import ImageState
from engine.io.images import read_image
from engine.overlays import uncertainty
from engine.predict import Predictor
from gui.controller_edits import HandEditsMixin, _RunnerSession
from gui.editor import Editor
from gui.prefetch import Prefetcher
from gui.recovery import Recovery
from gui.workers import Lane

PREVIEW_INTERVAL = 0.06  # s between CRF label previews sent to the window: enough to follow, little GUI work


def _preview_reporter(report):
    """on_iteration for a CRF job: progress text, plus the label map of an unfinished run (at most one per
    PREVIEW_INTERVAL), so the window shows the result improving while a slider change is still iterating."""
    last = [float("-inf")]

    def on_iteration(i, n, preview=None):
        send = None
        if callable(preview) and i < n:  # a label-map preview (fast CRF): computed only when it will be shown
            now = time.monotonic()
            if now - last[0] >= PREVIEW_INTERVAL:
                last[0], send = now, preview()
        report(i, n, f"CRF iteration {i}/{n}", send)
    return on_iteration


class AnnotatorController(HandEditsMixin, QObject):
    folder_opened = Signal()
    image_opened = Signal()            # a new ImageState (None if the file could not be read): views reset
    results_changed = Signal()         # probabilities / CRF / labels of the current image changed
    preview_changed = Signal()         # a running CRF's label preview of the current image changed
    status_changed = Signal(int, str)  # dataset index, Status value
    model_changed = Signal()           # model or class list changed
    device_changed = Signal(str)       # human-readable device in use
    activity = Signal(str)             # what is running / last outcome, for the status bar
    progress = Signal(int, int, str)   # done, total (0 = unknown), text
    busy_changed = Signal(bool)
    error = Signal(str)
    save_failed = Signal(str)          # a save hit the disk (read-only, full): the edits stay in memory
    score_changed = Signal(int, float)  # dataset index, mean uncertainty of its prediction
    order_changed = Signal()           # the display/navigation order of the folder changed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.dataset: Dataset | None = None
        self.state: ImageState | None = None
        self.loaded = None
        self.own_pipeline: str | None = None  # the loaded checkpoint's own inference pipeline
        self.predictor: Predictor | None = None
        self.class_list = None
        self.params: CRFParams = PRESETS["deeplab-v1"]
        self.device_pref = "auto"
        self.backend_name = DEFAULT_BACKEND
        self._crf = CRFRunner(self.backend_name)  # used from the CRF lane only (and closed here)
        self.warm = False                          # CRF kernels loaded (see warm_up)
        self._tokens = itertools.count(1)
        self.model_gen = 0
        self._pred_gen = 0
        self.model_lock = threading.Lock()   # a device move must not overlap a forward pass
        self.index = -1                      # image shown or being opened
        self.order: list[int] = []           # dataset indices in display/navigation order
        self.scores: dict[int, float] = {}   # mean uncertainty of each image predicted so far
        self.auto_refine = True              # re-run the CRF with the locks after each hand edit
        self.ask_restore = lambda entries: True  # the window asks the user; headless: restore
        self._kept: dict[str, object] = {}   # image path -> EditableLabels of a saved image
        self.editor = Editor(self, self)
        self.editor.edit_finished.connect(self._after_edit)
        self.prefetch = Prefetcher(self, parent=self)
        self.prefetch.scored.connect(self._set_score)
        self.prefetch.done.connect(self._on_prefetched)
        self.recovery = Recovery(self, self)
        self.recovery.error.connect(self.error)
        self.lanes = {name: Lane(name, self) for name in ("model", "image", "predict", "crf")}
        for lane in self.lanes.values():
            lane.busy_changed.connect(self._on_busy)
            lane.failed.connect(self._on_failed)
            lane.progress.connect(lambda _k, d, t, s: self.progress.emit(d, t, s))
        self.lanes["model"].finished.connect(self._on_model_ready)
        self.lanes["image"].finished.connect(self._on_image_loaded)
        self.lanes["image"].failed.connect(lambda _k, _m: self.image_opened.emit())  # state None: nothing shown
        self.lanes["predict"].finished.connect(self._on_prediction)
        self.lanes["crf"].finished.connect(self._on_crf)
        self.lanes["crf"].preview.connect(self._on_crf_preview)

    # ----- folder and images ---------------------------------------------------------------------
    def open_folder(self, folder: str | Path) -> bool:
        """Open a folder of images (caller has dealt with unsaved work). False on error."""
        try:
            dataset = Dataset(folder)
        except EngineError as exc:
            self.error.emit(str(exc))
            return False
        for name in ("image", "predict", "crf"):
            self.lanes[name].cancel()
        self.prefetch.clear()
        self.editor.forget()
        self._kept.clear()
        self.dataset, self.state, self.index = dataset, None, -1
        self.order, self.scores = list(range(len(dataset))), {}
        pending = self.recovery.open(dataset)
        if pending and self.ask_restore(pending):
            self.recovery.accept(dataset, pending)
            for i in self.recovery.recovered:
                dataset.set_status(i, Status.EDITED)
        elif pending:
            self.recovery.decline(pending)
        self.folder_opened.emit()
        if len(dataset) == 0:
            self.activity.emit(f"No images in {dataset.folder}")
            return True
        return self.open_index(0)

    def open_index(self, index: int) -> bool:
        """Load image ``index`` in the background, then predict it (caller has dealt with unsaved work).
        Until it arrives ``state`` is None and ``index`` already names the new image."""
        if self.dataset is None or not 0 <= index < len(self.dataset):
            return False
        for name in ("image", "predict", "crf"):
            self.lanes[name].cancel()
        self.prefetch.cancel(keep=index)   # if image ``index`` is being prefetched, its result is awaited
        if self.state is not None:
            self.state.crf_preview = None  # its CRF run was just cancelled
        self._keep(self.state)
        dataset, entry, token = self.dataset, self.dataset[index], next(self._tokens)
        cached = self.prefetch.take(index)
        self.state, self.index = None, index
        self.editor.bind(None)
        self.activity.emit(f"Opening {entry.path.name}…")

        def job(cancel, report):
            # decoding a large TIFF/JPEG is not GUI-thread work
            image = read_image(entry.path) if cached is None else cached[0]
            saved, problem = None, None
            try:
                saved = dataset.load_labels(index)
                if saved is not None and saved.shape != image.shape[:2]:
                    saved, problem = None, (f"{entry.label_path}: label size {saved.shape} does not match the "
                                            f"image {image.shape[:2]}; it will be replaced when you save")
            except EngineError as exc:
                problem = str(exc)
            return image, saved, problem, cached
        self.lanes["image"].submit(("image", token, index), job)
        return True

    def _on_image_loaded(self, key, result) -> None:
        _, token, index = key
        if self.dataset is None or index != self.index:
            return
        image, saved, problem, cached = result
        state = ImageState(index=index, path=self.dataset[index].path, image=image, token=token)
        if saved is not None:
            state.set_saved_labels(saved)
            kept = self._kept.pop(str(state.path), None)
            if kept is not None and np.array_equal(kept.labels, saved):
                state.edits = kept               # same labels as on disk: bring back locks and undo history
        if index in self.recovery.recovered:
            self.recovery.restore_into(state, self.dataset.image_id(index))
        self.state = state
        self.editor.bind(state)
        self.image_opened.emit()
        if problem:
            self.error.emit(problem)
        self._sync_status()
        cached = cached or self.prefetch.take(index)
        if cached is not None and self.predictor is not None:
            self._apply_prediction(state, cached[1], cached[2])   # prefetched: no waiting
        elif self.prefetch.inflight != index:
            self.request_predict()                                # else _on_prefetched takes it

    def save(self) -> bool:
        """Write the current labels (atomic) and class_names.txt. False (and an error) if not possible."""
        st = self.state
        if st is None or st.labels is None or self.dataset is None:
            self.error.emit("Nothing to save yet: no labels for this image.")
            return False
        class_list = self.class_list
        if class_list is None:
            self.error.emit("Load a model or pick a class list before saving.")
            return False
        entry = self.dataset[st.index]
        try:
            record = st.provenance(self.loaded, self.backend_name, entry.label_path)
            path = self.dataset.save(st.index, st.labels, class_list, provenance=record)
        except EngineError as exc:
            self.error.emit(str(exc))
            self.save_failed.emit(str(exc))
            self._sync_status()
            return False
        st.mark_saved()
        self._sync_status()
        self.recovery.discard(st.index)
        self.activity.emit(f"Saved {path}")
        return True

    # ----- model, device, class list -------------------------------------------------------------
    def load_model(self, path: str | Path) -> None:
        """Load a checkpoint in the background; the current image is predicted again when ready."""
        path, pref = Path(path), self.device_pref
        self.activity.emit(f"Loading model {path.name}…")

        def job(cancel, report):
            loaded = load_checkpoint(path)
            with self.model_lock:
                return loaded, Predictor(loaded, device=pref)
        self.lanes["model"].submit(("model", str(path), pref), job)

    def set_device(self, pref: str) -> None:
        """Move the model to another device ('auto', 'cpu', 'cuda:0', ...)."""
        try:
            device = pick_device(pref)
        except EngineError as exc:
            self.error.emit(str(exc))
            return
        self.device_pref = pref
        if self.loaded is None:
            self.device_changed.emit(describe(device))
            return
        loaded = self.loaded
        self.activity.emit(f"Moving model to {describe(device)}…")

        def job(cancel, report):
            with self.model_lock:
                return loaded, Predictor(loaded, device=pref)
        self.lanes["model"].submit(("device", pref), job)

    def set_pipeline(self, name: str) -> None:
        """Run the loaded weights by another inference pipeline ('caffe' / 'kazuto'); predicted again when ready."""
        loaded, pref = self.loaded, self.device_pref
        if loaded is None or name == loaded.spec.pipeline:
            return
        self.activity.emit(f"Switching to the {name} pipeline…")

        def job(cancel, report):
            switched = with_pipeline(loaded, name)
            with self.model_lock:
                return switched, Predictor(switched, device=pref)
        self.lanes["model"].submit(("pipeline", name), job)

    def set_class_list(self, class_list) -> bool:
        """Use other names/colours for the model's classes; the count must match the model."""
        if class_list is None and self.loaded is not None:
            class_list = self.loaded.spec.class_list()
        n = self.loaded.spec.n_classes if self.loaded is not None else None
        if class_list is None or (n is not None and len(class_list) != n):
            self.error.emit(f"The class list has {len(class_list) if class_list else 0} classes but the model "
                            f"predicts {n}; pick a list with {n} names.")
            return False
        self.class_list = class_list
        self.model_changed.emit()
        return True

    def _on_model_ready(self, key, result) -> None:
        loaded, predictor = result
        is_new_model = loaded is not self.loaded and key[0] != "pipeline"  # a pipeline switch keeps the classes
        if loaded is not self.loaded:
            self.scores = {}
            self.prefetch.clear()
        self.loaded, self.predictor = loaded, predictor
        if is_new_model:
            self.class_list = loaded.spec.class_list()
            self.own_pipeline = loaded.spec.pipeline
        self.model_gen += 1
        self.device_changed.emit(describe(predictor.device))
        self.model_changed.emit()
        self.activity.emit(f"Model {loaded.spec.name or Path(loaded.path).name} ({loaded.spec.pipeline} pipeline) "
                           f"on {describe(predictor.device)}")
        self.request_predict()

    # ----- prediction ----------------------------------------------------------------------------
    def request_predict(self) -> None:
        st, predictor = self.state, self.predictor
        if st is None:
            return
        if predictor is None:
            if not self.lanes["model"].busy:
                self.activity.emit("No model loaded: use Model > Load checkpoint…")
            return
        self.lanes["crf"].cancel()
        self._crf.prestart()  # an isolated CRF's process starts while the network runs
        self.activity.emit(f"Predicting {st.path.name}…")

        def job(cancel, report):
            with self.model_lock:
                probs = predictor.predict(st.image, should_cancel=cancel,
                                          on_progress=lambda stage, frac: report(0, 0, f"Predicting: {stage}"))
            return probs, uncertainty(probs)
        self.lanes["predict"].submit(("predict", st.token, self.model_gen), job)

    def _on_prediction(self, key, result) -> None:
        st = self.state
        if st is None or key != ("predict", st.token, self.model_gen):
            return  # the lane already drops superseded keys; this guards state swaps in between
        self._apply_prediction(st, *result)

    def _apply_prediction(self, st: ImageState, probs, unc) -> None:
        if self.class_list is not None and probs.shape[0] != len(self.class_list):
            self.error.emit(f"The model gave {probs.shape[0]} classes but the class list has {len(self.class_list)}.")
            return
        st.set_prediction(probs, unc)
        self._pred_gen += 1
        self._set_score(st.index, float(st.unc.mean(dtype=np.float64)))
        self._sync_status()
        self.results_changed.emit()
        self.request_crf()

    # ----- CRF -----------------------------------------------------------------------------------
    def set_params(self, params: CRFParams) -> None:
        self.params = params
        self.request_crf()

    def set_backend(self, name: str) -> None:
        try:
            runner = CRFRunner(name)
        except EngineError as exc:
            self.error.emit(str(exc))
            return
        self.lanes["crf"].cancel()
        self._crf.close()
        self._crf, self.backend_name, self.warm = runner, name, False
        self.warm_up()
        self.request_crf()

    def warm_up(self) -> None:
        """Load the CRF kernels (or start its process) now, in the CRF lane: see CRFRunner.warm_up."""
        runner = self._crf
        self.lanes["crf"].submit(("warm-up", self.backend_name), lambda cancel, report: runner.warm_up())

    def _crf_key(self, st: ImageState, params: CRFParams):
        return ("crf", st.token, self._pred_gen, params, self.backend_name)

    def request_crf(self) -> None:
        st, params = self.state, self.params
        if st is None or st.probs is None:
            return
        if params.iterations == 0:  # CRF off: the raw argmax is the result (locked pixels kept by set_crf)
            self.lanes["crf"].cancel()
            st.set_crf(st.probs, st.raw_labels, params, st.unc)
            self._sync_status()
            self.results_changed.emit()
            self.prefetch.schedule(st.index)
            return
        probs, image, token, runner = st.probs, st.image, st.token, self._crf
        locks = st.lock_constraints()  # hand edits: hard unaries, and kept whatever the CRF says
        self.activity.emit(f"Refining with CRF ({self.backend_name})…")

        def job(cancel, report):
            session = _RunnerSession(runner, token, image)
            on_iteration = _preview_reporter(report)
            if locks is None:
                res = session.run(probs, params, should_cancel=cancel, on_iteration=on_iteration)
            else:
                res = run_constrained(session, probs, params, locks[0], locks[1], should_cancel=cancel,
                                      on_iteration=on_iteration)
            return res.probs, res.labels, uncertainty(res.probs), res.note
        self.lanes["crf"].submit(self._crf_key(st, params), job)

    def _on_crf_preview(self, key, labels) -> None:
        st = self.state
        if st is None or key != self._crf_key(st, self.params) or labels.shape != st.shape:
            return
        if st.set_crf_preview(labels):
            self.preview_changed.emit()

    def _on_crf(self, key, result) -> None:
        self.warm = True
        if key[0] == "warm-up":
            return
        st = self.state
        if st is None or key != self._crf_key(st, self.params):
            return
        probs, labels, unc, note = result
        st.set_crf(probs, labels, self.params, unc)
        self._sync_status()
        self.results_changed.emit()
        self.activity.emit(f"Ready: {st.path.name}" + (f" ({note})" if note else ""))
        self.prefetch.schedule(st.index)

    # ----- misc ----------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop prediction and CRF for now (a new request starts them again)."""
        busy = self.busy
        for name in ("predict", "crf"):
            self.lanes[name].cancel()
        self._drop_crf_preview()
        if busy:
            self.activity.emit("Cancelled")

    def _drop_crf_preview(self) -> None:
        """The CRF run behind the preview will not finish: show the labels it would have replaced."""
        st = self.state
        if st is not None and st.crf_preview is not None:
            st.crf_preview = None
            self.preview_changed.emit()

    @property
    def busy(self) -> bool:
        return any(lane.busy for lane in self.lanes.values())

    def wait_idle(self, msecs: int = 30000) -> bool:
        return all(lane.wait(msecs) for lane in self.lanes.values()) and self.prefetch.wait(msecs)

    def shutdown(self) -> None:
        self.prefetch.cancel()
        for lane in self.lanes.values():
            lane.cancel()
        self.wait_idle(5000)
        self._crf.close()

    def _on_busy(self, _busy: bool) -> None:
        self.busy_changed.emit(self.busy)

    def _on_failed(self, key, message: str) -> None:
        if isinstance(key, tuple) and key and key[0] == "crf":
            self._drop_crf_preview()
        self.error.emit(message)

    def _sync_status(self) -> ImageState | None:
        """Push the current image's derived status to the dataset and views; autosave follows it."""
        st = self.state
        if st is None or self.dataset is None:
            return None
        status = st.status
        self.dataset.set_status(st.index, status)
        self.status_changed.emit(st.index, status.value)
        self.recovery.schedule()
        return st
