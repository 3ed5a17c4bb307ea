"""ModelSpec (what a checkpoint says about its network) and the architecture registry.

A spec is a small frozen dataclass of primitives so it can be stored inside a checkpoint
(loaded with weights_only=True) and compared/hashed; build_model looks the architecture up in
a dict of builders instead of an if-chain, so adding a net means adding one entry.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Callable

from torch import nn

from engine.models.deeplab_v1 import build_deeplab_v1
from engine.models.deeplab_v2 import build_deeplab_v2
from engine.models.pipelines import DEFAULT_PIPELINE, check_pipeline

# arch name -> builder(n_classes, msc_scales=(), pipeline=..., **arch_kwargs) -> nn.Module with
# forward(x) -> logits at input size and score_map(x) -> stride-8 logits.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "deeplab_v1_largefov": build_deeplab_v1,
    "deeplab_v2_resnet101": build_deeplab_v2,
}

DEFAULT_MEAN_BGR = (104.008, 116.669, 122.675)


def _freeze(value):
    """Lists (from JSON/to_dict) -> tuples, recursively, so specs stay hashable."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value):
    """Tuples -> lists, recursively: primitives only for to_dict()."""
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a network and interpret its output.

    class_names/palette may be left empty: they are then filled from the standard list for
    n_classes (21 -> VOC, 182 -> COCO-Stuff, else generic names and the VOC palette).
    pipeline is how the weights' authors ran them (engine.models.pipelines): "caffe" or "kazuto";
    a spec stored without it (project checkpoints from before issue 13) gets DEFAULT_PIPELINE.
    """
    arch: str
    n_classes: int
    class_names: tuple[str, ...] = ()
    palette: tuple[tuple[int, int, int], ...] = ()
    arch_kwargs: tuple[tuple[str, object], ...] = ()
    msc_scales: tuple[float, ...] = ()
    mean_bgr: tuple[float, float, float] = DEFAULT_MEAN_BGR
    input_size: int = 513
    crf_preset: str = "deeplab-v1"
    name: str = ""
    pipeline: str = DEFAULT_PIPELINE

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; known: {sorted(ARCHITECTURES)}")
        if int(self.n_classes) < 1:
            raise ValueError(f"n_classes must be >= 1, got {self.n_classes}")
        set_("n_classes", int(self.n_classes))
        set_("arch_kwargs", tuple(sorted((str(k), _freeze(v)) for k, v in self.arch_kwargs)))
        set_("msc_scales", tuple(float(s) for s in self.msc_scales))
        set_("mean_bgr", tuple(float(m) for m in self.mean_bgr))
        set_("input_size", int(self.input_size))
        set_("pipeline", check_pipeline(str(self.pipeline)))
        if not self.class_names or not self.palette:
            from engine.labels import default_class_list  # the one place for this rule
            default = default_class_list(self.n_classes)
            if not self.class_names:
                set_("class_names", default.names)
            if not self.palette:
                set_("palette", default.palette)
        set_("class_names", tuple(str(n) for n in self.class_names))
        set_("palette", tuple(tuple(int(c) for c in rgb) for rgb in self.palette))
        if len(self.class_names) != self.n_classes or len(self.palette) != self.n_classes:
            raise ValueError(f"spec has {self.n_classes} classes but {len(self.class_names)} "
                             f"names and {len(self.palette)} palette colours")

    def class_list(self):
        """The engine.labels.ClassList for this model's output channels."""
        from engine.labels import ClassList
        return ClassList(names=self.class_names, palette=self.palette)

    def kwargs(self) -> dict:
        """arch_kwargs as a dict, for the builder."""
        return dict(self.arch_kwargs)

    def to_dict(self) -> dict:
        """Primitives only (str/int/float/list/dict): safe for weights_only torch.load and JSON."""
        d = asdict(self)
        d["arch_kwargs"] = {k: _thaw(v) for k, v in self.arch_kwargs}
        return {k: _thaw(v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        """Inverse of to_dict; raises ValueError on unknown or missing fields."""
        if not isinstance(d, dict):
            raise ValueError(f"model spec must be a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model spec fields: {unknown}")
        if "arch" not in d or "n_classes" not in d:
            raise ValueError("model spec needs at least 'arch' and 'n_classes'")
        d = {k: _freeze(v) for k, v in d.items()}
        kw = d.get("arch_kwargs", ())
        if isinstance(kw, dict):
            kw = tuple(kw.items())
        d["arch_kwargs"] = tuple((k, _freeze(v)) for k, v in kw)
        return cls(**d)


def build_model(spec: ModelSpec) -> nn.Module:
    """A freshly initialised network for `spec` (training mode; call .eval() for inference)."""
    builder = ARCHITECTURES[spec.arch]
    try:
        return builder(spec.n_classes, msc_scales=spec.msc_scales, pipeline=spec.pipeline, **spec.kwargs())
    except TypeError as e:  # an arch_kwarg the builder does not know
        raise ValueError(f"bad arch_kwargs {spec.kwargs()} for {spec.arch}: {e}") from e
