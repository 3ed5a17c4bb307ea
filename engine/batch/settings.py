"""What one pre-labelling run is, as a frozen value every runner (and every Ray worker) receives unchanged."""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..crf.params import CRFParams
from ..errors import EngineError
from ..io.scaling import ImageScaling

BACKENDS = ("fast", "reference")


def default_net_threads() -> int:
    """torch threads for the network on a CPU: half the cores, the other half refines the previous image."""
    return max(1, (os.cpu_count() or 1) // 2)


@dataclass(frozen=True)
class PrelabelSettings:
    """crf_params None: no CRF (labels are the network's argmax). The CRF always runs on the CPU (the numba engine
    for 'fast'), in every runner, so a Ray run and a single-process run compute the same labels.

    net_threads: torch intra-op threads of the network (None: leave torch's setting alone, as the GUI does).
    torch's CPU results depend on its thread count in the last bits, so every runner pins the same number; on a
    GPU it only affects the little CPU work around the network. crf_threads: numba threads of each CRF (None: all
    cores of the machine running it; the fast CRF's results do not depend on it). channel_map: an
    engine.project ChannelMap from the model's channels to the labels folder's class ids (None: the same ids).
    image: the band choice and scaling of 16-bit, float and multi-band images (engine.io.scaling; None: the
    folder's own, from its labels/project.json, which engine.batch.run fills in).
    """

    crf_params: CRFParams | None
    crf_backend: str = "fast"
    device: str = "auto"
    strategy: str = "scale"
    net_threads: int | None = None
    crf_threads: int | None = None
    channel_map: object = None
    image: ImageScaling | None = None
    redo_other_runs: bool = True   # machine labels of another model, CRF or scaling are labelled again (False: left)

    @property
    def scaling_key(self) -> str:
        """How the images are read, as provenance records it: a run with other bands or scaling redoes them."""
        return (self.image or ImageScaling()).describe()

    def __post_init__(self):
        if self.crf_params is not None and self.crf_params.iterations == 0:
            object.__setattr__(self, "crf_params", None)  # zero iterations is no CRF; record it as such
        if self.crf_backend not in BACKENDS:
            raise EngineError(f"unknown CRF backend {self.crf_backend!r} for pre-labelling; use one of {BACKENDS}")
        if self.strategy not in ("scale", "tile"):
            raise EngineError(f"unknown large-image strategy {self.strategy!r} (use 'scale' or 'tile')")
        for name in ("net_threads", "crf_threads"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise EngineError(f"{name} must be at least 1, got {value}")

    @property
    def crf_key(self) -> tuple[str, dict | None]:
        """(backend, parameters) as the provenance sidecar records them; what resuming compares."""
        if self.crf_params is None:
            return "", None
        return self.crf_backend, self.crf_params.to_dict()
