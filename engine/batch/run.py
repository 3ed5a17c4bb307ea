"""One front door for a pre-labelling run, used by `main.py prelabel`, the window's File > Pre-label folder… and
bench/prelabel.py: plan the folder, compute with the chosen runner, write each outcome as it arrives, summarise.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.checkpoints.backbone import refuse_untaught
from engine.folder.dataset import Dataset
from engine.folder.lock import sweep_unless_held

from .pipeline import pipelined, sequential
from .plan import Plan, plan_folder
from .recorder import Recorder
from .report import HAND, LABELLED, Row
from .settings import PrelabelSettings
from .stages import NetworkStage, Outcome, RefineStage

RUNNERS = ("pipeline", "sequential", "ray")


@dataclass
class Summary:
    total: int = 0            # images in the folder
    labelled: int = 0         # written by this run
    skipped: int = 0          # done before with the same model and CRF settings
    replaced: int = 0         # of labelled: machine labels of another model or settings, labelled again
    left: int = 0             # machine labels of another model or settings left as they are (redo_other_runs off)
    kept: int = 0             # hand-saved labels left alone
    editing: int = 0          # images with unsaved edits in the window that started the run, left alone
    errors: list[tuple[str, str]] = field(default_factory=list)   # (image, message)
    seconds: float = 0.0      # computing and writing, after planning
    cancelled: bool = False
    runner: str = ""
    workers: dict = field(default_factory=dict)   # Ray: resources and peak RSS per worker process

    @property
    def rate(self) -> float:
        """Images labelled per second of this run."""
        return self.labelled / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """The end-of-run summary a person reads."""
        if self.labelled or self.errors or self.cancelled:
            head = (f"pre-labelled {self.labelled} image{'s' if self.labelled != 1 else ''} in {self.seconds:.1f} s "
                    f"({self.rate:.2f} images/s, {self.runner})")
        else:
            head = f"nothing left to label ({self.total} images)"
        out = [head + (", cancelled" if self.cancelled else "")]
        if self.skipped:
            out.append(f"skipped {self.skipped} already pre-labelled with this model and CRF settings")
        if self.replaced:
            out.append(f"replaced the labels of {self.replaced} image{'s' * (self.replaced != 1)} pre-labelled with "
                       "another model or other settings")
        if self.left:
            out.append(f"left {self.left} image{'s' * (self.left != 1)} pre-labelled with another model or other "
                       "settings as they are")
        if self.kept:
            out.append(f"kept {self.kept} hand-saved label{'s' if self.kept != 1 else ''} (never overwritten)")
        if self.editing:
            out.append(f"left {self.editing} image{'s' if self.editing != 1 else ''} with unsaved edits in the window "
                       f"alone")
        if self.errors:
            out.append(f"{len(self.errors)} error{'s' if len(self.errors) != 1 else ''}:")
            out += [f"  {msg}" for _, msg in self.errors]
        return out


def _outcomes(runner: str, plan: Plan, loaded, settings: PrelabelSettings, predictor, lock, should_cancel,
              ray_options, stats):
    if runner == "ray":
        from .ray_runner import RayOptions, ray_outcomes

        return ray_outcomes(plan.todo, loaded, settings, ray_options or RayOptions(), should_cancel, stats)
    if predictor is not None:
        network = NetworkStage(predictor, settings.net_threads, lock, settings.channel_map)
    else:
        network = NetworkStage.from_loaded(loaded, settings, lock)
    fn = pipelined if runner == "pipeline" else sequential
    return fn(plan.todo, network, RefineStage(settings), should_cancel)


def prelabel(folder: str | Path | Dataset, loaded, settings: PrelabelSettings, *, runner: str = "pipeline",
             class_list=None, map_classes: str | None = None, protect=(), predictor=None, lock=None, ray_options=None,
             on_plan: Callable[[Plan], None] | None = None,
             on_result: Callable[[Outcome, Row], None] | None = None,
             should_cancel: Callable[[], bool] | None = None) -> Summary:
    """Pre-label every image of ``folder`` with ``loaded`` (a LoadedModel) and write labels/<image>.png, their
    machine-made provenance and labels/prelabel.csv. Images done before with the same model and CRF settings are
    skipped, hand-saved labels and the ``protect``ed image names are never written.

    class_list: names and colours for the PNG palette and the report, with probabilities already in its ids (the
    window's mapped predictor). Without one, the labels folder's own class list decides (engine.project.labels_target:
    a folder labelled with other classes is a ClassListMismatch before any work, unless ``map_classes`` is "name" or
    "position"; the model's channels are then mapped to the folder's ids). predictor: an
    existing engine.predict.Predictor to use (the window's; with ``lock`` held around each pass) instead of a new
    one. on_plan(plan) is called once before the work, on_result(outcome, row) after each image is written.
    Errors of single images are in the summary; a folder that cannot be read raises LabelIOError.
    """
    if runner not in RUNNERS:
        raise ValueError(f"unknown runner {runner!r}; use one of {RUNNERS}")
    refuse_untaught(loaded, getattr(loaded, "path", None) or "the model",
                    "pre-label with the adapted model (Pre-label folder… in the window, or Model > Export adapted "
                    "model… and prelabel --model that file)")
    dataset = folder if isinstance(folder, Dataset) else Dataset(folder)
    if class_list is None:
        from dataclasses import replace

        from ..project import labels_target

        target = labels_target(dataset.labels_dir, loaded.spec.class_list(), map_classes)
        class_list = target.class_list
        if not target.channel_map.identity:
            settings = replace(settings, channel_map=target.channel_map)
    if settings.image is None:             # the folder's band choice and scaling, as the window shows its images
        from dataclasses import replace

        settings = replace(settings, image=dataset.image_settings)
    sweep_unless_held(dataset.labels_dir)   # what killed runs left behind (logged); a live window's folder: its own
    plan = plan_folder(dataset, loaded, settings, protect)
    if on_plan is not None:
        on_plan(plan)
    recorder = Recorder(dataset, loaded, class_list, settings, plan)
    summary = Summary(total=len(dataset), skipped=len(plan.skipped), kept=len(plan.kept),
                      editing=len(plan.editing), left=len(plan.left), runner=runner)
    stats: dict = {}
    start = time.perf_counter()
    finished = 0
    try:
        for outcome in _outcomes(runner, plan, loaded, settings, predictor, lock, should_cancel, ray_options, stats):
            row = recorder.record(outcome)
            finished += 1
            if on_result is not None:
                on_result(outcome, row)
    finally:
        recorder.flush()
        summary.seconds = time.perf_counter() - start
    summary.cancelled = finished < len(plan.todo)
    summary.labelled = recorder.labelled
    summary.replaced = sum(1 for item in plan.replaced if getattr(recorder.rows.get(item.name), "status", "") == LABELLED)
    summary.kept = sum(1 for r in recorder.rows.values() if r.status == HAND)
    summary.errors = list(recorder.errors)
    summary.workers = stats
    return summary
