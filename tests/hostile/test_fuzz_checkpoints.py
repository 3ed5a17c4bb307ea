"""Fuzzing the checkpoint readers: project .pt, kazuto-style .pth state dicts and .caffemodel files.

Inputs start from tiny real networks (so some of them load) and change what a hostile file can: spec fields
(types, huge counts), key names (block200000, prefixes), tensor shapes, dtypes and values (NaN), blob dims, and
raw bytes. load_checkpoint must return a model or raise CheckpointError, and never the catch-all "unexpected"
CheckpointError (each of those is a check the readers are missing); memory stays within a budget.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from engine.checkpoints import FORMAT, load_checkpoint
from engine.errors import CheckpointError
from engine.models.registry import ModelSpec, build_model
from tests.support.attacks.checkpoints import _field, _varint
from tests.support.fuzz_helpers import FUZZ, peak_memory_below

_V1 = ModelSpec(arch="deeplab_v1_largefov", n_classes=3,
                arch_kwargs=(("channels", (2, 2, 2, 2, 2)), ("fc_channels", 4)))
_V2 = ModelSpec(arch="deeplab_v2_resnet101", n_classes=3,
                arch_kwargs=(("blocks", (1, 1, 1, 1)), ("base_channels", 2)))
_V1_SD = {k: v.clone() for k, v in build_model(_V1).state_dict().items()}
_V2_SD = {k: v.clone() for k, v in build_model(_V2).state_dict().items()}
_HOSTILE_NUMBERS = [0, -1, 1, 3, 255, 256, 32768, 3_000_000, 2 ** 31, 2 ** 62, 10 ** 30, 1.5, float("nan"),
                    float("inf"), True, "3", None, [3], {"n": 3}]


def _load(tmp, data: bytes, name: str):
    path = tmp / name
    path.write_bytes(data)
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as exc:
        assert not getattr(exc, "unexpected", False), f"unhandled case: {exc}"
        assert str(path) in str(exc)
        return None
    assert 1 <= loaded.spec.n_classes <= 255
    return loaded


def _mutate_bytes(draw, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["as is"] * 4 + ["flip", "cut", "random"]))
    if kind == "flip":
        out = bytearray(data)
        for at in draw(st.lists(st.integers(0, len(out) - 1), min_size=1, max_size=6)):
            out[at] = draw(st.integers(0, 255))
        return bytes(out)
    if kind == "cut":
        return data[:draw(st.integers(0, len(data)))]
    if kind == "random":
        return data[:draw(st.integers(0, 8))] + draw(st.binary(max_size=200))
    return data


def _mutate_state_dict(draw, sd: dict) -> dict:
    keys = sorted(sd)
    if draw(st.integers(0, 7)):  # mostly a part of the network: loading each tensor costs the unpickler time
        keep = draw(st.sets(st.sampled_from(keys), min_size=1, max_size=8))
        keep |= {k for k in keys if k.startswith(("base.layer1.conv1.conv", "conv1_1", "fc6", "fc8",
                                                  "base.aspp.c0", "layer1.conv1.conv", "fc."))}
        sd = {k: sd[k] for k in keys if k in keep}
    else:
        sd = dict(sd)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(keys))
        change = draw(st.sampled_from(["drop", "shape", "nan", "dtype", "rename", "scalar", "non-tensor"]))
        value = sd.pop(key, None)
        if not isinstance(value, torch.Tensor):
            continue
        if change == "shape":
            sd[key] = torch.zeros(draw(st.lists(st.integers(0, 5), max_size=5)))
        elif change == "nan":
            sd[key] = value.float().clone().fill_(float("nan")) if value.numel() else value
        elif change == "dtype":
            sd[key] = value.to(draw(st.sampled_from([torch.int64, torch.float16, torch.float64, torch.bool,
                                                     torch.complex64])))
        elif change == "rename":
            block = draw(st.sampled_from(["1", "2", "64", "65", "999", "200000", "9" * 5000]))
            sd[key.replace("block1.", f"block{block}.").replace("conv1_1", "conv9_9")] = value
        elif change == "scalar":
            sd[key] = torch.tensor(1.0)
        elif change == "non-tensor":
            sd[key] = draw(st.sampled_from([1, "w", [1.0], None]))
    return sd


@st.composite
def project_files(draw) -> bytes:
    spec = _V1.to_dict() if draw(st.integers(0, 3)) else _V2.to_dict()   # v2 builds slower: a quarter
    sd = _V1_SD if spec["arch"] == "deeplab_v1_largefov" else _V2_SD
    for _ in range(draw(st.integers(0, 2))):
        field = draw(st.sampled_from(["n_classes", "input_size", "msc_scales", "mean_bgr", "class_names",
                                      "palette", "arch", "name", "arch_kwargs", "unknown_field"]))
        spec[field] = draw(st.sampled_from(_HOSTILE_NUMBERS + [[1.0] * 5, [[1, 2, 3]] * 3, ["a", "b", "c"]]))
    if draw(st.booleans()):
        kw = dict(spec.get("arch_kwargs") or {}) if isinstance(spec.get("arch_kwargs"), dict) else {}
        name = draw(st.sampled_from(["channels", "fc_channels", "blocks", "base_channels", "head", "rates",
                                     "dropout", "freeze_bn", "bogus"]))
        kw[name] = draw(st.sampled_from(_HOSTILE_NUMBERS + [[2] * 5, [1] * 4, [1, 1, 200000, 1], [4096] * 5,
                                                            "aspp", "fc", [[[1]]]]))
        spec["arch_kwargs"] = kw
    obj = {"format": FORMAT, "spec": spec, "state_dict": _mutate_state_dict(draw, sd)}
    buf = io.BytesIO()
    torch.save(obj, buf)
    return _mutate_bytes(draw, buf.getvalue())


@st.composite
def state_dict_files(draw) -> bytes:
    layout = draw(st.sampled_from(["kazuto", "coco-init", "v1-caffe-names"]))
    if layout == "v1-caffe-names":
        sd = {("fc8_voc12" + k[3:] if k.startswith("fc8") else k): v for k, v in _V1_SD.items()}
    elif layout == "coco-init":
        sd = {k[len("base."):]: v for k, v in _V2_SD.items() if k.startswith("base.")}
    else:
        sd = dict(_V2_SD)
    sd = _mutate_state_dict(draw, sd)
    wrap = draw(st.sampled_from(["none", "state_dict", "module.", "model"]))
    obj = {"module." + k: v for k, v in sd.items()} if wrap == "module." else sd
    if wrap in ("state_dict", "model"):
        obj = {wrap: obj, "epoch": 3}
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=draw(st.booleans()))
    return _mutate_bytes(draw, buf.getvalue())


def _blob(dims, data: np.ndarray, legacy: bool, double: bool) -> bytes:
    if legacy:
        head = b"".join(_field(n, 0, _varint(v)) for n, v in zip((1, 2, 3, 4), dims))
    else:
        head = _field(7, 2, _field(1, 2, b"".join(_varint(d) for d in dims)))
    raw = data.astype("<f8" if double else "<f4").tobytes()
    return head + _field(8 if double else 5, 2, raw)


_V1_LAYERS = [(name, [tuple(v.shape) for k, v in _V1_SD.items() if k.startswith(name + ".")])
              for name in dict.fromkeys(k.split(".")[0] for k in _V1_SD)]


_CAFFE_CHANGES = st.tuples(
    st.integers(0, len(_V1_LAYERS) - 1),
    st.sampled_from(["drop", "rename", "dim", "size", "geometry", "double"]),
    st.sampled_from([0, 1, 7, 2 ** 31, 2 ** 40, 2 ** 62, 2 ** 64 - 1]),
    st.sampled_from(["res2a_branch1", "bn_conv1", "conv1", "fc1_voc12_c0", "x" * 300, "", "fc8_coco"]))


@st.composite
def caffemodel_files(draw) -> bytes:
    """The tiny v1 net as a .caffemodel (legacy or new layer messages) with up to three changes."""
    legacy = draw(st.booleans())
    changes: dict[int, list] = {}
    for layer, kind, number, name in draw(st.lists(_CAFFE_CHANGES, max_size=3)):
        changes.setdefault(layer, []).append((kind, number, name))
    out = b""
    for i, (name, shapes) in enumerate(_V1_LAYERS):
        todo = changes.get(i, [])
        kinds = {k for k, _, _ in todo}
        if "drop" in kinds:
            continue
        name = next((n for k, _, n in todo if k == "rename"), "fc8_voc12" if name == "fc8" else name)
        blobs = b""
        for j, shape in enumerate(shapes):
            dims = list(shape) if len(shape) == 4 else [1, 1, 1, shape[0]]
            size = int(np.prod(dims))
            for kind, number, _ in todo:
                if kind == "dim":
                    dims[(number + j) % 4] = number
                elif kind == "size":
                    size = number % (2 * size + 3)
            blobs += _field(6 if legacy else 7, 2, _blob(dims, np.zeros(size, np.float32), legacy, "double" in kinds))
        if legacy:
            body = _field(4, 2, name.encode()) + _field(5, 0, _varint(4)) + blobs
        else:
            body = _field(1, 2, name.encode()) + _field(2, 2, b"Convolution") + blobs
        for kind, number, _ in todo:
            if kind == "geometry":  # a kernel size, sometimes absurd
                body += _field(10 if legacy else 106, 2, _field(4, 0, _varint(number)))
        out += _field(2 if legacy else 100, 2, body)
    return _mutate_bytes(draw, out)


@FUZZ
@given(data=project_files())
def _check_project(tmp, data):
    _load(tmp, data, "fuzz.pt")


@FUZZ
@given(data=state_dict_files())
def _check_state_dict(tmp, data):
    _load(tmp, data, "fuzz.pth")


@FUZZ
@given(data=caffemodel_files())
def _check_caffemodel(tmp, data):
    _load(tmp, data, "fuzz.caffemodel")


@pytest.mark.parametrize("check", [_check_project, _check_state_dict, _check_caffemodel],
                         ids=["pt", "pth", "caffemodel"])
def test_fuzz_checkpoint_reader(tmp_path, check):
    with peak_memory_below(400):
        check(tmp_path)


def test_fuzz_inputs_reach_the_loaders(tmp_path):
    """The generators are not all rejected at the door: the unmutated tiny networks do load."""
    for sd, name in ((_V1_SD, "v1"), (_V2_SD, "v2")):
        buf = io.BytesIO()
        torch.save(sd if name == "v2" else {"format": FORMAT, "spec": _V1.to_dict(), "state_dict": sd}, buf)
        assert _load(tmp_path, buf.getvalue(), f"{name}.pt") is not None
    layers = b"".join(_field(100, 2, _field(1, 2, ("fc8_voc12" if n == "fc8" else n).encode())
                             + _field(2, 2, b"Convolution")
                             + b"".join(_field(7, 2, _blob(list(s) if len(s) == 4 else [1, 1, 1, s[0]],
                                                          np.zeros(int(np.prod(s)), np.float32), False, False))
                                        for s in shapes))
                      for n, shapes in _V1_LAYERS)
    assert _load(tmp_path, layers, "v1.caffemodel") is not None   # what caffemodel_files() starts from
