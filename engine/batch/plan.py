"""Which images a run labels, which it skips as already done, and which it must not touch.

Done = a machine label whose provenance names the same checkpoint (SHA-256) and CRF settings, still holding the
labels that sidecar describes, with its row in prelabel.csv. Never touched = any label a person saved (or another
tool wrote: a label without a machine sidecar, or one changed since the run), and images the caller protects
(the window's unsaved edits). Everything else is labelled, replacing older machine labels (another model's, other CRF
settings or scaling), unless the settings say to leave those as they are.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.folder.dataset import Dataset, is_machine_label

from ..errors import LabelIOError
from ..io.provenance import read_provenance
from ..io.scaling import ImageScaling
from .report import LABELLED, SKIPPED, Row, read_report
from .settings import PrelabelSettings


@dataclass(frozen=True)
class Item:
    """One image to label: its dataset index and file name, its path as text (Ray rows carry it), and the band
    choice and scaling it is read with (engine.io.scaling; None: the default)."""
    index: int
    name: str
    path: str
    scaling: ImageScaling | None = None


@dataclass
class Plan:
    todo: list[Item] = field(default_factory=list)
    skipped: list[Item] = field(default_factory=list)   # done before with the same model and CRF settings
    kept: list[tuple[Item, str]] = field(default_factory=list)  # (item, why it is left alone): saved by hand
    editing: list[Item] = field(default_factory=list)   # unsaved edits in the window: left alone, not hand-saved
    replaced: list[Item] = field(default_factory=list)  # of todo: machine labels of another model or settings
    left: list[Item] = field(default_factory=list)      # those left as they are (settings.redo_other_runs off)
    unscored: list[Item] = field(default_factory=list)  # of todo: this very run's labels whose report row never came
    previous: dict[str, Row] = field(default_factory=dict)      # prelabel.csv as it was before this run

    @property
    def total(self) -> int:
        return len(self.todo) + len(self.skipped) + len(self.kept) + len(self.editing) + len(self.left)


def _same_run(label_path, loaded, settings: PrelabelSettings) -> bool:
    try:
        record = read_provenance(label_path)
    except LabelIOError:
        return False
    return (record is not None and record.checkpoint_sha256 == loaded.sha256
            and (record.crf_backend, record.crf_params) == settings.crf_key
            # the same bands and scaling too (a walk: 4,3,2 changed to 8,4,3 and every image was skipped as done)
            and (record.image_scaling or ImageScaling().describe()) == settings.scaling_key)


def plan_folder(dataset: Dataset, loaded, settings: PrelabelSettings, protect=()) -> Plan:
    """Sort the dataset's images into todo / skipped / kept. ``loaded`` is the LoadedModel of the run; ``protect``
    holds image names (file names) that must not be written, e.g. images with unsaved edits in the window."""
    try:
        previous = read_report(dataset.labels_dir)
    except LabelIOError:
        previous = {}
    plan = Plan(previous=previous)
    protect = set(protect)
    for i, entry in enumerate(dataset.entries):
        item = Item(i, entry.path.name, str(entry.path), settings.image)
        if item.name in protect:
            plan.editing.append(item)
            continue
        if entry.label_path.is_file():
            if not is_machine_label(entry.label_path, verify=True):
                plan.kept.append((item, f"{entry.label_path.name} was saved by hand: left as it is"))
                continue
            row = previous.get(item.name)
            same = _same_run(entry.label_path, loaded, settings)
            if row is not None and row.status in (LABELLED, SKIPPED) and row.mean_uncertainty is not None and same:
                plan.skipped.append(item)
                continue
            if same:   # a run killed before its report was written (kill -9): labelled again for their scores, not
                plan.unscored.append(item)   # said to be another model's (a walk read that, of its own run's 24)
                plan.todo.append(item)
                continue
            if not settings.redo_other_runs:
                plan.left.append(item)
                continue
            plan.replaced.append(item)   # (said before the run: a walk's second run replaced 1,992 unasked)
        plan.todo.append(item)
    return plan
