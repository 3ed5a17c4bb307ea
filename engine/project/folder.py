"""The class list and settings of one labels folder: read on open, edited in memory, written atomically.

Where the folder's class list comes from, in order:
1. ``labels/project.json`` (engine.project.schema): names, colours, hidden flags, display order;
2. ``labels/class_names.txt`` alone (a folder saved by VOC tools, labelme2voc or an older version of
   this app): names by id; colours from the palette of a saved label PNG, else the VOC colours;
3. none: the folder has no labels yet and takes the model's classes when labels are first saved.

A file that cannot be read never stops the folder from opening: the problem is reported (``problems``)
and the file is kept aside as ``<name>.damaged`` (``.conflict`` for a class_names.txt that names
other classes than project.json) just before it is first replaced, so nothing is lost.
"""
from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from ..errors import LabelIOError
from ..io.atomic import write_text_atomic
from ..io.labels import CLASS_NAMES_FILE, read_label_palette
from ..io.scaling import DEFAULT_SCALING, ImageScaling
from ..labels import ClassList
from .classes import MAX_CLASSES, FolderClasses, check_name, match_key
from .errors import ClassEditError, ClassListMismatch, ProjectFileError
from .reconcile import describe_difference
from .schema import MAX_BYTES, CRFSettings, ModelSettings, Project, parse_project, project_json

PROJECT_FILE = "project.json"
_INDEXED = re.compile(r"^(\d+)\s+(\S.*)$")


def _read_capped(path: Path) -> bytes:
    """A small regular file's bytes (FIFOs, devices and huge files are refused, not read)."""
    if not path.is_file():
        raise ProjectFileError(f"{path}: not a regular file")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ProjectFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_BYTES:
        raise ProjectFileError(f"{path}: larger than {MAX_BYTES} bytes; not a class list")
    return data


def parse_class_names(data: bytes, where: str = CLASS_NAMES_FILE) -> tuple[str, ...]:
    """Names by id from a class_names.txt: 'id name' lines (ids 0..N-1 in order, this app's and VOC's style)
    or one name per line (labelme2voc's; a leading labelme '__ignore__' line is skipped). Strict."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProjectFileError(f"{where}: not UTF-8 text ({exc})") from exc
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if lines and match_key(lines[0][1]) == match_key("__ignore__"):
        lines = lines[1:]
    if not lines:
        raise ProjectFileError(f"{where}: no class names (one per line expected)")
    matches = [_INDEXED.match(line) for _, line in lines]
    if all(matches):
        names = []
        for (n, _), m in zip(lines, matches):
            if int(m.group(1)) != len(names):
                raise ProjectFileError(f"{where}, line {n}: id {m.group(1)} where {len(names)} was expected "
                                       "(ids must run 0, 1, 2, ... in order)")
            names.append(m.group(2).strip())
    else:
        names = [line for _, line in lines]
    _check_lines(where, [n for n, _ in lines], names)
    try:
        FolderClasses.from_names(names)
    except ClassEditError as exc:
        raise ProjectFileError(f"{where}: {exc}") from exc
    return tuple(names)


def _check_lines(where: str, numbers: list[int], names: list[str], shown: int = 5) -> None:
    """ProjectFileError naming every bad line (the first ``shown``): invalid names and names that repeat an
    earlier one, so a user fixes the file in one go. A long line is measured, never quoted."""
    problems, first = [], {}
    for n, name in zip(numbers, names):
        try:
            check_name(name, f"line {n}")
        except ClassEditError as exc:
            problems.append(str(exc))
            continue
        key = match_key(name)
        if key in first:
            problems.append(f"line {n}: {name!r} repeats line {first[key]}")
        else:
            first[key] = n
    if len(names) > MAX_CLASSES:
        problems.append(f"{len(names)} names; at most {MAX_CLASSES} classes are allowed (255 is void)")
    if problems:
        more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
        raise ProjectFileError(f"{where}: " + "; ".join(problems[:shown]) + more)


def class_names_text(class_list: ClassList) -> str:
    """'id name' per line, the form parse_class_names reads back and VOC tools index by."""
    return "".join(f"{i} {name}\n" for i, name in enumerate(class_list.names))


def _saved_palette(labels_dir: Path, n: int):
    """Colours of the first readable label PNG in the folder (this app writes the class palette into each)."""
    try:
        pngs = sorted(p for p in labels_dir.glob("*.png") if p.is_file())
    except OSError:
        return None
    for p in pngs[:5]:
        try:
            return [tuple(int(v) for v in rgb) for rgb in read_label_palette(p)[:n]]
        except LabelIOError:
            continue
    return None


def kept_aside_words(pairs) -> str:
    """(file, where it was kept) pairs in words, for the message after a save ('' for none)."""
    return "; ".join(f"{a.name} (it could not be used) is kept as {b.name}" for a, b in pairs)


def aside_name(path: Path, suffix: str) -> Path:
    """A free name beside ``path`` for keeping it aside (``name<suffix>``, then ``name<suffix>2``, ...)."""
    target, k = path.with_name(path.name + suffix), 2
    while target.exists():
        target, k = path.with_name(f"{path.name}{suffix}{k}"), k + 1
    return target


class FolderProject:
    """One labels folder's classes and settings. ``open`` never raises for bad content; ``write`` raises
    LabelIOError (disk full, read-only) and keeps the in-memory state either way."""

    def __init__(self, labels_dir: str | Path):
        self.labels_dir = Path(labels_dir)
        self.project = Project()
        self.source = ""                       # "project.json", "class_names.txt" or "" (no list in the folder)
        self.problems: list[str] = []          # what could not be read, for the user
        self._aside: list[tuple[Path, str]] = []   # files to keep aside (suffix) before they are replaced
        self._written = ""                     # project.json text on disk, to skip writes that change nothing
        self.kept_aside: list[tuple[Path, Path]] = []   # (file, where it was kept) since the caller last looked

    @property
    def project_path(self) -> Path:
        return self.labels_dir / PROJECT_FILE

    @property
    def class_names_path(self) -> Path:
        return self.labels_dir / CLASS_NAMES_FILE

    @classmethod
    def open(cls, labels_dir: str | Path) -> "FolderProject":
        self = cls(labels_dir)
        pj, cn = self.project_path, self.class_names_path
        if os.path.lexists(pj):
            try:
                data = _read_capped(pj)
                self.project = parse_project(data, str(pj))
                self.source, self._written = PROJECT_FILE, data.decode("utf-8-sig")
            except ProjectFileError as exc:
                self.problems.append(f"{exc}. Its settings are not used; it is kept as {pj.name}.damaged when "
                                     "the folder's classes are next saved")
                if pj.is_file():
                    self._aside.append((pj, ".damaged"))
        if os.path.lexists(cn):
            self._read_class_names(cn)
        return self

    def _read_class_names(self, cn: Path) -> None:
        try:
            names = parse_class_names(_read_capped(cn), str(cn))
        except ProjectFileError as exc:
            fallback = "project.json" if self.source else "the model's classes"
            self.problems.append(f"{exc}. The folder uses {fallback}; the file is kept as {cn.name}.damaged "
                                 "when the folder's classes are next saved")
            if cn.is_file():
                self._aside.append((cn, ".damaged"))
            return
        if self.source == PROJECT_FILE:
            mine = self.project.classes.names
            if [match_key(n) for n in names] != [match_key(n) for n in mine]:
                self.problems.append(f"{cn} lists other classes ({', '.join(names[:6])}) than {PROJECT_FILE} "
                                     f"({', '.join(mine[:6])}); the folder uses {PROJECT_FILE}, and "
                                     f"{cn.name} is kept as {cn.name}.conflict when the classes are next saved")
                self._aside.append((cn, ".conflict"))
            return
        self.project = replace(self.project, classes=FolderClasses.from_names(
            names, _saved_palette(self.labels_dir, len(names))))
        self.source = CLASS_NAMES_FILE

    # ----- state ------------------------------------------------------------------------------------
    @property
    def classes(self) -> FolderClasses | None:
        return self.project.classes

    @property
    def has_class_list(self) -> bool:
        """True when the folder itself defines its classes (a file was read or written)."""
        return bool(self.source)

    def class_list(self) -> ClassList | None:
        return None if self.classes is None else self.classes.class_list()

    def set_classes(self, classes: FolderClasses) -> None:
        self.project = replace(self.project, classes=classes)

    def set_model(self, model: ModelSettings | None) -> None:
        self.project = replace(self.project, model=model)

    def set_crf(self, crf: CRFSettings | None) -> None:
        self.project = replace(self.project, crf=crf)

    @property
    def image_settings(self) -> ImageScaling:
        """The folder's band choice and scaling (the default when project.json has none, or is damaged)."""
        return self.project.image if self.project.image is not None else DEFAULT_SCALING

    def set_image_settings(self, image: ImageScaling | None) -> None:
        """None: back to the default (the 'image' field is left out of project.json)."""
        self.project = replace(self.project, image=None if image == DEFAULT_SCALING else image)

    @property
    def dirty(self) -> bool:
        """The in-memory project differs from the file (or there is no file yet)."""
        return self.classes is not None and project_json(self.project) != self._written

    def check_class_list(self, class_list: ClassList) -> None:
        """Refuse to write labels made for ``class_list`` into this folder if it names other classes (or the
        same ones in another order): the label values would mean something else. ClassListMismatch."""
        if not self.has_class_list or self.classes is None:
            return
        mine = self.classes.names
        if FolderClasses.from_class_list(class_list).names == mine:
            return
        raise ClassListMismatch(f"{self.labels_dir} already holds labels for other classes: "
                                f"{describe_difference(mine, class_list.names)}")

    # ----- writing ----------------------------------------------------------------------------------
    def _pending(self) -> bool:
        return not (self.classes is None or (not self.dirty and not self._aside and self.source == PROJECT_FILE))

    def _keep_aside(self) -> None:
        """Files that could not be read at open are renamed, never overwritten."""
        try:
            self.labels_dir.mkdir(parents=True, exist_ok=True)
            for path, suffix in list(self._aside):
                if path.exists():
                    target = aside_name(path, suffix)
                    os.replace(path, target)
                    self.kept_aside.append((path, target))
                self._aside.remove((path, suffix))
        except OSError as exc:
            raise LabelIOError(f"could not keep {path} aside before replacing it: {exc.strerror or exc}. "
                               "Nothing was written") from exc

    def write(self) -> bool:
        """Write project.json, then class_names.txt, each atomically; True if anything was written.
        Files that could not be read at open are first kept aside (renamed), never overwritten."""
        if not self._pending():
            return False
        self._keep_aside()
        text = project_json(self.project)
        write_text_atomic(self.project_path, text)
        self._written, self.source = text, PROJECT_FILE
        write_text_atomic(self.class_names_path, class_names_text(self.classes.class_list()))
        return True

    def stage(self, txn) -> str | None:
        """Stage project.json and class_names.txt in an engine.io.transaction.SaveTransaction, so they are
        committed with the labels they describe. Returns the staged project.json text, for committed(), or None
        when there is nothing to write."""
        if not self._pending():
            return None
        self._keep_aside()
        text = project_json(self.project)
        txn.stage(self.project_path, text.encode("utf-8"))
        txn.stage(self.class_names_path, class_names_text(self.classes.class_list()).encode("utf-8"))
        return text

    def committed(self, text: str) -> None:
        """The transaction holding stage()'s files was committed."""
        self._written, self.source = text, PROJECT_FILE
