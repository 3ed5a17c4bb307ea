"""Pre-labelling a whole folder: every image through the network and the CRF, written as machine labels.

Layout: settings.py (what a run is: CRF parameters, devices, threads) -> plan.py (which images to do, skip or keep)
-> stages.py (the per-image work: read, network, CRF) -> pipeline.py (one process: the stages overlap in threads)
or ray_runner.py (the same stages on Ray Data: a model actor pool and CRF tasks) -> recorder.py (label PNG +
provenance + labels/prelabel.csv, written by the driver) -> run.py (the front door) -> cli.py (`main.py prelabel`).
Qt-free; the GUI runs run.prelabel in a background job.
"""
from __future__ import annotations

from .plan import Plan, plan_folder
from .report import CSV_NAME, read_report, read_scores
from .run import RUNNERS, Summary, prelabel
from .settings import PrelabelSettings
from .stages import Outcome

__all__ = ["PrelabelSettings", "Plan", "plan_folder", "Outcome", "Summary", "prelabel", "RUNNERS", "CSV_NAME",
           "read_report", "read_scores"]
