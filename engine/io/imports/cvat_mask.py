"""CVAT "Segmentation mask 1.1" (a folder or the .zip CVAT exports) -> label maps.

The format is PASCAL VOC's segmentation layout as CVAT and datumaro write it: `labelmap.txt` lists
`name:r,g,b:parts:actions` per class (lines starting with '#' are comments), and `SegmentationClass/<image
stem>.png` paints each pixel with its class's colour. Colours are mapped to names through the labelmap. Black
that the labelmap does not declare is unlabelled, and the VOC void colour (224, 224, 192) or a line named
`void`, `ignored` (datumaro's VOC void) or `__ignore__` is void (of several such lines, the one with the void
colour, else the last: a class may be called "ignored"); any other colour the labelmap does not declare
makes that image fail with the colours named (datumaro refuses them the same way). CVAT paints every pixel nobody
annotated with its `background` class, black: those pixels are unlabelled, and the source names `background` as
their class, so they take the folder's background class where it has one, else they are void.

A zip is read in memory, never extracted: member names with `..`, absolute paths or drive letters are refused
(zip-slip), and each member is read with a bound, so a zip bomb stops at the limit instead of filling memory.
"""
from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from ... import limits
from .common import IGNORE, UNLABELLED, ImportSourceError, Source, SourceItem, decode_png, name_index, read_capped

LABELMAP = "labelmap.txt"
CLASS_DIR = "SegmentationClass"
VOC_VOID = (224, 224, 192)
VOID_NAMES = ("void", "ignored", "__ignore__")   # "ignored": datumaro's VOC void line (224,224,192)
BACKGROUND = "background"   # CVAT paints what nobody annotated with it, black
MAX_RATIO = 1000          # uncompressed / compressed size of one member; PNGs barely compress, bombs do


def _void_line(entries) -> int | None:
    """Which labelmap line is void: of the lines named as VOID_NAMES, the one with VOC's void colour, else the
    last (this app's exports write void last, as "void" when a class is named "ignored"); the others are classes."""
    named = [i for i, (name, colour) in enumerate(entries) if colour is not None and name.casefold() in VOID_NAMES]
    coloured = [i for i in named if tuple(entries[i][1]) == VOC_VOID]
    return (coloured or named or [None])[-1]


def parse_labelmap(text: str, where: str) -> list[tuple[str, tuple[int, int, int] | None]]:
    """(name, colour) per class, in file order, read as datumaro's parse_label_map does (a class without a colour
    is allowed; no mask pixel can carry it)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        name = fields[0].strip()
        if not name:
            raise ImportSourceError(f"{where}, line {n}: a class without a name")
        if len(fields) < 2 or not fields[1].strip():
            out.append((name, None))
            continue
        try:
            colour = tuple(int(v) for v in fields[1].split(","))
        except ValueError as exc:
            raise ImportSourceError(f"{where}, line {n}: colour {fields[1]!r:.40} is not r,g,b") from exc
        if len(colour) != 3 or not all(0 <= v <= 255 for v in colour):
            raise ImportSourceError(f"{where}, line {n}: class {name!r} needs a colour r,g,b (0-255), "
                                    f"got {fields[1]!r:.40}")
        out.append((name, colour))
    if not out:
        raise ImportSourceError(f"{where}: no classes (lines like `cat:255,0,0::` expected)")
    return out


class _Folder:
    def __init__(self, root: Path):
        self.root, self.label = root, str(root)

    def find_labelmap(self) -> str | None:
        hits = [p for p in [self.root / LABELMAP, *sorted(self.root.glob(f"*/{LABELMAP}"))] if p.is_file()]
        return str(hits[0].relative_to(self.root).as_posix()) if hits else None

    def pngs(self, under: str) -> list[str]:
        base = self.root / under
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*.png") if p.is_file()) \
            if base.is_dir() else []

    def read(self, name: str) -> bytes:
        return read_capped(self.root / name, "file")


class _Zip:
    """A zip's members, checked before anything is read (never extracted)."""

    def __init__(self, path: Path):
        self.label = str(path)
        try:
            self.zf = zipfile.ZipFile(path)
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ImportSourceError(f"{path}: not a readable zip ({exc})") from exc
        if len(infos) > limits.MAX_ZIP_MEMBERS:
            raise ImportSourceError(f"{path}: {len(infos)} entries; at most {limits.MAX_ZIP_MEMBERS} are read")
        if sum(i.file_size for i in infos) > limits.MAX_ZIP_TOTAL_BYTES:
            raise ImportSourceError(f"{path}: its files would expand to more than "
                                    f"{limits.MAX_ZIP_TOTAL_BYTES >> 30} GiB; not read (a zip bomb?)")
        self.members, self.problems = {}, []
        for info in infos:
            name = info.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                self.problems.append(f"{path}: entry {name!r:.80} points outside the archive (zip-slip); ignored")
                continue
            if not info.is_dir():
                self.members["/".join(parts)] = info

    def find_labelmap(self) -> str | None:
        hits = sorted((n for n in self.members if PurePosixPath(n).name == LABELMAP), key=lambda n: n.count("/"))
        return hits[0] if hits else None

    def pngs(self, under: str) -> list[str]:
        prefix = (under.rstrip("/") + "/") if under else ""
        return sorted(n for n in self.members if n.startswith(prefix) and n.lower().endswith(".png"))

    def read(self, name: str) -> bytes:
        info = self.members[name]
        ratio_cap = MAX_RATIO * max(info.compress_size, 1) + (1 << 20)
        if info.file_size > limits.MAX_IMPORT_FILE_BYTES or info.file_size > ratio_cap:
            raise ImportSourceError(f"{self.label}: entry {name} would expand to {info.file_size} bytes from "
                                    f"{info.compress_size}; not read (a zip bomb?)")
        try:
            with self.zf.open(info) as fh:
                data = fh.read(min(info.file_size, limits.MAX_IMPORT_FILE_BYTES) + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ImportSourceError(f"{self.label}: entry {name} cannot be read ({exc})") from exc
        if len(data) > info.file_size:
            raise ImportSourceError(f"{self.label}: entry {name} holds more than it declares; not read")
        return data


def _render(archive, member: str, colours: dict[int, int], where: str) -> np.ndarray:
    """The mask at its own size (the caller checks it against the image's frame)."""
    img = decode_png(archive.read(member), where)
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint32)
    key = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    values, inverse = np.unique(key, return_inverse=True)
    lut = np.empty(len(values), np.int32)
    unknown = []
    for k, v in enumerate(values.tolist()):
        if v in colours:
            lut[k] = colours[v]
        elif v == 0:
            lut[k] = UNLABELLED
        elif v == (VOC_VOID[0] << 16 | VOC_VOID[1] << 8 | VOC_VOID[2]):
            lut[k] = IGNORE
        else:
            unknown.append((v >> 16, (v >> 8) & 255, v & 255))
    if unknown:
        shown = ", ".join(str(c) for c in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise ImportSourceError(f"{where}: colour{'s' if len(unknown) > 1 else ''} {shown} "
                                f"{'are' if len(unknown) > 1 else 'is'} not in {LABELMAP}")
    return lut[inverse.reshape(key.shape)]


def read_cvat_mask(source: str | Path) -> Source:
    """A CVAT Segmentation mask 1.1 export: its folder or its zip."""
    source = Path(source)
    if source.is_dir():
        archive = _Folder(source)
    elif source.is_file():
        archive = _Zip(source)
    else:
        raise ImportSourceError(f"{source}: no such file or folder")
    problems = list(getattr(archive, "problems", []))
    labelmap = archive.find_labelmap()
    if labelmap is None:
        raise ImportSourceError(f"{source}: no {LABELMAP}; a CVAT \"Segmentation mask 1.1\" export has one at its "
                                "top")
    try:
        text = archive.read(labelmap).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportSourceError(f"{source}/{labelmap}: not UTF-8 text") from exc
    names: list[str] = []
    colours: dict[int, int] = {}
    unlabelled, uncoloured = None, set()
    entries = list(parse_labelmap(text, f"{source}/{labelmap}"))
    void_line = _void_line(entries)
    for i, (name, colour) in enumerate(entries):
        if colour is None:
            uncoloured.add(names[name_index(names, name)])
            continue
        r, g, b = colour
        key = r << 16 | g << 8 | b
        if key in colours:
            problems.append(f"{source}/{labelmap}: {name!r} has the colour {(r, g, b)} of an earlier class; ignored")
            continue
        if key == 0 and name.casefold() == BACKGROUND:   # CVAT's "not annotated"
            unlabelled = name
            name_index(names, name)
            colours[key] = UNLABELLED
            continue
        colours[key] = IGNORE if i == void_line else name_index(names, name)
    root = str(PurePosixPath(labelmap).parent)
    root = "" if root == "." else root
    under = f"{root}/{CLASS_DIR}" if root else CLASS_DIR
    members = archive.pngs(under)
    if not members:
        raise ImportSourceError(f"{source}: no {CLASS_DIR}/*.png masks beside {LABELMAP}")
    items = []
    for member in members:
        rel = PurePosixPath(member).relative_to(under)
        where = f"{archive.label}/{member}" if isinstance(archive, _Zip) else str(Path(archive.label) / member)
        items.append(SourceItem(rel.with_suffix("").as_posix(), where, None,
                                lambda h, w, m=member, wh=where: _render(archive, m, colours, wh),
                                (rel.stem,)))
    return Source("cvat-mask", source, names, items, problems, unlabelled,
                  frozenset(uncoloured | ({unlabelled} if unlabelled else set())))
