"""Is the network a checkpoint describes one we may build? Checked before anything is allocated.

Why: a spec (stored, or inferred from key names and shapes) decides how much memory and time building the network
costs. An 18 KB file with a key `base.layer4.block200000.x`, or a spec asking for fc_channels 32768 or 3 million
classes, would otherwise build a multi-gigabyte network before failing. Three checks, in order:

1. check_spec_dict: the raw stored dict has the types and value ranges of SPEC_RANGES (before ModelSpec's own
   post-init expands anything, e.g. n_classes generic class names);
2. check_spec: the ModelSpec's architecture arguments are within ARCH_RANGES;
3. check_weight_budget: the network, built on torch's meta device (no memory), has no more weights than the file
   can hold (at least 2 bytes per weight: fp16).
Fields not named here (e.g. ones added later) are left to ModelSpec itself.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from pathlib import Path

import torch

from engine.errors import CheckpointError
from engine.labels import match_key, name_problem
from engine.models.pipelines import PIPELINES
from engine.models.registry import ModelSpec, build_model

MAX_CLASSES = 255            # label maps are uint8 with 255 = void
MIN_BYTES_PER_WEIGHT = 2     # fp16 / bf16: the smallest weights a DeepLab file plausibly stores
BUDGET_SLACK = 1 << 16       # bytes of file headers and key names the budget ignores

# field -> (lo, hi) for numbers; lists give (max length, (lo, hi)) per element
SPEC_RANGES: dict[str, tuple] = {
    "n_classes": (1, MAX_CLASSES),
    "input_size": (16, 4096),
    "msc_scales": (4, (0.05, 2.0)),
    "mean_bgr": (3, (-1000.0, 1000.0)),
}
# arch -> arch_kwargs name -> ("int", lo, hi) | ("ints", length, lo, hi) | ("float", lo, hi) | ("choice", {...})
#   | ("floats", longest, lo, hi): one number or a list of at most `longest`
ARCH_RANGES: dict[str, dict[str, tuple]] = {
    "deeplab_v1_largefov": {
        "channels": ("ints", 5, 1, 4096),
        "fc_channels": ("int", 1, 8192),
        "dropout": ("float", 0.0, 1.0),
    },
    "deeplab_v2_resnet101": {
        "blocks": ("ints", 4, 1, 64),        # ResNet-152 has 36 blocks in its largest stage
        "base_channels": ("int", 1, 256),
        "head": ("choice", {"aspp", "fc"}),
        "rates": ("ints", (1, 8), 1, 256),
        "freeze_bn": ("choice", {True, False}),
        "bn_eps": ("floats", 1024, 1e-12, 1.0),  # a .caffemodel's per-layer BatchNorm eps (one, or one per layer)
    },
}
MAX_FLAT = 1024  # the longest flat list an arch kwarg may hold (bn_eps has one value per BatchNorm: 104 in v2)


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _bad(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: the model spec in the file is refused: {what}. A DeepLab checkpoint of this "
                           f"app never needs this; the file is damaged or was not made for DeepLab Annotator")


def _check_number(path, name, value, lo, hi, integer) -> None:
    ok = _is_int(value) if integer else _is_real(value)
    if not ok:
        raise _bad(path, f"{name} must be {'an integer' if integer else 'a finite number'}, got {value!r:.60}")
    if not lo <= value <= hi:
        raise _bad(path, f"{name} = {value} is outside {lo}..{hi}")


def check_spec_dict(d, path: Path) -> None:
    """Types and ranges of a stored spec dict, before ModelSpec.from_dict builds anything from it."""
    if not isinstance(d, dict):
        raise CheckpointError(f"{path}: the model spec stored in the file is invalid: it must be a dict, "
                              f"got {type(d).__name__}")
    if not isinstance(d.get("arch"), str):
        raise _bad(path, "'arch' must be a string")
    _check_number(path, "n_classes", d.get("n_classes"), *SPEC_RANGES["n_classes"], integer=True)
    if "input_size" in d:
        _check_number(path, "input_size", d["input_size"], *SPEC_RANGES["input_size"], integer=True)
    for name in ("msc_scales", "mean_bgr"):
        if name in d:
            longest, (lo, hi) = SPEC_RANGES[name]
            values = d[name]
            if not isinstance(values, (list, tuple)) or len(values) > longest:
                raise _bad(path, f"{name} must be a list of at most {longest} numbers")
            for v in values:
                _check_number(path, name, v, lo, hi, integer=False)
    n = d["n_classes"]
    names, palette = d.get("class_names", ()), d.get("palette", ())
    if not isinstance(names, (list, tuple)) or len(names) not in (0, n) or \
            not all(isinstance(x, str) and len(x) <= 1000 for x in names):
        raise _bad(path, f"class_names must be {n} strings (or none)")
    first: dict[str, int] = {}
    for i, x in enumerate(names):   # a folder's rules (a walk: 'belt' twice, 'pa\nper' made a class_names.txt the
        problem = name_problem(x, f"class {i}")   # app itself then refused)
        if problem:
            raise _bad(path, f"{problem}; a class list cannot hold it")
        if match_key(x) in first:
            raise _bad(path, f"class {i} {x!r} repeats class {first[match_key(x)]}; a class list cannot hold it")
        first[match_key(x)] = i
    if not isinstance(palette, (list, tuple)) or len(palette) not in (0, n) or not all(
            isinstance(c, (list, tuple)) and len(c) == 3 and all(_is_int(v) and 0 <= v <= 255 for v in c)
            for c in palette):
        raise _bad(path, f"palette must be {n} RGB triples of 0..255 (or none)")
    for name in ("name", "crf_preset"):
        if name in d and (not isinstance(d[name], str) or len(d[name]) > 1000):
            raise _bad(path, f"{name} must be a short string")
    if "pipeline" in d and d["pipeline"] not in PIPELINES:
        raise _bad(path, f"pipeline must be one of {sorted(PIPELINES)}, got {d['pipeline']!r:.60}")
    kwargs = d.get("arch_kwargs", {})
    items = kwargs.items() if isinstance(kwargs, dict) else kwargs
    if not isinstance(kwargs, (dict, list, tuple)):
        raise _bad(path, "arch_kwargs must be a dict")
    for item in items:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise _bad(path, "arch_kwargs must map names to values")
        _check_flat(path, item[0], item[1])


def _check_flat(path, name, value) -> None:
    """An arch kwarg is a number, string, bool or a short flat list of numbers (nothing nested)."""
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_FLAT or not all(_is_real(v) for v in value):
            raise _bad(path, f"arch_kwargs[{name!r}] must be a short list of numbers")
    elif not (isinstance(value, (str, bool)) or _is_real(value)):
        raise _bad(path, f"arch_kwargs[{name!r}] has an unexpected value {value!r:.60}")


def check_spec(spec: ModelSpec, path: Path) -> None:
    """Architecture arguments within ARCH_RANGES; n_classes and input size within SPEC_RANGES."""
    _check_number(path, "n_classes", spec.n_classes, *SPEC_RANGES["n_classes"], integer=True)
    _check_number(path, "input_size", spec.input_size, *SPEC_RANGES["input_size"], integer=True)
    longest, (lo, hi) = SPEC_RANGES["msc_scales"]
    if len(spec.msc_scales) > longest or not all(lo <= s <= hi for s in spec.msc_scales):
        raise _bad(path, f"msc_scales {spec.msc_scales} must be at most {longest} scales in {lo}..{hi}")
    ranges = ARCH_RANGES.get(spec.arch, {})
    for name, value in spec.arch_kwargs:
        rule = ranges.get(name)
        if rule is None:
            continue  # unknown to this table: the builder refuses what it does not take
        kind = rule[0]
        if kind == "int":
            _check_number(path, f"{spec.arch} {name}", value, rule[1], rule[2], integer=True)
        elif kind == "float":
            _check_number(path, f"{spec.arch} {name}", value, rule[1], rule[2], integer=False)
        elif kind == "floats":
            values = value if isinstance(value, (list, tuple)) else (value,)
            if len(values) > rule[1]:
                raise _bad(path, f"{spec.arch} {name} must be at most {rule[1]} numbers")
            for v in values:
                _check_number(path, f"{spec.arch} {name}", v, rule[2], rule[3], integer=False)
        elif kind == "choice":
            if value not in rule[1] or isinstance(value, (list, tuple)):
                raise _bad(path, f"{spec.arch} {name} must be one of {sorted(map(str, rule[1]))}, got {value!r:.60}")
        else:  # "ints"
            length, lo_i, hi_i = rule[1], rule[2], rule[3]
            lengths = length if isinstance(length, tuple) else (length, length)
            if not isinstance(value, (list, tuple)) or not lengths[0] <= len(value) <= lengths[1]:
                raise _bad(path, f"{spec.arch} {name} must be {length} integers, got {value!r:.80}")
            for v in value:
                _check_number(path, f"{spec.arch} {name}", v, lo_i, hi_i, integer=True)


def weight_count(spec: ModelSpec) -> int:
    """Parameters + buffers of the network `spec` describes, counted on the meta device (no memory used)."""
    with torch.device("meta"):
        model = build_model(spec)
    return sum(t.numel() for t in model.parameters()) + sum(
        t.numel() for t in model.buffers() if t.is_floating_point())


def check_weight_budget(spec: ModelSpec, path: Path, file_bytes: int) -> None:
    """Refuse a spec whose weights could not fit in a file of file_bytes, before building it for real."""
    try:
        n = weight_count(spec)
    except (ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{path}: cannot build the network it describes: {e}") from e
    need = n * MIN_BYTES_PER_WEIGHT
    if need > file_bytes + BUDGET_SLACK:
        raise CheckpointError(
            f"{path}: the file describes a network with {n:,} weights (at least {need / 1e6:.1f} MB), but it is "
            f"only {file_bytes / 1e6:.1f} MB: it cannot hold those weights. The file is damaged or its spec "
            f"does not match its tensors")
