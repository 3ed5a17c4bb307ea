"""Checkpoint readers: project format, kazuto .pth layouts, .caffemodel v1/v2, clear failures."""
import datetime
import hashlib
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from engine.checkpoints import load_checkpoint, save_checkpoint
from engine.checkpoints.caffe_mapping import _bn_stats, _v2_module
from engine.checkpoints.caffemodel import CaffeLayer, parse_caffemodel
from engine.errors import CheckpointError
from engine.labels import generic_classes
from engine.models import ModelSpec, build_model
from engine.models.deeplab_v2 import DeepLabV2
from tests.support.caffe_fixtures import PB, v1_caffemodel, v2_caffemodel

torch.set_num_threads(1)  # 2 shared cores: intra-op threads only add contention for tiny nets
V1_KW = (("channels", (4, 4, 8, 8, 8)), ("fc_channels", 16))
V2_KW = (("blocks", (1, 2, 2, 1)), ("base_channels", 8))


def _randomise_bn(model):
    """Non-trivial BN statistics so BN conversion errors change the outputs."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def v1_model(n_classes=21):
    torch.manual_seed(1)
    return build_model(ModelSpec(arch="deeplab_v1_largefov", n_classes=n_classes, arch_kwargs=V1_KW)).eval()


def v2_model(n_classes=5, msc=(0.5, 0.75)):
    torch.manual_seed(2)
    spec = ModelSpec(arch="deeplab_v2_resnet101", n_classes=n_classes, arch_kwargs=V2_KW, msc_scales=msc)
    return _randomise_bn(build_model(spec))


X = torch.randn(1, 3, 37, 45, generator=torch.Generator().manual_seed(3)) * 60


def same_outputs(a, b, exact=True):
    """Same network: equal stride-8 score maps (the upsampling is the checkpoint's pipeline, tested apart)."""
    with torch.no_grad():
        ya, yb = a.score_map(X), b.score_map(X)
    return torch.equal(ya, yb) if exact else torch.allclose(ya, yb, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- project format
@pytest.mark.parametrize("make", [v1_model, v2_model])
def test_own_format_round_trip(tmp_path, make):
    model = make()
    spec = replace(_spec_of(model), name="mine")
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, spec)
    loaded = load_checkpoint(path)
    assert loaded.source_format == "deeplab-annotator/1"
    assert loaded.spec == spec and not loaded.model.training
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.path == path
    assert same_outputs(model, loaded.model)
    other = generic_classes(spec.n_classes)
    assert load_checkpoint(path, class_list=other).spec.class_names == other.names
    assert not list(tmp_path.glob("*.tmp"))  # atomic write left no temp file


def _spec_of(model):
    if hasattr(model, "base"):
        return ModelSpec(arch="deeplab_v2_resnet101", n_classes=model.base.aspp.c0.out_channels,
                         arch_kwargs=V2_KW, msc_scales=model.scales)
    return ModelSpec(arch="deeplab_v1_largefov", n_classes=model.fc8.out_channels, arch_kwargs=V1_KW)


def test_own_format_spec_that_does_not_fit_names_keys_and_shapes(tmp_path):
    model = v1_model(21)
    path = tmp_path / "bad.pt"
    save_checkpoint(path, model, ModelSpec(arch="deeplab_v1_largefov", n_classes=5, arch_kwargs=V1_KW))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert str(path) in msg and "fc8.weight: file (21, 16, 1, 1) vs model (5, 16, 1, 1)" in msg


@pytest.mark.parametrize("names,why", [(("belt", "Belt", "can"), "repeats class 0"),
                                       (("belt", "pa\nper", "can"), "control characters"),
                                       (("belt", "", "can"), "is empty")])
def test_class_names_a_class_list_cannot_hold_are_refused(tmp_path, names, why):
    """A walk: a checkpoint naming 'belt' twice, or 'pa\\nper', loaded, and predict wrote a class_names.txt that the
    app then refused (the next predict into that folder exited 2). A checkpoint's names follow a folder's rules."""
    model = v1_model(3)
    path = tmp_path / "names.pt"
    save_checkpoint(path, model, ModelSpec(arch="deeplab_v1_largefov", n_classes=3, arch_kwargs=V1_KW,
                                           class_names=names, palette=((0, 0, 0), (1, 1, 1), (2, 2, 2))))
    with pytest.raises(CheckpointError, match=why):
        load_checkpoint(path)


# ---------------------------------------------------------------- plain state dicts
def test_kazuto_msc_state_dict(tmp_path):
    model = v2_model(n_classes=21)
    path = tmp_path / "deeplabv2_resnet101_msc-vocaug-20000.pth"
    # the released files predate the zip format: write the legacy pickle serialisation
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:1] == b"\x80"
    loaded = load_checkpoint(path)
    assert loaded.source_format == "kazuto" and loaded.spec.pipeline == loaded.model.pipeline == "kazuto"
    assert loaded.spec.arch == "deeplab_v2_resnet101" and loaded.spec.msc_scales == (0.5, 0.75)
    assert dict(loaded.spec.arch_kwargs) == {"blocks": (1, 2, 2, 1), "base_channels": 8}
    assert loaded.spec.class_names[1] == "aeroplane" and loaded.spec.crf_preset == "deeplab-v2"
    assert same_outputs(model, loaded.model)


def test_wrapped_dataparallel_state_dict_without_bn_counters(tmp_path):
    model = v2_model()
    sd = {"module." + k: v for k, v in model.state_dict().items() if "num_batches" not in k}
    path = tmp_path / "train.pth"
    torch.save({"epoch": 3, "state_dict": sd}, path)
    loaded = load_checkpoint(path)
    assert loaded.spec.n_classes == 5 and same_outputs(model, loaded.model)


def test_kazuto_coco_init_layout_with_fc_head(tmp_path):
    torch.manual_seed(4)
    plain = _randomise_bn(DeepLabV2(7, blocks=(1, 2, 2, 1), base_channels=8, head="fc"))
    path = tmp_path / "deeplabv1_resnet101-coco.pth"
    torch.save(plain.state_dict(), path)  # keys layer1... and fc.weight, no "base."
    loaded = load_checkpoint(path)
    assert dict(loaded.spec.arch_kwargs)["head"] == "fc" and loaded.spec.msc_scales == ()
    with torch.no_grad():
        assert torch.equal(loaded.model.score_map(X), plain(X))


def test_v1_state_dict_with_caffe_names(tmp_path):
    model = v1_model()
    sd = {k.replace("fc8.", "fc8_voc12."): v for k, v in model.state_dict().items()}
    path = tmp_path / "deeplab_largeFOV.pth"
    torch.save(sd, path)
    loaded = load_checkpoint(path)
    assert loaded.source_format == "state_dict" and same_outputs(model, loaded.model)
    assert loaded.spec.pipeline == "caffe" and loaded.model.pipeline == "caffe"  # a conversion of the Caffe release


def test_mismatch_lists_missing_unexpected_and_shapes(tmp_path):
    sd = v2_model().state_dict()
    del sd["base.layer3.block2.conv3x3.conv.weight"]
    sd["base.layer9.extra.weight"] = torch.zeros(3)
    sd["base.layer2.block1.reduce.bn.weight"] = torch.zeros(7)
    path = tmp_path / "broken.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "missing keys (1): base.layer3.block2.conv3x3.conv.weight" in msg
    assert "unexpected keys (1): base.layer9.extra.weight" in msg
    assert "base.layer2.block1.reduce.bn.weight: file (7,) vs model (8,)" in msg


def test_class_list_of_wrong_length_is_refused(tmp_path):
    path = tmp_path / "m.pth"
    torch.save(v2_model(n_classes=5).state_dict(), path)
    with pytest.raises(CheckpointError, match="predicts 5 classes but the chosen class list has 3"):
        load_checkpoint(path, class_list=generic_classes(3))


# ---------------------------------------------------------------- caffemodel
@pytest.mark.parametrize("legacy", [True, False])
def test_caffemodel_v1(tmp_path, legacy):
    model = v1_model(21)
    path = tmp_path / "train2_iter_8000.caffemodel"
    path.write_bytes(v1_caffemodel(model, legacy=legacy))
    loaded = load_checkpoint(path)
    assert loaded.source_format == "caffemodel" and loaded.spec.arch == "deeplab_v1_largefov"
    assert loaded.spec.pipeline == "caffe" and loaded.model.pipeline == "caffe"
    assert loaded.spec.class_names[0] == "background" and loaded.spec.crf_preset == "deeplab-v1"
    assert dict(loaded.spec.arch_kwargs) == dict(V1_KW)
    assert same_outputs(model, loaded.model)


def test_caffemodel_v2_msc_bn_scale_and_coco_stuff_classes(tmp_path):
    model = v2_model(n_classes=182)
    path = tmp_path / "train2_iter_20000.caffemodel"
    path.write_bytes(v2_caffemodel(model, exp="coco"))
    loaded = load_checkpoint(path)
    assert loaded.spec.arch == "deeplab_v2_resnet101" and loaded.spec.msc_scales == (0.5, 0.75)
    assert len(loaded.spec.class_names) == 182 and loaded.spec.class_names != generic_classes(182).names
    bn = loaded.model.base.layer3.block2.reduce.bn
    ref = model.base.layer3.block2.reduce.bn
    assert torch.allclose(bn.running_var, ref.running_var, rtol=1e-5)  # divided by the scale factor
    assert loaded.spec.pipeline == loaded.model.pipeline == "caffe"
    as_caffe = build_model(replace(_spec_of(model), pipeline="caffe")).eval()
    as_caffe.load_state_dict(model.state_dict())  # Caffe's MSC (Interp sizes) on the same weights
    assert same_outputs(as_caffe, loaded.model, exact=False)


def test_caffemodel_geometry_mismatch_is_reported(tmp_path):
    path = tmp_path / "fov.caffemodel"
    path.write_bytes(v1_caffemodel(v1_model(), fc6_hole=8))
    with pytest.raises(CheckpointError, match="fc6 dilation 8 in file vs 12 in the model"):
        load_checkpoint(path)


def test_caffemodel_missing_layer_is_reported(tmp_path):
    net = PB["NetParameter"]()
    net.ParseFromString(v1_caffemodel(v1_model(), legacy=True))
    del net.layers[4]  # conv2_1 (conv and relu layers alternate)
    path = tmp_path / "cut.caffemodel"
    path.write_bytes(net.SerializeToString())
    with pytest.raises(CheckpointError, match=r"conv2_1.weight"):
        load_checkpoint(path)


def test_reader_accepts_unpacked_floats_doubles_and_legacy_shapes():
    net = PB["LooseNet"]()
    layer = net.layer.add(name="w", type="Convolution")
    blob = layer.blobs.add()
    blob.shape.dim.extend([2, 3])
    blob.data.extend([1.5, -2.0, 3.25, 0.0, 7.0, 8.0])
    dbl = layer.blobs.add()
    dbl.double_data.extend([0.5, 0.25])
    (parsed,) = parse_caffemodel(net.SerializeToString())
    assert parsed.name == "w" and parsed.type == "Convolution"
    np.testing.assert_array_equal(parsed.blobs[0], [[1.5, -2.0, 3.25], [0.0, 7.0, 8.0]])
    np.testing.assert_array_equal(parsed.blobs[1], [0.5, 0.25])
    old = PB["NetParameter"]()
    b = old.layers.add(name="fc8_voc12", type=4).blobs.add()
    b.num, b.channels, b.height, b.width = 1, 1, 1, 3
    b.data.extend([1, 2, 3])
    (legacy,) = parse_caffemodel(old.SerializeToString())
    assert legacy.legacy and legacy.type == "Convolution" and legacy.blobs[0].shape == (1, 1, 1, 3)


def test_batchnorm_scale_factor_zero_guard_and_names():
    layer = CaffeLayer("bn2a_branch1", "BatchNorm",
                       [np.ones(3, np.float32), np.full(3, 4.0, np.float32), np.zeros(1, np.float32)])
    stats = _bn_stats(layer)
    assert torch.equal(stats["running_mean"], torch.zeros(3)) and torch.equal(stats["running_var"], torch.zeros(3))
    assert _v2_module("res4b22_branch2b") == ("layer4.block23.conv3x3.conv", "conv")
    assert _v2_module("scale3a_branch1") == ("layer3.block1.shortcut.bn", "scale")
    assert _v2_module("bn5c_branch2c") == ("layer5.block3.increase.bn", "bn")
    assert _v2_module("fc1_voc12_c2") == ("aspp.c2", "conv")


# ---------------------------------------------------------------- not checkpoints
def _garbage_files(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, v1_model(), _spec_of(v1_model()))
    caffe = v1_caffemodel(v1_model())
    files = {
        "photo.pth": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100),
        "empty.pth": b"",
        "truncated.pt": good.read_bytes()[: good.stat().st_size // 2],
        "truncated.caffemodel": caffe[: len(caffe) // 2],
        "random.caffemodel": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "notes.pth": b"hello, this is text and not a model\n" * 20,
    }
    other = PB["NetParameter"]()
    other.layer.add(name="conv_a", type="Convolution").blobs.add().data.extend([1.0])
    files["lenet.caffemodel"] = other.SerializeToString()
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    torch.save({"w": torch.zeros(2)}, tmp_path / "other.pth")
    torch.save({"when": datetime.date(2020, 1, 1)}, tmp_path / "unsafe.pth")
    return paths + [tmp_path / "other.pth", tmp_path / "unsafe.pth", tmp_path / "nope.pth", tmp_path]


def test_non_checkpoints_fail_clearly(tmp_path):
    for path in _garbage_files(tmp_path):
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path)
        assert str(path) in str(err.value), str(err.value)
    with pytest.raises(CheckpointError, match="JPEG image"):
        load_checkpoint(tmp_path / "photo.pth")
    with pytest.raises(CheckpointError, match="no DeepLab network recognised"):
        load_checkpoint(tmp_path / "lenet.caffemodel")
    with pytest.raises(CheckpointError, match="not a DeepLab model"):
        load_checkpoint(tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="refused for safety"):
        load_checkpoint(tmp_path / "unsafe.pth")
    with pytest.raises(CheckpointError, match="zip archive is incomplete"):
        load_checkpoint(tmp_path / "truncated.pt")
    with pytest.raises(CheckpointError, match="not a valid .caffemodel"):
        load_checkpoint(tmp_path / "truncated.caffemodel")
