"""The driver side of a run: each outcome becomes labels/<image>.png + its machine-made provenance sidecar (through
engine.folder.dataset, like a save in the app) and a row of labels/prelabel.csv. Only the driver writes, so a Ray run
needs no shared write access and the files are the same whichever runner computed the labels.
"""
from __future__ import annotations

import time

import numpy as np

from engine.folder.dataset import Dataset, is_machine_label

from ..errors import EngineError, LabelIOError
from ..io.provenance import ORIGIN_MACHINE, make_provenance
from .plan import Plan
from .report import EDITING, ERROR, HAND, LABELLED, SKIPPED, Row, write_report
from .settings import PrelabelSettings
from .stages import Outcome, describe_error

EDITING_WHY = "has unsaved edits in the window: left as it is"
LEFT_WHY = "pre-labelled with another model or other settings: left as it is"


class Recorder:
    """Writes outcomes and keeps the report. ``flush_every``: seconds between rewrites of prelabel.csv during the
    run (it is always written at the end), so an interrupted run still leaves its scores for the window."""

    def __init__(self, dataset: Dataset, loaded, class_list, settings: PrelabelSettings, plan: Plan,
                 flush_every: float = 10.0):
        self.dataset, self.loaded, self.class_list, self.settings = dataset, loaded, class_list, settings
        self.previous = plan.previous
        self.flush_every = flush_every
        self._last_flush = time.monotonic()
        self.rows: dict[str, Row] = {}
        self.errors: list[tuple[str, str]] = []   # (image name, message)
        self.labelled = 0
        for item in plan.skipped:
            old = plan.previous[item.name]
            self.rows[item.name] = Row(item.name, old.mean_uncertainty, old.classes, SKIPPED)
        for item in plan.left:   # another run's labels, left as they are: its score stays where the report had one
            old = plan.previous.get(item.name)
            self.rows[item.name] = Row(item.name, old.mean_uncertainty if old else None, old.classes if old else (),
                                       SKIPPED, LEFT_WHY)
        for item, why in plan.kept:
            self.rows[item.name] = Row(item.name, None, (), HAND, why)
        for item in plan.editing:
            self.rows[item.name] = Row(item.name, None, (), EDITING, EDITING_WHY)

    def _classes(self, labels: np.ndarray) -> tuple[str, ...]:
        present = np.flatnonzero(np.bincount(labels.ravel(), minlength=256)[:len(self.class_list)])
        return tuple(self.class_list.names[int(c)] for c in present)

    def record(self, outcome: Outcome) -> Row:
        """Write one outcome's files (a disk error turns it into an error outcome) and return its report row."""
        item = outcome.item
        if outcome.ok:
            entry = self.dataset[item.index]
            if entry.label_path.is_file() and not is_machine_label(entry.label_path):
                # a person saved this image while it was being computed: theirs wins
                row = Row(item.name, None, (), HAND, f"{entry.label_path.name} was saved by hand: left as it is")
                self.rows[item.name] = row
                return row
            labels = outcome.labels
            record = make_provenance(labels, np.zeros(labels.shape, bool), item.name, loaded=self.loaded,
                                     crf_params=self.settings.crf_params, crf_backend=self.settings.crf_backend,
                                     origin=ORIGIN_MACHINE, image_scaling=self.settings.scaling_key)
            try:
                self.dataset.save(item.index, labels, self.class_list, provenance=record)
            except EngineError as exc:   # full disk, read-only folder, labels the folder refuses: this image only
                outcome.error = describe_error(item, exc)
        if outcome.ok:
            self.labelled += 1
            row = Row(item.name, outcome.mean_uncertainty, self._classes(outcome.labels), LABELLED)
        else:
            self.errors.append((item.name, outcome.error))
            row = Row(item.name, None, (), ERROR, outcome.error)
        self.rows[item.name] = row
        if time.monotonic() - self._last_flush >= self.flush_every:
            self.flush()
        return row

    def report_rows(self) -> list[Row]:
        """Every image of the folder with a row, in folder order: this run's, else the previous report's."""
        rows = []
        for entry in self.dataset.entries:
            row = self.rows.get(entry.path.name) or self.previous.get(entry.path.name)
            if row is not None:
                rows.append(row)
        return rows

    def flush(self) -> None:
        """Rewrite prelabel.csv (atomic). A disk error here is reported, not raised: the labels are written."""
        self._last_flush = time.monotonic()
        try:
            self.dataset.labels_dir.mkdir(parents=True, exist_ok=True)
            write_report(self.dataset.labels_dir, self.report_rows())
        except (LabelIOError, OSError) as exc:
            problem = (str(self.dataset.labels_dir / "prelabel.csv"), f"could not write the report: {exc}")
            if problem not in self.errors:
                self.errors.append(problem)
