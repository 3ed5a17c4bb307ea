"""A folder of images and its labels folder: which images exist, what is saved, what is not.

Labels live in ``<folder>/labels/<stem>.png`` (VOC indexed PNG) with ``class_names.txt`` beside
them, so the folder stays usable by VOC tooling without this app. ``labels/project.json`` holds the
folder's class list and settings (engine.project); label values are the folder's class ids.
"""
from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.annotate.status import Status  # re-exported: `from engine.folder.dataset import Status`
from engine.errors import EngineError, LabelIOError
from engine.io.atomic import explain_os_error, what_to_do
from engine.io.images import WHITE, is_image_file, read_image
from engine.io.labels import CLASS_NAMES_FILE, encode_class_names, encode_label_png, read_label_png
from engine.io.provenance import encode_provenance, read_provenance, sidecar_path
from engine.io.scaling import ImageScaling
from engine.io.transaction import SaveTransaction
from engine.labels import ClassList
from engine.project import FolderClasses, FolderProject, check_known
from engine.project.folder import aside_name, kept_aside_words

LABELS_DIRNAME = "labels"


@dataclass
class ImageEntry:
    path: Path
    label_path: Path
    status: Status = Status.NEW
    error: str = ""          # why the file could not be read, while status is ERROR


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def is_machine_label(label_path: str | Path, verify: bool = False) -> bool:
    """True if the label file was written by a batch run (its provenance sidecar says so) and nobody saved it since.

    A label without a sidecar, or with an unreadable one, counts as hand-made: a batch run must never replace it.
    verify: also check that the PNG still holds the labels the sidecar describes (its label_sha256), so a file
    repainted by another tool after the batch run counts as hand-made too (reads the PNG).
    """
    label_path = Path(label_path)
    try:
        record = read_provenance(label_path)
        if record is None or not record.machine_made:
            return False
        if verify:
            labels = read_label_png(label_path)
            return hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest() == record.label_sha256
    except (LabelIOError, OSError):
        return False
    return True


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (not recursive), in natural order (2 before 10)."""
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: _natural_key(p.name))


def folder_image_settings(folder: str | Path) -> ImageScaling:
    """The band choice and scaling of the images in ``folder`` (its labels/project.json; the default without one
    or when it cannot be read): for readers that get an image path, not a Dataset (``main.py predict``)."""
    return FolderProject.open(Path(folder) / LABELS_DIRNAME).image_settings


def label_names(paths, labels_dir: Path) -> dict:
    """Each image's label file name (without .png): its stem, or its whole name where images share a stem (a.jpg,
    a.png), so no two images share a label file. Two rules keep work findable:
    - a name is unique after the fallback too (a walk's photo.jpg and photo.jpg.png both wrote photo.jpg.png, and
      each save replaced the other's labels);
    - where a shared stem's <stem>.png was saved for one of them (its provenance names the image), that image
      keeps it (an image added later with the same stem hid the saved labels of the first)."""
    count: dict[str, int] = {}
    for p in paths:
        count[p.stem] = count.get(p.stem, 0) + 1
    owner: dict[str, str] = {}
    for stem in (s for s, n in count.items() if n > 1):
        try:
            record = read_provenance(labels_dir / f"{stem}.png") if (labels_dir / f"{stem}.png").is_file() else None
        except (LabelIOError, OSError):
            record = None
        if record is not None:
            owner[stem] = record.image
    names = {p: p.stem if count[p.stem] == 1 or owner.get(p.stem) == p.name else p.name for p in paths}
    while True:   # a stem-named file that another image's whole name also gives: that one takes its whole name
        claims: dict[str, list] = {}
        for p, n in names.items():
            claims.setdefault(n, []).append(p)
        moved = [p for group in claims.values() if len(group) > 1 for p in group if names[p] != p.name]
        if not moved:
            return names
        for p in moved:
            names[p] = p.name


class Dataset:
    """The images of one folder with their label files and per-image status."""

    def __init__(self, folder: str | Path, labels_dirname: str = LABELS_DIRNAME):
        folder = Path(folder)
        if not folder.is_dir():
            raise LabelIOError(f"{folder}: not a folder of images")
        self.folder = folder
        self.labels_dir = folder / labels_dirname
        self.project = FolderProject.open(self.labels_dir)   # never raises: problems are in project.problems
        self.kept_aside: list[tuple[Path, Path]] = []   # (label file, where it was kept) since the caller looked
        paths = list_images(folder)
        names = label_names(paths, self.labels_dir)
        self.entries: list[ImageEntry] = []
        for p in paths:
            lp = self.labels_dir / f"{names[p]}.png"
            status = Status.NEW
            if lp.is_file():
                status = Status.PRELABELLED if is_machine_label(lp) else Status.SAVED
            self.entries.append(ImageEntry(p, lp, status))

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> ImageEntry:
        return self.entries[i]

    def index_of(self, path: str | Path) -> int:
        path = Path(path)
        for i, e in enumerate(self.entries):
            if e.path == path or e.path.name == path.name:
                return i
        raise KeyError(f"{path} is not an image of {self.folder}")

    def status(self, i: int) -> Status:
        return self.entries[i].status

    def set_status(self, i: int, status: Status) -> None:
        self.entries[i].status = Status(status)
        if self.entries[i].status != Status.ERROR:
            self.entries[i].error = ""

    def mark_unreadable(self, i: int, reason: str) -> None:
        """Image i cannot be decoded (not an image, truncated...): ERROR until it is read successfully."""
        self.entries[i].status, self.entries[i].error = Status.ERROR, str(reason)

    def progress_text(self, i: int) -> str:
        """'image 5/100' for a 0-based index."""
        return f"image {i + 1}/{len(self)}" if len(self) else "no images"

    def step(self, i: int, delta: int) -> int:
        """Index delta steps away from i, clamped to the list."""
        if not self.entries:
            return -1
        return min(max(i + delta, 0), len(self) - 1)

    def next_unsaved(self, i: int, order: list[int] | None = None) -> int | None:
        """First image after i (wrapping around) whose labels are not saved; None if all are.

        ``order`` is the display order (e.g. sorted by uncertainty) as a list of indices; default: folder order.
        """
        order = list(range(len(self))) if order is None else order
        n = len(order)
        start = order.index(i) if i in order else -1
        for k in range(1, n + 1):
            j = order[(start + k) % n]
            if self.entries[j].status not in (Status.SAVED, Status.ERROR):  # pre-labelled ones still need a person;
                # nothing to save in an unreadable file
                return j
        return None

    def image_id(self, i: int) -> str:
        """A stable name for image i within this folder (its file name), used by the recovery journal."""
        return self.entries[i].path.name

    def index_of_id(self, image_id: str) -> int | None:
        for i, e in enumerate(self.entries):
            if e.path.name == image_id:
                return i
        return None

    def unsaved(self) -> list[int]:
        """Indices holding unsaved hand work (status EDITED)."""
        return [i for i, e in enumerate(self.entries) if e.status == Status.EDITED]

    def machine_labelled(self) -> int:
        """How many label files on disk a batch run wrote and nobody changed since (pre-labelled, not reviewed; a
        file another tool repainted is a person's, as prelabel counts it: verified against its sidecar)."""
        return sum(1 for e in self.entries if e.label_path.is_file() and is_machine_label(e.label_path, verify=True))

    def reviewed(self) -> "Dataset":
        """This folder as an export reads it with only the labels a person saved: the pre-labelled files nobody
        reviewed left out (a walk exported 8 reviewed images among 1,992 pre-labelled ones, unasked). A read-only
        view: the entries are filtered, nothing else is copied."""
        view = copy.copy(self)
        view.entries = [e for e in self.entries
                        if e.label_path.is_file() and not is_machine_label(e.label_path, verify=True)]
        return view

    def is_machine_labelled(self, i: int, verify: bool = False) -> bool:
        """Image i has a label file written by a batch run that nobody saved since (see is_machine_label)."""
        return is_machine_label(self.entries[i].label_path, verify=verify)

    # ----- the images' pixels ------------------------------------------------------------------------
    @property
    def image_settings(self) -> ImageScaling:
        """How this folder's 16-bit, float and multi-band images become RGB (labels/project.json 'image')."""
        return self.project.image_settings

    def read_image(self, i: int, background=WHITE, with_alpha: bool = False):
        """Image i as engine.io.images.read_image returns it, with this folder's band choice and scaling."""
        return read_image(self.entries[i].path, background, with_alpha=with_alpha, scaling=self.image_settings)

    def set_image_settings(self, scaling: ImageScaling | None, class_list: ClassList | None = None) -> bool:
        """Take a new band choice and scaling (None: the default) and write labels/project.json at once. A folder
        without a class list takes ``class_list`` (as a first save would); without either, the setting is kept
        in memory and written with the first save. True if the file was written; LabelIOError on disk problems."""
        self.project.set_image_settings(scaling)
        if not self.project.has_class_list and class_list is not None:
            self.project.set_classes(FolderClasses.from_class_list(class_list))
        if self.project.classes is None:
            return False
        return self.project.write()

    def apply_image_settings(self, scaling: ImageScaling | None, class_list: ClassList | None,
                             refusal: str = "") -> tuple[str, bool]:
        """Image > Bands and scaling: take them, and write them unless ``refusal`` says this window may not write
        the folder (then they hold for the session). -> (what to tell the user, whether it is an error)."""
        if refusal:
            self.project.set_image_settings(scaling)
            return f"Bands and scaling used for this session only: {refusal}", False
        try:
            written = self.set_image_settings(scaling, class_list)
        except EngineError as exc:
            return f"{exc}. The bands and scaling are used for this session only", True
        return (f"Bands and scaling: {self.image_settings.describe()}"
                + ("" if written else " (written to labels/project.json with the first save)")), False

    def status_on_disk(self, i: int, predicted: bool) -> Status:
        """Image i's status with no unsaved edits: what its file on disk says, else predicted or new."""
        if self.entries[i].label_path.is_file():
            return Status.PRELABELLED if self.is_machine_labelled(i) else Status.SAVED
        return Status.PREDICTED if predicted else Status.NEW

    def load_labels(self, i: int) -> np.ndarray | None:
        """The saved label map of image i, or None if it has none."""
        lp = self.entries[i].label_path
        return read_label_png(lp) if lp.is_file() else None

    def pop_kept_aside(self) -> str:
        """What saves kept aside since the last call, in words ('' for nothing), and forget it."""
        moved = kept_aside_words(self.kept_aside)
        self.kept_aside.clear()
        return f"{self.labels_dir}: {moved}; the labels shown were saved in its place" if moved else ""

    def save(self, i: int, labels: np.ndarray, class_list: ClassList, provenance=None,
             keep_unknown: bool = False, keep_aside: bool = False, also=None) -> Path:
        """Write image i's labels, the folder's class list (project.json, class_names.txt) and, if given, the
        engine.io.provenance record as a sidecar (else an old sidecar is removed), all or nothing
        (engine.io.transaction); mark it saved (pre-labelled for a machine-made record). Returns the label path.
        LabelIOError (status unchanged, the previous files intact) on disk problems.

        ``class_list`` must be the folder's (ClassListMismatch otherwise: the values would mean other classes);
        a folder without one takes it, in labels/project.json. Values that are not classes nor void raise
        UnknownLabelValues unless ``keep_unknown`` says the caller decided to keep them. ``keep_aside``: the label
        file there could not be used (another size, unreadable): it is renamed (``<name>.replaced``), never
        overwritten; ``kept_aside`` records where. ``also``: a function given the save's transaction, staging
        more files (in the labels folder or a subfolder) that are committed with these labels (the learnt head)."""
        entry = self.entries[i]
        self.project.check_class_list(class_list)
        if not keep_unknown:
            check_known(labels, len(class_list), str(entry.label_path))
        if not self.project.has_class_list:
            adopted = FolderClasses.from_class_list(class_list)
            if self.project.classes is None or self.project.classes.names != adopted.names:
                self.project.set_classes(adopted)
        class_list = self.project.class_list()   # the folder's names and colours
        try:
            self.labels_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LabelIOError(f"{self.labels_dir}: cannot create the labels folder ({explain_os_error(e)}). Nothing "
                               f"was saved; your edits are still in memory. {what_to_do(e)}") from e
        txn = SaveTransaction(self.labels_dir)
        png = encode_label_png(labels, class_list)
        try:   # (a failure names the file that failed: the image's labels say whose save it was)
            project_text = self.project.stage(txn)   # the class list travels with the labels that use it
            txn.stage(entry.label_path, png)
            if project_text is None:
                txn.stage(self.labels_dir / CLASS_NAMES_FILE, encode_class_names(class_list))
            if provenance is not None:
                provenance = provenance.for_file(png)   # the sidecar names the exact file it describes
                txn.stage(sidecar_path(entry.label_path), encode_provenance(provenance))
            else:  # a sidecar left from earlier labels would describe (and may call machine-made) what is not there
                txn.remove(sidecar_path(entry.label_path))
            if also is not None:
                also(txn)
        except LabelIOError as exc:
            txn.abort()
            raise LabelIOError(f"saving the labels of {entry.path.name}: {exc}") from exc
        except BaseException:
            txn.abort()
            raise
        aside = None
        if keep_aside and entry.label_path.exists():
            aside = aside_name(entry.label_path, ".replaced")
            try:
                entry.label_path.replace(aside)
            except OSError as e:
                txn.abort()
                raise LabelIOError(f"could not keep {entry.label_path} aside before replacing it: "
                                   f"{e.strerror or e}. Nothing was written") from e
        try:
            txn.commit()
        except LabelIOError:
            if aside is not None and not entry.label_path.exists():   # nothing took its place: it goes back
                try:
                    aside.replace(entry.label_path)
                except OSError:
                    self.kept_aside.append((entry.label_path, aside))   # (still aside: said, never lost)
            raise
        if aside is not None:
            self.kept_aside.append((entry.label_path, aside))
        if project_text is not None:
            self.project.committed(project_text)
        machine = provenance is not None and provenance.machine_made
        entry.status = Status.PRELABELLED if machine else Status.SAVED
        return entry.label_path
