"""The folder's class list: names, colours, hidden flags and display order, with stable ids.

A class's id is the value its pixels carry in the label PNGs. Ids are dense (0..N-1, so the list
stays a VOC class list) and never change on rename, recolour, reorder or hide: reordering only
changes the order the app shows the classes in (what labelme and CVAT users expect: an id is a
contract with the files already saved). Adding a class gives it the next id; only the class with
the highest id can be deleted, and only when no saved label uses it (the caller checks that), so
no label file is ever renumbered. Every edit returns a new, validated FolderClasses.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..labels import (
    FIXED_OVERLAY_COLOURS,
    VOID,
    ClassList,
    changed_colour,
    distinct_colour,
    match_key,
    name_problem,
    voc_palette,
)
from .errors import ClassEditError

MAX_CLASSES = VOID          # ids 0..254; 255 is void


def check_name(name, where: str = "class name") -> str:
    """A valid class name (stripped) or ClassEditError saying what is wrong with it (engine.labels.name_problem)."""
    problem = name_problem(name, where)
    if problem:
        raise ClassEditError(problem)
    return name.strip()


def check_colour(colour, where: str = "colour") -> tuple[int, int, int]:
    if (not isinstance(colour, (list, tuple)) or len(colour) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in colour)):
        raise ClassEditError(f"{where} must be three integers 0-255 (R, G, B), got {colour!r}")
    return tuple(int(v) for v in colour)


@dataclass(frozen=True)
class ProjectClass:
    id: int                         # the label value in the PNGs
    name: str
    color: tuple[int, int, int]
    hidden: bool = False            # not drawn in the label overlay (still saved and exported)


@dataclass(frozen=True)
class FolderClasses:
    """The classes in display order. Validated on creation: ids 0..N-1 each once, names unique by match_key."""

    classes: tuple[ProjectClass, ...]

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(self.classes))
        n = len(self.classes)
        if not 1 <= n <= MAX_CLASSES:
            raise ClassEditError(f"a class list needs 1 to {MAX_CLASSES} classes, got {n}")
        ids = sorted(c.id for c in self.classes)
        if ids != list(range(n)):
            missing = sorted(set(range(n)) - set(ids))
            extra = sorted({i for i in ids if ids.count(i) > 1 or not 0 <= i < n})
            raise ClassEditError(f"class ids must be 0..{n - 1}, each once (missing {missing or 'none'}, "
                                 f"repeated or out of range {extra or 'none'})")
        seen: dict[str, str] = {}
        for c in self.classes:
            check_name(c.name, f"class {c.id}'s name")
            check_colour(c.color, f"class {c.id} ({c.name})'s colour")
            key = match_key(c.name)
            if key in seen:
                raise ClassEditError(f"two classes are both named {seen[key]!r} / {c.name!r}; names must differ "
                                     "(case, spaces, underscores and dashes do not count)")
            seen[key] = c.name

    # ----- reading --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.classes)

    def by_id(self, class_id: int) -> ProjectClass:
        for c in self.classes:
            if c.id == class_id:
                return c
        raise ClassEditError(f"there is no class {class_id} (ids are 0..{len(self) - 1})")

    @property
    def names(self) -> tuple[str, ...]:
        """Names indexed by id."""
        return tuple(c.name for c in sorted(self.classes, key=lambda c: c.id))

    @property
    def order(self) -> tuple[int, ...]:
        """Ids in display order."""
        return tuple(c.id for c in self.classes)

    @property
    def hidden(self) -> tuple[bool, ...]:
        """Hidden flag indexed by id."""
        return tuple(c.hidden for c in sorted(self.classes, key=lambda c: c.id))

    def id_of(self, name: str) -> int | None:
        key = match_key(name)
        for c in self.classes:
            if match_key(c.name) == key:
                return c.id
        return None

    def class_list(self) -> ClassList:
        """The engine's ClassList (index = id): what label PNGs, exports and the palette use."""
        ordered = sorted(self.classes, key=lambda c: c.id)
        return ClassList(tuple(c.name for c in ordered), tuple(c.color for c in ordered))

    @classmethod
    def from_class_list(cls, class_list: ClassList) -> "FolderClasses":
        """A folder list taking a model's classes as they are (id = channel). Names that collide by
        match_key or are not valid get a suffix, so any model's list can start a folder."""
        used: set[str] = set()
        classes = []
        for i, (name, colour) in enumerate(zip(class_list.names, class_list.palette)):
            try:
                name = check_name(name)
            except ClassEditError:
                name = f"class {i}"
            base, k = name, 2
            while match_key(name) in used:
                name, k = f"{base} ({k})", k + 1
            used.add(match_key(name))
            classes.append(ProjectClass(i, name, tuple(int(v) for v in colour)))
        return cls(tuple(classes))

    @classmethod
    def from_names(cls, names, palette=None) -> "FolderClasses":
        """Strict: ClassEditError if a name is invalid or repeated."""
        names = list(names)
        if palette is None or len(palette) < len(names):
            palette = voc_palette(max(len(names), 1))
        return cls(tuple(ProjectClass(i, n.strip() if isinstance(n, str) else n,
                                      tuple(int(v) for v in palette[i])) for i, n in enumerate(names)))

    # ----- edits (each returns a new list) --------------------------------------------------------
    def _with(self, class_id: int, **changes) -> "FolderClasses":
        self.by_id(class_id)
        return FolderClasses(tuple(replace(c, **changes) if c.id == class_id else c for c in self.classes))

    def add(self, name: str, color=None) -> "FolderClasses":
        """A new class with the next id, shown last; colour: the one farthest (CIELAB) from every class colour and
        every overlay colour shown with them (engine.labels.distinct_colour)."""
        if len(self) >= MAX_CLASSES:
            raise ClassEditError(f"a folder can hold at most {MAX_CLASSES} classes (255 is void)")
        name = check_name(name)
        if self.id_of(name) is not None:
            raise ClassEditError(f"there is already a class named {self.by_id(self.id_of(name)).name!r}")
        if color is None:
            taken = [c.color for c in self.classes]
            color = distinct_colour([*taken, *FIXED_OVERLAY_COLOURS, *([changed_colour(taken)] if taken else [])])
        return FolderClasses(self.classes + (ProjectClass(len(self), name, check_colour(color)),))

    def rename(self, class_id: int, name: str) -> "FolderClasses":
        name = check_name(name)
        other = self.id_of(name)
        if other is not None and other != class_id:
            raise ClassEditError(f"class {other} is already named {self.by_id(other).name!r}")
        return self._with(class_id, name=name)

    def recolour(self, class_id: int, color) -> "FolderClasses":
        return self._with(class_id, color=check_colour(color))

    def set_hidden(self, class_id: int, hidden: bool) -> "FolderClasses":
        return self._with(class_id, hidden=bool(hidden))

    def with_hidden(self, hidden_by_id) -> "FolderClasses":
        """Hidden flags for every class at once ((N,) bools indexed by id)."""
        flags = [bool(h) for h in hidden_by_id]
        if len(flags) != len(self):
            raise ClassEditError(f"{len(flags)} visibility flags for {len(self)} classes")
        return FolderClasses(tuple(replace(c, hidden=flags[c.id]) for c in self.classes))

    def move(self, class_id: int, position: int) -> "FolderClasses":
        """Show class ``class_id`` at display ``position`` (clamped); ids do not change."""
        item = self.by_id(class_id)
        rest = [c for c in self.classes if c.id != class_id]
        position = min(max(int(position), 0), len(rest))
        return FolderClasses(tuple(rest[:position] + [item] + rest[position:]))

    def reorder(self, ids) -> "FolderClasses":
        """Display order given as every id once."""
        ids = [int(i) for i in ids]
        if sorted(ids) != list(range(len(self))):
            raise ClassEditError(f"a display order must list every class id 0..{len(self) - 1} once, got {ids}")
        return FolderClasses(tuple(self.by_id(i) for i in ids))

    def can_delete(self, class_id: int) -> str:
        """'' if class ``class_id`` may be deleted as far as ids go, else why not (usage is checked elsewhere)."""
        self.by_id(class_id)
        if len(self) == 1:
            return "a folder needs at least one class"
        if class_id != len(self) - 1:
            return (f"only the class with the highest id ({len(self) - 1}, {self.by_id(len(self) - 1).name!r}) "
                    f"can be deleted: deleting id {class_id} would renumber the classes after it in every saved "
                    "label file. Rename or hide it instead")
        return ""

    def delete(self, class_id: int) -> "FolderClasses":
        why = self.can_delete(class_id)
        if why:
            raise ClassEditError(f"cannot delete {self.by_id(class_id).name!r}: {why}")
        return FolderClasses(tuple(c for c in self.classes if c.id != class_id))
