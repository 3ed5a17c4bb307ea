"""The pure parts of `bench/interactive.py --app`: which rows to run, whether pydensecrf fits, how a row prints.

Kept apart from the window and the child processes (bench/app_window.py) so they are tested without Qt or a model.
"""
from __future__ import annotations

import math

# megapixels -> (height, width): a 3:2 camera at 6 and 24 MP, a phone's 4:3 at 12 MP
SIZES = {6: (2000, 3000), 12: (3000, 4000), 24: (4000, 6000)}
MODELS = {
    "demo": "the bundled demo model (the window's default, resources/models/demo_v1.pt)",
    "r101-21": "DeepLab v2 ResNet-101 MSC, kazuto layout, 21 classes, random weights, 12 present",
    "r101-182": "DeepLab v2 ResNet-101 MSC, kazuto layout, 182 classes (COCO-stuff's count), random weights, 12 present",
}
QUICK_ROWS = [(12, "demo")]
GB = 1e9

# pydensecrf's peak, measured on the 2-core machine at 1.5 MP with 5, 21 and 60 classes (192, 364 and 1126 bytes a
# pixel beyond its inputs: Q, two scratch matrices, the unary and both lattices' vertex values), rounded up to
# 20 bytes a pixel and class plus 120; its child also holds the probabilities as float32 (4 a pixel and class), the
# image (3), and the interpreter with numpy and the engine (about 1 GB).
PYDENSECRF_PER_CLASS = 24
PYDENSECRF_PER_PIXEL = 123
PYDENSECRF_BASE = 1.0 * GB


def parse_choice(text: str | None, allowed, what: str) -> list:
    """'6,12' -> [6, 12] (in the order given, each once); every entry must be one of `allowed` (ValueError else)."""
    if text is None:
        return list(allowed)
    kind = type(next(iter(allowed)))
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            value = kind(part.removesuffix("MP").strip()) if kind is int else part
        except ValueError:
            value = None
        if value not in allowed:
            raise ValueError(f"unknown {what} {part!r}; choose from {', '.join(str(a) for a in allowed)}")
        if value not in out:
            out.append(value)
    if not out:
        raise ValueError(f"no {what} given")
    return out


def select_rows(sizes: str | None, models: str | None, quick: bool) -> list[tuple[int, str]]:
    """The (megapixels, model) rows to run: --quick is 12 MP with the demo model, else sizes x models."""
    if quick:
        if sizes is not None or models is not None:
            raise ValueError("--quick runs 12 MP with the demo model; leave out --sizes and --models")
        return list(QUICK_ROWS)
    return [(mp, m) for mp in parse_choice(sizes, SIZES, "size") for m in parse_choice(models, MODELS, "model")]


def pydensecrf_bytes(pixels: int, classes: int) -> int:
    """Estimated peak of the pydensecrf child for this image and class count (see the constants above)."""
    return int(pixels * (PYDENSECRF_PER_CLASS * classes + PYDENSECRF_PER_PIXEL) + PYDENSECRF_BASE)


def header() -> str:
    return (f"{'size':>6} {'model':<8} {'C':>3} | open->1st   exact | stroke->1st   exact | slider->1st   exact |"
            " peak  idle GB | pydensecrf     fast  ratio")


def _s(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f} s"


def _ms(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.0f} ms"


def _gb(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def format_row(mp: int, model: str, r: dict | None, reason: str | None = None) -> str:
    """One table line. r: the row's figures (seconds, ms, GB; see bench/app_window.py), None when the window
    failed; reason: why a row failed or why pydensecrf has no figure ('-' in its column, the reason after it)."""
    lead = f"{mp:3d} MP {model:<8}"
    if r is None:
        return f"{lead}     | failed: {reason or 'no result'}"
    ref = r.get("pydensecrf_s")
    fast = r.get("fast_s")
    ratio = f"{ref / fast:5.1f}x" if ref and fast else "     -"
    line = (f"{lead} {r['classes']:3d} | {_s(r['open_first_s']):>9} {_s(r['open_exact_s']):>7} | "
            f"{_ms(r['stroke_first_ms']):>11} {_s(r['stroke_exact_s']):>7} | "
            f"{_ms(r['slider_first_ms']):>11} {_s(r['slider_exact_s']):>7} | "
            f"{_gb(r['peak_gb']):>4} {_gb(r['idle_gb']):>5}    | {_s(ref):>10} {_s(fast):>8} {ratio}")
    return line + (f"  ({reason})" if reason else "")


def quick_line(r: dict) -> str:
    """The last line of --app --quick: stroke -> first refined labels, stroke -> exact, peak RSS."""
    return (f"12 MP window: stroke {r['stroke_first_ms']:.0f} ms, exact {r['stroke_exact_s']:.1f} s, "
            f"peak {r['peak_gb']:.1f} GB")
