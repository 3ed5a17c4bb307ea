"""labels/prelabel.csv: one row per image of the last pre-labelling runs (image, mean uncertainty, classes, status).

The GUI sorts the folder by its mean uncertainty (most unsure first) before it has predicted anything itself, and a
resumed run takes the rows of images it skips from here. Written atomically, so a crash leaves the old file.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabelIOError
from ..io.atomic import write_text_atomic

CSV_NAME = "prelabel.csv"
COLUMNS = ("image", "mean_uncertainty", "classes", "status", "detail")
CLASS_SEPARATOR = ";"

# status column
LABELLED = "labelled"        # written by this run
SKIPPED = "skipped"          # done by an earlier run with the same model and CRF settings
HAND = "hand-labelled"       # has labels a person saved (or another tool wrote): left alone
EDITING = "being edited"     # has unsaved edits in the window that started the run: left alone
ERROR = "error"              # could not be labelled; detail says why


@dataclass(frozen=True)
class Row:
    image: str                    # file name in the folder
    mean_uncertainty: float | None  # mean of 1 - (p1 - p2) of the network's probabilities; None if not run
    classes: tuple[str, ...]      # classes present in the labels, in class order
    status: str
    detail: str = ""

    def as_csv(self) -> list[str]:
        unc = "" if self.mean_uncertainty is None else f"{self.mean_uncertainty:.6f}"
        return [self.image, unc, CLASS_SEPARATOR.join(self.classes), self.status, self.detail]


def csv_path(labels_dir: str | Path) -> Path:
    return Path(labels_dir) / CSV_NAME


def write_report(labels_dir: str | Path, rows: list[Row]) -> Path:
    """Write the rows atomically (LabelIOError on disk problems)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(row.as_csv())
    path = csv_path(labels_dir)
    write_text_atomic(path, buf.getvalue())
    return path


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def read_report(labels_dir: str | Path) -> dict[str, Row]:
    """Rows by image name; {} when there is no file. A damaged file is ignored row by row (never fatal: it is
    only a cache of what the label files and sidecars say), but an unreadable one raises LabelIOError."""
    path = csv_path(labels_dir)
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelIOError(f"{path}: cannot read the pre-labelling report ({exc})") from exc
    rows: dict[str, Row] = {}
    for rec in csv.DictReader(io.StringIO(text)):
        name = (rec.get("image") or "").strip()
        if not name:
            continue
        classes = tuple(c for c in (rec.get("classes") or "").split(CLASS_SEPARATOR) if c)
        rows[name] = Row(name, _float(rec.get("mean_uncertainty") or ""), classes, (rec.get("status") or "").strip(),
                         rec.get("detail") or "")
    return rows


def read_scores(dataset) -> dict[int, float]:
    """Mean uncertainty by dataset index, for the images prelabel.csv has a number for ({} without a report)."""
    try:
        rows = read_report(dataset.labels_dir)
    except LabelIOError:
        return {}
    scores = {}
    for i in range(len(dataset)):
        row = rows.get(dataset.image_id(i))
        if row is not None and row.mean_uncertainty is not None:
            scores[i] = row.mean_uncertainty
    return scores
