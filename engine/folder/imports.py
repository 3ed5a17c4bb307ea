"""Import another tool's annotations (engine.io.imports) into a folder as its saved hand labels.

Two steps, so a window can ask its questions in between:
- `plan_import` matches the source's classes to the folder's by name (engine.project.match_key: case, spaces and
  underscores do not count), applies the user's `mapping` (source name -> folder class name, or "void"), adds
  the classes left over when `add_new` says so, and matches each annotation to an image of the folder (by file
  name, then stem). It writes nothing. Classes it cannot place are `unmatched` (with near names suggested); the
  caller decides before running.
- `run_import` renders each matched annotation on its image's frame (engine.io.imports.frame: EXIF), maps it to
  the folder's ids (unlabelled pixels void, or the class the user or the source names) and saves it with
  Dataset.save, the app's own all-or-nothing save, with a provenance record that says a person made every pixel
  (origin hand). So prediction and pre-labelling never replace it, the window shows it as saved, and training on
  saved labels learns from it.

Never overwritten: labels a person saved (unless `force`), and images the caller protects (unsaved edits in a
window). Labels a batch run wrote (pre-labelled, not reviewed) are replaced: an import is a person's work.
labelme's `_background_` goes to the folder's class 0 when no class is named background (labelme2voc's id 0).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from engine.errors import Cancelled, EngineError, check_cancel
from engine.folder.dataset import Dataset, is_machine_label
from engine.io.imports import IGNORE, UNLABELLED, ImportSourceError, Source, image_frame
from engine.io.provenance import ORIGIN_HAND, make_provenance
from engine.labels import VOID
from engine.project import FolderClasses, match_key
from engine.project.errors import ClassEditError, ProjectFileError
from engine.project.guard import is_labels_folder

VOID_NAME = "void"
LABELME_BACKGROUND = "_background_"


@dataclass
class ImportJob:
    index: int              # dataset entry
    item: object            # engine.io.imports.SourceItem
    replaces: str = ""      # "", "machine" (a pre-label) or "hand" (saved by a person; only with force)


@dataclass
class ImportPlan:
    """What an import would do; nothing is written until run_import."""

    source: Source
    classes: FolderClasses | None          # the folder's classes after the import (new ones added)
    targets: dict[str, int | None]         # source name -> folder id, None = void
    added: list[str]                       # source names added as new classes
    unmatched: dict[str, list[str]]        # source names with no class (-> near folder names)
    jobs: list[ImportJob]
    not_found: list[str]                   # annotations whose image is not in the folder
    kept: list[tuple[str, str]]            # (image name, why it is not imported)
    unlabelled: int | None = None          # folder id for pixels no shape covers (None = void)
    problems: list[str] = field(default_factory=list)
    twice: list[tuple[str, str]] = field(default_factory=list)   # (image name, which annotations): the first is used

    @property
    def hand_saved(self) -> list[str]:
        return [name for name, why in self.kept if why.startswith("saved labels")]

    def describe(self) -> str:
        """A few lines for the CLI and the dialog."""
        lines = [f"{len(self.source.items)} annotated image(s) in {self.source.path} ({self.source.format}); "
                 f"{len(self.jobs)} to import"]
        for name, fid in self.targets.items():
            target = "void" if fid is None else self.classes.by_id(fid).name
            lines.append(f"  class {name!r} -> {target}{' (new class)' if name in self.added else ''}")
        for name, near in self.unmatched.items():
            lines.append(f"  class {name!r} matches no class of the folder"
                         + (f" (close: {', '.join(near)})" if near else ""))
        if self.not_found:
            lines.append(f"  {len(self.not_found)} annotation(s) name images that are not in the folder: "
                         + ", ".join(self.not_found[:5]) + (" …" if len(self.not_found) > 5 else ""))
        for name, which in self.twice[:10]:
            lines.append(f"  {name}: annotated twice ({which}); the first is used")
        for name, why in self.kept[:10]:
            lines.append(f"  {name}: {why}")
        if len(self.kept) > 10:
            lines.append(f"  ... and {len(self.kept) - 10} more not imported")
        return "\n".join(lines)


def _near(name: str, folder_names: list[str]) -> list[str]:
    keys = {match_key(n): n for n in folder_names}
    return [keys[k] for k in difflib.get_close_matches(match_key(name), list(keys), n=3, cutoff=0.6)]


def match_classes(source_names: list[str], folder: FolderClasses | None, mapping: dict[str, str] | None = None,
                  add_new: bool = False, unused=frozenset(), first: str | None = None, not_a_class: str | None = None
                  ) -> tuple[FolderClasses | None, dict[str, int | None], list[str], dict[str, list[str]]]:
    """(the folder's classes after the import, source name -> folder id or None for void, names added, names
    left unmatched -> near folder names). A folder without classes takes the source's (so nothing is unmatched),
    after ``first`` where given (the class of unlabelled pixels the source does not name: COCO leaves out the
    background, which a class list exported from this app has as class 0).
    ``unused``: names the source declares but draws nowhere; they need no decision (void unless they match).
    ``not_a_class``: the name a source paints unannotated pixels with (CVAT's black `background`): a folder without
    classes does not take it as one, so its pixels are void and the source's classes keep their ids (a walk
    imported the app's own CVAT export into a fresh folder: 'background' became class 0 and every id moved).
    ClassEditError for a mapping that names a class the folder lacks."""
    mapping = {match_key(k): v for k, v in (mapping or {}).items()}
    known = {match_key(n) for n in source_names}
    stray = [k for k in mapping if k not in known]
    if stray:
        raise ClassEditError(f"--map names {', '.join(stray)}, which the source does not use (its classes: "
                             f"{', '.join(source_names) or 'none'})")
    classes = folder
    if classes is None:   # nothing to match: the source's classes become the folder's, _background_ first
        order = sorted(source_names, key=lambda n: n != LABELME_BACKGROUND)
        fresh = [n for n in order if match_key(n) not in mapping and n != not_a_class]
        if not fresh:
            raise ClassEditError("the folder has no classes yet and every source class is mapped elsewhere")
        classes = FolderClasses.from_names(_unique(([first] if first else []) + fresh))
    targets, added, unmatched = {}, [], {}
    for name in source_names:
        key = match_key(name)
        wanted = mapping.get(key)
        if folder is None and name == not_a_class and wanted is None:
            targets[name] = None
            continue
        if wanted is not None:
            if match_key(wanted) == VOID_NAME:
                targets[name] = None
                continue
            fid = classes.id_of(wanted)
            if fid is None:
                raise ClassEditError(f"--map {name}={wanted}: the folder has no class {wanted!r} (its classes: "
                                     f"{', '.join(classes.names)})")
            targets[name] = fid
            continue
        fid = classes.id_of(name)
        if fid is None and name == LABELME_BACKGROUND:
            fid = 0   # labelme2voc: _background_ is id 0
        if fid is not None:
            targets[name] = fid
        elif name in unused and folder is not None:
            targets[name] = None   # no pixel carries it
        elif add_new:
            classes = classes.add(name)
            targets[name] = classes.id_of(name)
            added.append(name)
        else:
            unmatched[name] = _near(name, list(classes.names))
    if folder is None:
        added = ([first] if first and first not in source_names else []) + [n for n in source_names
                                                                          if targets.get(n) is not None]
    return classes, targets, added, unmatched


def _unique(names: list[str]) -> list[str]:
    seen, out = set(), []
    for n in names:
        if match_key(n) not in seen:
            seen.add(match_key(n))
            out.append(n)
    return out


def _index_images(dataset: Dataset) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    by_name, by_stem = {}, {}
    for i, e in enumerate(dataset.entries):
        by_name.setdefault(e.path.name.casefold(), []).append(i)
        by_stem.setdefault(e.path.stem.casefold(), []).append(i)
    return by_name, by_stem


def _find(item, by_name, by_stem) -> int | None:
    name = PurePosixPath(item.image.replace("\\", "/")).name
    for candidates in (by_name.get(name.casefold()), by_stem.get(PurePosixPath(name).stem.casefold()),
                       *(by_stem.get(a.casefold()) for a in item.aliases)):
        if candidates and len(candidates) == 1:
            return candidates[0]
    return None


def plan_import(dataset: Dataset, source: Source, folder: FolderClasses | None = None, *,
                mapping: dict[str, str] | None = None, add_new: bool = False, force: bool = False,
                protect: set[str] = frozenset(), unlabelled: str | None = None) -> ImportPlan:
    """What importing ``source`` into ``dataset`` would do. ``folder``: the folder's classes as the caller knows
    them (default: the folder's own, None if it has none); ``protect``: image names never written (unsaved
    edits); ``unlabelled``: a class name (or "void") for pixels no shape covers (default: the class the source
    names for them, else void). ClassEditError for a bad mapping or unlabelled class."""
    if folder is None and dataset.project.has_class_list:
        folder = dataset.project.classes
    elif folder is None and is_labels_folder(dataset.labels_dir):   # a class list is there but cannot be read
        raise ProjectFileError(f"cannot tell which classes {dataset.labels_dir} holds: "
                               f"{' '.join(dataset.project.problems)}. Importing now would give its saved labels' "
                               "ids new meanings; fix or remove that file first")
    first = None   # a folder without classes: the class named for unlabelled pixels comes first (see match_classes)
    not_a_class = source.unlabelled if source.unlabelled != LABELME_BACKGROUND else None   # (labelme2voc: id 0)
    asked = unlabelled is not None and source.unlabelled is not None and \
        match_key(unlabelled) == match_key(source.unlabelled)
    if folder is None and unlabelled is not None and match_key(unlabelled) != VOID_NAME \
            and (asked or match_key(unlabelled) not in {match_key(n) for n in source.names}):
        first = source.unlabelled if asked else unlabelled
    if asked:
        not_a_class = None   # --unlabelled background: CVAT's 'not annotated' is wanted as a class
    if folder is None and first is None and source.format == "labelme" and \
            match_key(LABELME_BACKGROUND) not in {match_key(n) for n in source.names}:
        # labelme's id 0 is its background: a fresh folder keeps it for that, so the first label drawn is not
        # class 0, which the labelme export writes as _background_ (a walk's 'paper' came back as _background_)
        first = "background"
    classes, targets, added, unmatched = match_classes(source.names, folder, mapping, add_new, source.unused, first,
                                                       not_a_class)
    fill = None
    if unlabelled is None:   # what the source says (labelme2voc's labels.txt: _background_), else void
        fill = targets.get(source.unlabelled) if source.unlabelled else None
    elif match_key(unlabelled) != VOID_NAME:
        fill = classes.id_of(unlabelled)
        if fill is None:
            raise ClassEditError(f"--unlabelled {unlabelled}: the folder has no class {unlabelled!r}")
    by_name, by_stem = _index_images(dataset)
    jobs, not_found, kept, taken, twice = [], [], [], {}, []
    for item in source.items:
        index = _find(item, by_name, by_stem)
        if index is None:
            not_found.append(item.image)
            continue
        entry = dataset.entries[index]
        if index in taken:
            twice.append((entry.path.name, f"{taken[index]} and {item.where}"))
            continue
        taken[index] = item.where
        if entry.path.name in protect:
            kept.append((entry.path.name, "has unsaved edits in the window; save or discard them first"))
            continue
        replaces = ""
        if entry.label_path.is_file():
            replaces = "machine" if is_machine_label(entry.label_path) else "hand"
            if replaces == "hand" and not force:
                kept.append((entry.path.name, f"saved labels ({entry.label_path.name}) kept; replace them with "
                                              "--force (Replace saved labels in the window)"))
                continue
        jobs.append(ImportJob(index, item, replaces))
    return ImportPlan(source, classes, targets, added, unmatched, jobs, not_found, kept, fill,
                      list(source.problems), twice)


@dataclass
class ImportResult:
    imported: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)   # of imported: labels that were there before
    kept: list[str] = field(default_factory=list)       # saved by a person while the import ran: theirs wins
    empty: list[str] = field(default_factory=list)      # nothing in the source labels them: left as they were
    errors: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False

    def message(self, plan: ImportPlan) -> str:
        parts = [f"imported {len(self.imported)} image(s)"]
        if plan.added and self.imported:   # (the classes are written with the first label file)
            parts.append(f"added class{'es' if len(plan.added) > 1 else ''} {', '.join(plan.added)}")
        if self.replaced:
            parts.append(f"replaced {len(self.replaced)} earlier label file(s)")
        if self.kept:
            parts.append(f"kept {len(self.kept)} image(s) saved by hand during the import")
        if plan.kept:
            parts.append(f"kept {len(plan.kept)} image(s) as they were")
        if plan.twice:
            parts.append(f"ignored {len(plan.twice)} second annotation(s) of an image (the first was used)")
        if self.empty:
            parts.append(f"skipped {len(self.empty)} image(s) whose annotation labels no pixel")
        if plan.not_found:
            parts.append(f"{len(plan.not_found)} image(s) not found in the folder")
        if self.errors:
            parts.append(f"{len(self.errors)} failed")
        if self.cancelled:
            parts.append("cancelled")
        return "; ".join(parts)


def _lut(plan: ImportPlan) -> np.ndarray:
    """Source value + 2 -> folder id (index 0 = IGNORE, 1 = UNLABELLED)."""
    lut = np.full(len(plan.source.names) + 2, VOID, np.uint8)
    lut[UNLABELLED + 2] = VOID if plan.unlabelled is None else plan.unlabelled
    lut[IGNORE + 2] = VOID
    for k, name in enumerate(plan.source.names):
        fid = plan.targets.get(name)
        lut[k + 2] = VOID if fid is None else fid
    return lut


def render_labels(dataset: Dataset, job: ImportJob, lut: np.ndarray) -> np.ndarray:
    """(H,W) uint8 folder ids of one job, on its image's upright frame. ImportSourceError if it does not fit."""
    entry = dataset.entries[job.index]
    frame = image_frame(entry.path)
    try:
        (h, w), turn = frame.fit(job.item.size, job.item.where)
        src = job.item.render(h, w)
        if job.item.size is None and src.shape != (h, w):
            (h, w), turn = frame.fit(src.shape, job.item.where)
    except ValueError as exc:
        raise ImportSourceError(str(exc)) from exc
    if src.min(initial=0) < IGNORE or src.max(initial=0) >= len(lut) - 2:
        raise ImportSourceError(f"{job.item.where}: values outside the source's classes")
    labels = lut[src + 2]
    return frame.upright(labels) if turn else labels


def run_import(dataset: Dataset, plan: ImportPlan, should_cancel=None, progress=None) -> ImportResult:
    """Write every job of ``plan`` into ``dataset`` (its labels folder), one all-or-nothing save per image; a
    problem with one image is recorded and the others go on. ``progress(done, total, name)`` after each image."""
    if plan.unmatched:
        raise ClassEditError("classes without a place in the folder: " + ", ".join(plan.unmatched))
    if plan.classes is not None and plan.classes != dataset.project.classes:
        dataset.project.set_classes(plan.classes)   # written with the first label file (one transaction)
    class_list = dataset.project.class_list()
    lut, result = _lut(plan), ImportResult()
    for done, job in enumerate(plan.jobs, 1):
        try:
            check_cancel(should_cancel)
        except Cancelled:
            result.cancelled = True
            break
        entry = dataset.entries[job.index]
        if job.replaces != "hand" and entry.label_path.is_file() and not is_machine_label(entry.label_path):
            result.kept.append(entry.path.name)   # a person saved it since the plan was made
        else:
            try:
                labels = render_labels(dataset, job, lut)
                if (labels != VOID).any():
                    record = make_provenance(labels, np.ones(labels.shape, bool), entry.path.name,
                                             origin=ORIGIN_HAND)
                    dataset.save(job.index, labels, class_list, provenance=record)
                    result.imported.append(entry.path.name)
                    if job.replaces:
                        result.replaced.append(entry.path.name)
                else:
                    # An empty annotation (a labelme file with no shapes, or only ignore regions) says nothing:
                    # saving it would mark the image labelled and replace a machine label with nothing.
                    result.empty.append(entry.path.name)
            except (EngineError, MemoryError) as exc:
                why = str(exc) if isinstance(exc, EngineError) else "not enough memory for this image"
                result.errors.append((entry.path.name, why))
        if progress is not None:
            progress(done, len(plan.jobs), entry.path.name)
    return result
