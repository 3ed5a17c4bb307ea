"""labels/project.json: the folder's class list and settings, as one versioned, strictly checked JSON file.

Schema (version 1)::

    {
      "format": "deeplab-annotator-project",
      "version": 1,
      "classes": [                       # display order; ids are the label values (dense 0..N-1)
        {"id": 0, "name": "background", "color": [0, 0, 0], "hidden": false},
        ...
      ],
      "model": {                         # optional: the model the folder's labels were last saved with
        "path": "../models/demo_v1.pt",  # see stored_model_path: relative, "app:..." or absolute (POSIX)
        "name": "demo v1", "sha256": "…",
        "channels": [0, 2, 1, -1]        # the model channel feeding each folder id (-1: none), the answer
      },                                 # to a class mismatch, reused while the model's sha256 is the same
      "crf": {"backend": "fast",         # optional: the CRF values last saved with
              "params": {"pos_w": 3, "pos_xy_std": 3, "bi_w": 4, "bi_xy_std": 121, "bi_rgb_std": 5,
                         "iterations": 10}},
      "image": {"bands": [4, 3, 2],      # optional: how 16-bit, float and multi-band images are shown and
                "scaling": "percentile", # fed to the model (engine.io.scaling): bands from 1 (one = grey,
                "percentiles": [2, 98]}  # absent = RGB / the first three); scaling percentile (percentiles,
    }                                    # default [2, 98]), minmax, or fixed (range [low, high] required)

Strict like labelme's label files: unknown keys, wrong types, NaN/Infinity, duplicate keys, ids that
are not 0..N-1, repeated names and files over 1 MiB are refused with a message naming the file and
the field. A newer version is refused (not guessed at). Parsing never raises anything but
ProjectFileError.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath

from ..crf.params import CRFParams
from ..errors import EngineError
from ..io.scaling import MODES, ImageScaling, ImageSettingsError
from ..limits import MAX_BANDS
from ..paths import RESOURCES
from .classes import FolderClasses, ProjectClass
from .errors import ClassEditError, ProjectFileError

FORMAT = "deeplab-annotator-project"
VERSION = 1
MAX_BYTES = 1 << 20
_CRF_LIMITS = {"pos_w": 1000.0, "pos_xy_std": 10000.0, "bi_w": 1000.0, "bi_xy_std": 10000.0,
               "bi_rgb_std": 10000.0, "iterations": 100}
_BACKEND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SHA256 = re.compile(r"^([0-9a-f]{64})?$")
APP_PREFIX = "app:"        # a model shipped in the app's resources/, wherever the app is installed
MAX_UP = 2                 # a model at most this many folders above the labels folder is stored relative


@dataclass(frozen=True)
class ModelSettings:
    path: str                 # as stored: POSIX, relative to the labels folder, or absolute
    name: str = ""
    sha256: str = ""
    channels: tuple[int, ...] | None = None   # model channel per folder id (-1: none); None = not recorded

    def resolve(self, labels_dir: str | Path) -> Path:
        if self.path.startswith(APP_PREFIX):
            return RESOURCES / self.path[len(APP_PREFIX):]
        p = Path(self.path)
        return p if p.is_absolute() else (Path(labels_dir) / p)


@dataclass(frozen=True)
class CRFSettings:
    params: CRFParams
    backend: str = ""


@dataclass(frozen=True)
class Project:
    """Everything project.json holds; None = not recorded."""
    classes: FolderClasses | None = None
    model: ModelSettings | None = None
    crf: CRFSettings | None = None
    image: ImageScaling | None = None     # None: the default band choice and scaling


class _Checker:
    """Type checks that name the file and the field path in their message."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, field: str, what: str):
        raise ProjectFileError(f"{self.where}: {field} {what}")

    def obj(self, value, field: str, required: tuple, optional: tuple = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(field, f"must be an object, got {type(value).__name__}")
        missing = [k for k in required if k not in value]
        unknown = sorted(k for k in value if k not in required + optional)
        if missing:
            self.fail(field, f"lacks {', '.join(repr(k) for k in missing)}")
        if unknown:
            self.fail(field, f"has unknown key{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(repr(k)[:60] for k in unknown[:5])}")
        return value

    def text(self, value, field: str, max_len: int = 4096) -> str:
        if not isinstance(value, str):
            self.fail(field, f"must be text, got {type(value).__name__}")
        if len(value) > max_len or "\x00" in value:
            self.fail(field, f"is not a plausible value ({len(value)} characters)")
        return value

    def integer(self, value, field: str, lo: int, hi: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            self.fail(field, f"must be an integer {lo}-{hi}, got {json.dumps(value)[:40]}")
        return value

    def number(self, value, field: str, hi: float) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                or not 0 <= value <= hi:
            self.fail(field, f"must be a number 0-{hi:g}, got {json.dumps(value)[:40]}")
        return float(value)


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} appears twice")
        out[k] = v
    return out


def _no_constants(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _parse_classes(value, c: _Checker) -> FolderClasses:
    if not isinstance(value, list) or not value:
        c.fail("'classes'", "must be a non-empty list")
    if len(value) > 255:
        c.fail("'classes'", f"has {len(value)} entries; at most 255 (255 is void)")
    classes = []
    for k, entry in enumerate(value):
        field = f"classes[{k}]"
        c.obj(entry, field, ("id", "name", "color"), ("hidden",))
        cid = c.integer(entry["id"], f"{field}.id", 0, 254)
        name = c.text(entry["name"], f"{field}.name", 1000)
        colour = entry["color"]
        if not isinstance(colour, list) or len(colour) != 3:
            c.fail(f"{field}.color", f"must be [R, G, B], got {json.dumps(colour)[:40]}")
        rgb = tuple(c.integer(v, f"{field}.color", 0, 255) for v in colour)
        hidden = entry.get("hidden", False)
        if not isinstance(hidden, bool):
            c.fail(f"{field}.hidden", "must be true or false")
        classes.append(ProjectClass(cid, name, rgb, hidden))
    try:
        return FolderClasses(tuple(classes))
    except ClassEditError as exc:
        raise ProjectFileError(f"{c.where}: 'classes': {exc}") from exc


def _parse_model(value, c: _Checker, n_classes: int) -> ModelSettings | None:
    if value is None:
        return None
    c.obj(value, "'model'", ("path",), ("name", "sha256", "channels"))
    path = c.text(value["path"], "model.path")
    if not path.strip():
        c.fail("model.path", "is empty")
    sha = c.text(value.get("sha256", ""), "model.sha256", 64)
    if not _SHA256.match(sha):
        c.fail("model.sha256", "must be 64 lower-case hex digits")
    channels = value.get("channels")
    if channels is not None:
        if not isinstance(channels, list) or len(channels) != n_classes:
            c.fail("model.channels", f"must list one model channel per class ({n_classes}), got "
                                     f"{json.dumps(channels)[:60]}")
        channels = tuple(c.integer(v, "model.channels", -1, 254) for v in channels)
    return ModelSettings(path, c.text(value.get("name", ""), "model.name", 200), sha, channels)


def _parse_crf(value, c: _Checker) -> CRFSettings | None:
    if value is None:
        return None
    c.obj(value, "'crf'", ("params",), ("backend",))
    backend = c.text(value.get("backend", ""), "crf.backend", 32)
    if backend and not _BACKEND.match(backend):
        c.fail("crf.backend", f"is not a backend name: {backend!r}")
    names = tuple(f.name for f in fields(CRFParams))
    raw = c.obj(value["params"], "crf.params", names)
    values = {}
    for name in names:
        if name == "iterations":
            values[name] = c.integer(raw[name], f"crf.params.{name}", 0, _CRF_LIMITS[name])
        else:
            values[name] = c.number(raw[name], f"crf.params.{name}", _CRF_LIMITS[name])
    try:
        return CRFSettings(CRFParams(**values), backend)
    except EngineError as exc:
        raise ProjectFileError(f"{c.where}: crf.params: {exc}") from exc


def _numbers(value, c: _Checker, field: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        c.fail(field, f"must be [low, high], got {json.dumps(value)[:40]}")
    for v in value:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or abs(v) > 1e300:
            c.fail(field, f"must hold two finite numbers, got {json.dumps(value)[:40]}")
    return float(value[0]), float(value[1])


def _parse_image(value, c: _Checker) -> ImageScaling | None:
    if value is None:
        return None
    c.obj(value, "'image'", ("scaling",), ("bands", "percentiles", "range"))
    mode = c.text(value["scaling"], "image.scaling", 20)
    if mode not in MODES:
        c.fail("image.scaling", f"must be one of {', '.join(MODES)}, got {mode[:20]!r}")
    bands = value.get("bands")
    if bands is not None:
        if not isinstance(bands, list) or len(bands) not in (1, 3):
            c.fail("image.bands", f"must list one band (grey) or three (red, green, blue), got "
                                  f"{json.dumps(bands)[:40]}")
        bands = tuple(c.integer(b, "image.bands", 1, MAX_BANDS) for b in bands)
    percentiles = _numbers(value["percentiles"], c, "image.percentiles") if "percentiles" in value else (2.0, 98.0)
    rng = _numbers(value["range"], c, "image.range") if "range" in value else None
    try:
        return ImageScaling(mode, percentiles, rng, bands)
    except ImageSettingsError as exc:
        raise ProjectFileError(f"{c.where}: 'image': {exc}") from exc


def image_to_dict(image: ImageScaling) -> dict:
    """The 'image' object of project.json (what _parse_image reads back)."""
    out: dict = {}
    if image.bands is not None:
        out["bands"] = list(image.bands)
    out["scaling"] = image.mode
    if image.mode == "percentile" or image.percentiles != (2.0, 98.0):
        out["percentiles"] = [_plain(v) for v in image.percentiles]
    if image.range is not None:
        out["range"] = [_plain(v) for v in image.range]
    return out


def _plain(v: float):
    """2.0 -> 2 in the file, so it reads as a person would write it."""
    return int(v) if float(v).is_integer() and abs(v) < 2 ** 53 else v


def parse_project(data: bytes | str, where: str = "project.json") -> Project:
    """The Project in ``data`` (the file's bytes); ProjectFileError with the file and field if it is not valid."""
    if len(data) > MAX_BYTES:
        raise ProjectFileError(f"{where}: {len(data)} bytes; a project file is at most {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProjectFileError(f"{where}: not valid JSON ({str(exc)[:200]})") from exc
    c = _Checker(where)
    if not isinstance(obj, dict):
        c.fail("the top level", f"must be an object, got {type(obj).__name__}")
    if obj.get("format") != FORMAT:
        c.fail("'format'", f"must be {FORMAT!r} (is this a DeepLab Annotator project file?)")
    version = obj.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise ProjectFileError(f"{where}: written by a newer version of the app (project version {version}); "
                               f"this one reads version {VERSION}. Update the app to use it")
    c.integer(version, "'version'", 1, VERSION)
    c.obj(obj, "the top level", ("format", "version", "classes"), ("model", "crf", "image"))
    classes = _parse_classes(obj["classes"], c)
    return Project(classes, _parse_model(obj.get("model"), c, len(classes)), _parse_crf(obj.get("crf"), c),
                   _parse_image(obj.get("image"), c))


def project_to_dict(project: Project) -> dict:
    if project.classes is None:
        raise ProjectFileError("a project file needs a class list")
    out = {"format": FORMAT, "version": VERSION,
           "classes": [{"id": c.id, "name": c.name, "color": list(c.color), "hidden": c.hidden}
                       for c in project.classes.classes]}
    if project.model is not None:
        m = project.model
        out["model"] = {"path": m.path, "name": m.name, "sha256": m.sha256}
        if m.channels is not None:
            out["model"]["channels"] = list(m.channels)
    if project.crf is not None:
        out["crf"] = {"backend": project.crf.backend, "params": project.crf.params.to_dict()}
    if project.image is not None:
        out["image"] = image_to_dict(project.image)
    return out


def project_json(project: Project) -> str:
    """The file's text: one class per line, so a diff of two versions reads like the edit that was made."""
    data = project_to_dict(project)
    lines = []
    for key, value in data.items():
        if key == "classes":
            rows = ",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in value)
            lines.append(f' "classes": [\n{rows}\n ]')
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def stored_model_path(model_path: str | Path, labels_dir: str | Path) -> str:
    """How project.json records a model file, always POSIX: "app:models/x.pt" for a model shipped with the app
    (so it resolves in every install); relative to the labels folder when the model sits near the data (at
    most MAX_UP folders up: a project folder moved or shared with its models keeps working); else absolute.
    The sha256 beside it tells whether a file found there is the same model."""
    model_path, labels_dir = Path(model_path).resolve(), Path(labels_dir).resolve()
    try:
        return APP_PREFIX + model_path.relative_to(RESOURCES.resolve()).as_posix()
    except ValueError:
        pass
    try:
        rel = Path(os.path.relpath(model_path, labels_dir))
    except ValueError:   # another drive (Windows)
        return model_path.as_posix()
    if rel.parts[:MAX_UP + 1].count("..") > MAX_UP:
        return model_path.as_posix()
    return PurePosixPath(*rel.parts).as_posix()
