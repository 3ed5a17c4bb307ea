"""The work done for one image, split where it can overlap: read (disk, decode), network (GPU or CPU threads),
refine (CRF on the CPU, plus the image's mean uncertainty). Every runner calls these same functions, which is why
the sequential loop, the threaded pipeline and Ray produce the same labels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..crf.base import labels_from_probs
from ..errors import EngineError, check_cancel
from ..io.images import read_image
from ..uncertainty import mean_uncertainty
from .plan import Item
from .settings import PrelabelSettings


@dataclass
class Outcome:
    """What became of one image: labels (H,W) uint8 and the mean uncertainty of its network probabilities, or an
    error message naming the file. ``worker`` holds facts about where it ran (Ray: pid and peak RSS per stage)."""
    item: Item
    labels: np.ndarray | None = None
    mean_uncertainty: float | None = None
    error: str = ""
    worker: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.error


def describe_error(item: Item, exc: BaseException) -> str:
    """A message that names the image. Engine errors already say what is wrong with which file."""
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, EngineError):
        text = f"{type(exc).__name__}: {text}"
    return text if item.name in text else f"{item.name}: {text}"


def read_stage(item: Item) -> np.ndarray:
    """(H,W,3) uint8 RGB with the run's band choice and scaling; ImageReadError for a missing or broken file."""
    return read_image(item.path, scaling=item.scaling)


class NetworkStage:
    """Image -> (C,H,W) float32 probabilities with a Predictor. ``lock``: held around each forward pass when the
    predictor is shared (the window's model, which a device move must not change mid-pass)."""

    def __init__(self, predictor, threads: int | None = None, lock=None, channel_map=None):
        self.predictor, self.threads, self.lock, self.channel_map = predictor, threads, lock, channel_map

    @classmethod
    def from_loaded(cls, loaded, settings: PrelabelSettings, lock=None) -> "NetworkStage":
        from ..predict import Predictor

        return cls(Predictor(loaded, device=settings.device, strategy=settings.strategy), settings.net_threads, lock,
                   settings.channel_map)

    def pin_threads(self) -> None:
        """torch's CPU threads are per process: call once in the process (or before the thread) that predicts."""
        if self.threads is not None:
            import torch

            if torch.get_num_threads() != self.threads:
                torch.set_num_threads(int(self.threads))

    def __call__(self, image: np.ndarray, should_cancel=None) -> np.ndarray:
        if self.lock is None:
            probs = self.predictor.predict(image, should_cancel=should_cancel)
        else:
            with self.lock:
                probs = self.predictor.predict(image, should_cancel=should_cancel)
        return probs if self.channel_map is None else self.channel_map.apply(probs)


class RefineStage:
    """(image, probabilities) -> (labels (H,W) uint8, mean uncertainty of the probabilities). The CRF runs on the
    CPU with the run's parameters; without parameters the labels are the argmax."""

    def __init__(self, settings: PrelabelSettings):
        self.settings = settings
        self._backend = None

    def _get_backend(self):
        if self._backend is None:
            if self.settings.crf_backend == "fast":
                from ..crf.fast import FastBackend

                self._backend = FastBackend(device="cpu", previews=None)
            else:
                from ..crf import get_backend

                self._backend = get_backend(self.settings.crf_backend)
        return self._backend

    def warm_up(self) -> None:
        """Load the CRF's compiled kernels now (a worker's first CRF would otherwise pay for it)."""
        if self.settings.crf_params is not None:
            image = np.zeros((8, 8, 3), np.uint8)
            self(image, np.full((2, 8, 8), 0.5, np.float32))

    def __call__(self, image: np.ndarray, probs: np.ndarray, should_cancel=None) -> tuple[np.ndarray, float]:
        unc = mean_uncertainty(probs)
        params = self.settings.crf_params
        if params is None or params.iterations == 0:
            return labels_from_probs(probs), unc
        if self.settings.crf_threads is not None:
            import numba  # numba's thread count is per calling thread

            numba.set_num_threads(min(int(self.settings.crf_threads), numba.config.NUMBA_NUM_THREADS))
        check_cancel(should_cancel)
        session = self._get_backend().session(image)
        try:
            result = session.run(probs, params, should_cancel=should_cancel)
        finally:
            release = getattr(session, "release", None)   # the fast CRF: drop this image's cached lattice
            if release is not None:
                release()
        return result.labels, unc
