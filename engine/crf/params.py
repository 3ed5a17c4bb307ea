"""Dense-CRF parameters and the DeepLab presets (see shared reference deeplab.md §4.2)."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from numbers import Real
from pathlib import Path

from ..errors import EngineError
from ..paths import PRESET_DIRS, PRESETS_DIR

# Allowed values: weights beyond 1000 overflow float32 messages into NaN; a std below 1e-3 makes lattice
# coordinates that crash pydensecrf (checked against the image size at run time too: engine.crf.base).
PARAM_RANGES = {"pos_w": (0.0, 1000.0), "pos_xy_std": (1e-3, 1e5), "bi_w": (0.0, 1000.0),
                "bi_xy_std": (1e-3, 1e5), "bi_rgb_std": (1e-3, 1e5), "iterations": (0, 1000)}


@dataclass(frozen=True)
class CRFParams:
    """Gaussian (pos_*) and bilateral (bi_*) kernel weights and widths, and mean-field iterations."""

    pos_w: float = 3.0
    pos_xy_std: float = 1.0
    bi_w: float = 4.0
    bi_xy_std: float = 67.0
    bi_rgb_std: float = 3.0
    iterations: int = 10

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
                raise EngineError(f"CRF parameter {f.name} must be a finite number, got {value!r:.40}")
            lo, hi = PARAM_RANGES[f.name]
            if not lo <= value <= hi:
                low = f"> 0 and at least {lo:g}" if lo > 0 else f">= {lo:g}"
                raise EngineError(f"CRF parameter {f.name} must be {low} and at most {hi:g}, got {value:g}")
            if f.name == "iterations":
                if value != int(value):
                    raise EngineError(f"CRF parameter iterations must be a whole number, got {value:g}")
                object.__setattr__(self, f.name, int(value))
            else:
                object.__setattr__(self, f.name, float(value))

    def replace(self, **changes) -> "CRFParams":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CRFParams":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# Values per the DeepLab model pages: v1 LargeFOV 3/3/4/121/5/10, v2 ResNet-101 3/1/4/67/3/10.
PRESETS: dict[str, CRFParams] = {
    "deeplab-v1": CRFParams(pos_w=3, pos_xy_std=3, bi_w=4, bi_xy_std=121, bi_rgb_std=5, iterations=10),
    "deeplab-v2": CRFParams(pos_w=3, pos_xy_std=1, bi_w=4, bi_xy_std=67, bi_rgb_std=3, iterations=10),
}
PRESET_LABELS = {"deeplab-v1": "DeepLab v1 (LargeFOV)", "deeplab-v2": "DeepLab v2 (ResNet-101)"}
# What the window calls each value (the CRF panel's rows, the Tune dialog's table): one name everywhere
FIELD_LABELS = {"pos_w": "Smoothness weight", "pos_xy_std": "Smoothness width (px)", "bi_w": "Appearance weight",
                "bi_xy_std": "Appearance width (px)", "bi_rgb_std": "Colour tolerance", "iterations": "Iterations"}


def load_extra_presets(folder: Path = PRESETS_DIR) -> dict[str, CRFParams]:
    """Presets shipped as JSON files in resources/presets (e.g. values tuned for the demo model)."""
    found = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                found[path.stem] = CRFParams.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, TypeError, EngineError):
                continue  # a broken preset file must not stop the app
    return found


def all_presets() -> dict[str, CRFParams]:
    """Built-in presets plus the ones in resources/presets and, installed, the user's data folder's presets/
    (engine.paths.PRESET_DIRS: where `eval-demo --write-presets` writes)."""
    found = dict(PRESETS)
    for folder in PRESET_DIRS:
        found.update(load_extra_presets(folder))
    return found


def preset_for_model(spec, checkpoint=None, presets: dict | None = None) -> str:
    """The CRF preset a model starts with: values tuned for that checkpoint and shipped beside the others
    (resources/presets/<checkpoint stem>.json, e.g. demo_v1 for demo_v1.pt) win over the generic DeepLab preset
    its spec names (crf_preset), which wins over deeplab-v1."""
    presets = all_presets() if presets is None else presets
    stem = Path(checkpoint).stem if checkpoint else ""
    for name in (stem, getattr(spec, "crf_preset", ""), "deeplab-v1"):
        if name and name in presets:
            return name
    return next(iter(presets))


def preset_named(params: CRFParams, presets: dict | None = None) -> str | None:
    """The name of a preset with exactly these values (built-in first, then shipped and the user's), or None."""
    presets = all_presets() if presets is None else presets
    return next((name for name, values in presets.items() if values == params), None)


def preset(name: str) -> CRFParams:
    presets = all_presets()
    if name not in presets:
        raise EngineError(f"unknown CRF preset {name!r}; known: {', '.join(sorted(presets))}")
    return presets[name]


def with_json_values(base: CRFParams, text: str) -> CRFParams:
    """``base`` with the values of a JSON object, given inline or as a .json file's path (the CLIs' --crf-params;
    a folder's labels/project.json gives the values it records, crf.params); EngineError, saying what is wrong,
    for anything else."""
    if not text.lstrip().startswith("{"):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as exc:
            raise EngineError(f"--crf-params: {text} is neither a JSON object nor a readable file "
                              f"({exc.strerror})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EngineError(f"--crf-params: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise EngineError("--crf-params must be a JSON object such as {\"bi_w\": 5}")
    known = set(base.to_dict())
    recorded = data.get("crf") if not set(data) & known else None
    if isinstance(recorded, dict) and isinstance(recorded.get("params"), dict):
        data = recorded["params"]   # a folder's labels/project.json: the values it records (crf.params)
    unknown = sorted(set(data) - known)
    if unknown:
        raise EngineError(f"--crf-params: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return base.replace(**data)
    except TypeError as exc:
        raise EngineError(f"--crf-params: {exc}") from exc
