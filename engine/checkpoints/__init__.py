"""One front door for model files: load_checkpoint(path) -> LoadedModel, save_checkpoint(...).

Recognised by content, not extension: the project format and plain state dicts (kazuto .pth,
v1 with Caffe names) are torch zip/pickle files read with weights_only=True; anything else is
tried as a .caffemodel (protobuf wire format). Every failure is a CheckpointError that names
the file and says what was expected.
"""
from __future__ import annotations

import hashlib
import io
import logging
import math
import pickle
import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from engine.checkpoints import backbone
from engine.checkpoints.caffe_mapping import caffe_state_dict, detect_caffe_arch, is_msc_copy
from engine.checkpoints.caffemodel import CaffeFormatError, parse_caffemodel
from engine.checkpoints.fit import bn_eps_kwarg, check_geometry, fit_state_dict, spec_from_state_dict
from engine.checkpoints.kazuto import (
    KAZUTO_MSC_SCALES,
    PIPELINE_OF_LAYOUT,
    near_miss,
    normalise_state_dict,
    unwrap_state_dict,
)
from engine.checkpoints.own_format import FORMAT, is_own_format, save_checkpoint
from engine.checkpoints.safety import check_state_dict, check_zip_members, read_model_file
from engine.checkpoints.spec_check import MAX_CLASSES, check_spec, check_spec_dict, check_weight_budget
from engine.errors import CheckpointError
from engine.models.registry import ModelSpec, build_model

__all__ = ["LoadedModel", "load_checkpoint", "save_checkpoint", "with_pipeline", "FORMAT"]

log = logging.getLogger(__name__)
_ZIP_MAGIC = b"PK\x03\x04"
_NOT_CHECKPOINTS = {b"\xff\xd8\xff": "a JPEG image", b"\x89PNG": "a PNG image",
                    b"GIF8": "a GIF image", b"%PDF": "a PDF document"}


@dataclass(frozen=True)
class LoadedModel:
    """A ready network (eval mode, CPU) with what it is and where it came from."""
    model: nn.Module
    spec: ModelSpec
    source_format: str  # "deeplab-annotator/1", "kazuto", "state_dict" (v1 Caffe names), "caffemodel"
    sha256: str
    path: Path


def _describe(spec: ModelSpec) -> str:
    return f"{spec.arch} ({spec.n_classes} classes, {dict(spec.arch_kwargs) or 'full size'})"


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [""])[0][:200]


def _build(spec: ModelSpec, path: Path, file_bytes: int | None) -> nn.Module:
    """Build only what passed the spec ranges and fits the file's size (engine.checkpoints.spec_check).
    file_bytes None: the weights are already in memory (a network rebuilt for another pipeline), no size check."""
    check_spec(spec, path)
    if file_bytes is not None:
        check_weight_budget(spec, path, file_bytes)
    try:
        return build_model(spec)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: cannot build the network it describes: {e}") from e


def _load_project(obj: dict, path: Path, class_list, file_bytes: int):
    check_spec_dict(obj.get("spec"), path)
    try:
        spec = ModelSpec.from_dict(obj.get("spec"))
    except (ValueError, TypeError, OverflowError) as e:
        raise CheckpointError(f"{path}: the model spec stored in the file is invalid: {e}") from e
    if class_list is not None:
        if len(class_list) != spec.n_classes:
            raise CheckpointError(f"{path}: the model predicts {spec.n_classes} classes but the "
                                  f"chosen class list has {len(class_list)}")
        spec = replace(spec, class_names=class_list.names, palette=class_list.palette)
    sd = obj.get("state_dict")
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: project checkpoint has no 'state_dict' dictionary")
    check_state_dict(sd, path)
    head = obj.get("folder_head")
    if head is None:
        model = _build(spec, path, file_bytes)
    else:
        model = _with_folder_head(spec, head, sd, path, file_bytes)
        model.folder_head.taught = _taught(obj.get("provenance"))
    fit_state_dict(model, sd, path, _describe(spec))
    model.untrained_classes = _untrained(obj.get("provenance"), spec.class_names)
    return model, spec, FORMAT


def _untrained(provenance, names) -> tuple[str, ...]:
    """A trained checkpoint's provenance 'untrained_classes' (engine.learn.finetune.untrained_classes): names of
    its classes that nothing taught, kept only where the model has such a class."""
    listed = provenance.get("untrained_classes") if isinstance(provenance, dict) else None
    if not isinstance(listed, list):
        return ()
    return tuple(n for n in names if n in {x for x in listed[:MAX_CLASSES] if isinstance(x, str)})


def untrained_classes(loaded) -> tuple[str, ...]:
    """Names of ``loaded``'s classes that its training never saw (see _untrained); () for most models."""
    return tuple(getattr(loaded.model, "untrained_classes", ()))


def _taught(provenance) -> dict[str, tuple[int, int]]:
    """An adapted model's provenance 'taught': class name -> (strokes, images) of the strokes that taught it before
    the export (the Classes panel says so). Anything malformed is left out: it is only shown."""
    taught = provenance.get("taught") if isinstance(provenance, dict) else None
    out = {}
    if isinstance(taught, dict):
        for name, counts in list(taught.items())[:MAX_CLASSES]:
            if isinstance(name, str) and isinstance(counts, dict):
                n, m = counts.get("strokes"), counts.get("images")
                if type(n) is int and type(m) is int and 0 <= n < 1 << 31 and 0 <= m < 1 << 31:
                    out[name[:200]] = (n, m)
    return out


def _with_folder_head(spec, head, sd: dict, path: Path, file_bytes: int):
    """An exported adapted model: the network with its own n_model outputs, under a head over spec's classes."""
    from engine.models import folder_head

    try:
        source = [int(v) for v in head["source"]]
        n_model, inv_scale = int(head["n_model"]), float(head["inv_scale"])
        gate = None if head.get("gate") is None else float(head["gate"])
        gate_new = None if head.get("gate_new") is None else float(head["gate_new"])
        margin = float(head.get("margin", folder_head.NEW_CLASS_MARGIN))
        weight = sd["folder_head.weight"]
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: the adapted head stored in the file is malformed ({e})") from e
    if not (1 <= n_model <= MAX_CLASSES and len(source) == spec.n_classes and
            all(-1 <= v < n_model for v in source) and math.isfinite(inv_scale) and inv_scale > 0 and
            isinstance(weight, torch.Tensor) and weight.ndim == 2 and weight.shape[0] == spec.n_classes and
            (gate is None or 0 <= gate < 1) and (gate_new is None or 0 <= gate_new < 1) and math.isfinite(margin)):
        raise CheckpointError(f"{path}: the adapted head stored in the file does not fit its network")
    model = _build(replace(spec, n_classes=n_model, class_names=(), palette=()), path, file_bytes)
    own = folder_head.NetworkClassifier(model.classifier)
    zeros = torch.zeros(tuple(weight.shape)), torch.zeros(spec.n_classes)
    pixel = sd.get("folder_head.pixel")   # exports before the pixel term have none
    if pixel is not None and (not isinstance(pixel, torch.Tensor) or
                              tuple(pixel.shape) != (spec.n_classes, folder_head.N_PIXEL)):
        raise CheckpointError(f"{path}: the adapted head stored in the file does not fit its network")
    folder_head.attach(model, folder_head.FolderHead(own, source, *zeros, inv_scale, gate, margin, gate_new,
                                                     pixel=None if pixel is None else torch.zeros(tuple(pixel.shape))))
    return model


def _load_torch(data: bytes, path: Path, class_list):
    if data.startswith(_ZIP_MAGIC):
        check_zip_members(data, path)
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" not in str(e).lower():
            raise CheckpointError(f"{path}: corrupt PyTorch checkpoint: {_first_line(e)}") from e
        raise CheckpointError(f"{path}: holds Python objects other than tensors and plain values, "
                              f"which are refused for safety (weights_only loading); save just "
                              f"the state_dict instead") from e
    except Exception as e:  # torch raises many types for corrupt or truncated files
        hint = ("the zip archive is incomplete (truncated download or copy?)"
                if data.startswith(_ZIP_MAGIC) and not zipfile.is_zipfile(io.BytesIO(data))
                else f"{type(e).__name__}: {_first_line(e)}")
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint: {hint}") from e
    if is_own_format(obj):
        return _load_project(obj, path, class_list, len(data))
    sd = unwrap_state_dict(obj)
    if sd:
        check_state_dict(sd, path)
    found = normalise_state_dict(sd) if sd else None
    if found is None:
        sample = ", ".join(list(map(str, sd))[:5]) if sd else type(obj).__name__
        why = near_miss(sd) if sd else ""
        if why:   # (a walk: "expected conv1_1.weight ... found: conv1_1.weight" for a file with no fc7)
            raise CheckpointError(f"{path}: a PyTorch file, but not a DeepLab model this app knows: {why}")
        raise CheckpointError(
            f"{path}: a PyTorch file, but not a DeepLab model this app knows. Expected the project "
            f"format, kazuto's deeplab-pytorch keys (base.layer1.conv1.conv.weight ...) or DeepLab "
            f"v1 Caffe names (conv1_1.weight ... fc8.weight); found: {sample}")
    arch, scales, sd, layout = found
    stripped = backbone.strip_classifier(arch, sd)
    if stripped is not None:
        sd, class_list, layout_name = stripped, backbone.CLASSES, f"{layout}, {backbone.MARK}"
    else:
        layout_name = layout
    spec = spec_from_state_dict(arch, sd, path, scales, class_list, pipeline=PIPELINE_OF_LAYOUT[layout])
    model = _build(spec, path, len(data))
    fit_state_dict(model, sd, path, _describe(spec))
    return model, spec, layout_name


def _load_caffe(data: bytes, path: Path, class_list):
    try:
        layers = parse_caffemodel(data)
    except CaffeFormatError as e:
        raise CheckpointError(f"{path}: not a PyTorch checkpoint and not a valid .caffemodel "
                              f"(protobuf error: {e}); the file may be truncated or of another "
                              f"kind") from e
    arch = detect_caffe_arch(layers)
    if arch is None:
        names = [layer.name for layer in layers if layer.blobs][:8]
        raise CheckpointError(
            f"{path}: no DeepLab network recognised. Expected a PyTorch checkpoint, or a "
            f".caffemodel with DeepLab v1 LargeFOV layers (conv1_1 ... fc8_*) or v2 ResNet-101 "
            f"layers (conv1, res2a_branch2a ... fc1_*_c0); layers with weights found: {names}")
    try:
        sd, unknown, geometry, eps_by_path = caffe_state_dict(layers, arch)
    except (ValueError, IndexError) as e:  # e.g. a BatchNorm layer without its statistics
        raise CheckpointError(f"{path}: malformed DeepLab .caffemodel: {e}") from e
    msc = KAZUTO_MSC_SCALES if arch == "deeplab_v2_resnet101" and any(
        is_msc_copy(layer.name) for layer in layers if layer.blobs) else ()
    check_state_dict(sd, path)
    fmt = "caffemodel"
    if unknown and all(re.fullmatch(r"fc\d+", name) for name in unknown):
        unknown = []                  # an ImageNet classifier (ResNet-101's fc1000): a backbone-only file
    stripped = backbone.strip_classifier(arch, sd)
    if stripped is not None:
        sd, class_list, fmt = stripped, backbone.CLASSES, f"caffemodel, {backbone.MARK}"
    spec = spec_from_state_dict(arch, sd, path, msc, class_list, pipeline="caffe")
    model = _build(spec, path, len(data))
    eps = bn_eps_kwarg(model, eps_by_path)
    if eps is not None:  # Caffe adds each BatchNorm layer's own eps (batch_norm_layer.cpp)
        spec = replace(spec, arch_kwargs=spec.arch_kwargs + (("bn_eps", eps),))
        model = _build(spec, path, len(data))
    if unknown:
        raise CheckpointError(f"{path}: the weights do not fit {_describe(spec)}. Layers with "
                              f"weights this app cannot place: {', '.join(unknown[:10])}")
    fit_state_dict(model, sd, path, _describe(spec), reshape=True)
    check_geometry(model, geometry, path)
    return model, spec, fmt


def with_pipeline(loaded: LoadedModel, pipeline: str) -> LoadedModel:
    """The same weights run by another inference pipeline ("caffe" / "kazuto"): a new network (CPU, eval), so a
    Predictor still holding `loaded` is not affected. The file's own pipeline stays in loaded.spec of the original."""
    try:
        spec = replace(loaded.spec, pipeline=pipeline)
    except ValueError as e:
        raise CheckpointError(f"{loaded.path}: {e}") from e
    if spec == loaded.spec:
        return loaded
    model = _build(spec, loaded.path, None)  # the same weights, already read and checked
    model.load_state_dict({k: v.detach().cpu() for k, v in loaded.model.state_dict().items()})
    return replace(loaded, model=model.eval(), spec=spec)


def load_checkpoint(path: str | Path, class_list=None, pipeline: str | None = None) -> LoadedModel:
    """Read any supported model file. class_list overrides the default (21 VOC, 182 COCO-Stuff,
    else generic names) and must have as many classes as the model's head. The inference pipeline is the
    one the file's source used (spec.pipeline: caffe for .caffemodel and v1 Caffe-name state dicts, kazuto for
    kazuto's .pth, the stored one for project checkpoints); `pipeline` overrides it."""
    path = Path(path)
    data = read_model_file(path)  # regular files only, size-capped (engine.checkpoints.safety)
    if not data:
        raise CheckpointError(f"{path}: the model file is empty")
    for magic, kind in _NOT_CHECKPOINTS.items():
        if data.startswith(magic):
            raise CheckpointError(f"{path}: this is {kind}, not a model checkpoint "
                                  f"(.pt/.pth/.caffemodel)")
    # torch.save writes a zip; the legacy format is a pickle (protocol 2+ starts with 0x80)
    is_torch = data.startswith(_ZIP_MAGIC) or data[:1] == b"\x80"
    loader = _load_torch if is_torch else _load_caffe
    try:
        model, spec, fmt = loader(data, path, class_list)
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError(f"{path}: not enough memory to load this model") from None
    except Exception as e:  # noqa: BLE001 - the last guard: a hostile file gets a message, never a traceback
        log.warning("unexpected error reading %s", path, exc_info=True)
        err = CheckpointError(f"{path}: malformed model file ({type(e).__name__}: {_first_line(e)})")
        err.unexpected = True  # the fuzz tests look for these: each is a check this module is missing
        raise err from e
    model.eval()
    loaded = LoadedModel(model=model, spec=spec, source_format=fmt,
                         sha256=hashlib.sha256(data).hexdigest(), path=path)
    return loaded if pipeline is None else with_pipeline(loaded, pipeline)
