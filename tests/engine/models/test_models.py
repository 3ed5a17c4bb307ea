"""DeepLab v1/v2 networks: Caffe geometry (stride 8, ceil pooling), output sizes, MSC, frozen BN, spec."""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.models import ARCHITECTURES, ModelSpec, build_model

torch.set_num_threads(1)  # 2 shared cores: intra-op threads only add contention for tiny nets
V1_NARROW = (("channels", (4, 4, 8, 8, 8)), ("fc_channels", 16))
V2_NARROW = (("blocks", (1, 1, 2, 1)), ("base_channels", 8))


def caffe_conv(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def caffe_pool(n, k=3, s=2, p=1):
    """Caffe's pooling size rule (ceil, minus one if the last window starts in the padding)."""
    out = math.ceil((n + 2 * p - k) / s) + 1
    return out - 1 if (out - 1) * s >= n + p else out


def v1_score_size(n):
    return caffe_pool(caffe_pool(caffe_pool(n)))


def v2_score_size(n):
    stem = caffe_pool(caffe_conv(n, 7, 2, 3))
    return caffe_conv(stem, 1, 2, 0)  # res3a_branch2a: the only stride after the stem


def narrow(arch, n_classes=3, **kw):
    kwargs = V1_NARROW if arch == "deeplab_v1_largefov" else V2_NARROW
    return ModelSpec(arch=arch, n_classes=n_classes, arch_kwargs=kwargs, **kw)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("hw", [(65, 65), (64, 64), (97, 50), (513, 513), (500, 500)])
def test_v1_stride8_ceil_sizes_and_output_size(hw):
    model = build_model(narrow("deeplab_v1_largefov")).eval()
    x = torch.randn(1, 3, *hw)
    with torch.no_grad():
        score, out = model.score_map(x), model(x)
    assert score.shape[-2:] == (v1_score_size(hw[0]), v1_score_size(hw[1]))
    assert out.shape == (1, 3, *hw)
    if hw == (500, 500):
        assert score.shape[-1] == 64  # floor-mode pooling would give 63
    if hw == (513, 513):
        assert score.shape[-1] == 65


@pytest.mark.parametrize("hw", [(65, 65), (64, 64), (97, 50)])
def test_v2_stride8_and_output_size(hw):
    model = build_model(narrow("deeplab_v2_resnet101", msc_scales=(0.5, 0.75))).eval()
    x = torch.randn(1, 3, *hw)
    with torch.no_grad():
        score, out = model.score_map(x), model(x)
    assert score.shape[-2:] == (v2_score_size(hw[0]), v2_score_size(hw[1]))
    assert out.shape == (1, 3, *hw)


def test_upsampling_follows_the_pipeline():
    """caffe: Interp zoom 8 to (h-1)*8+1 (corner-aligned, cell i at pixel 8i), then the crop; kazuto: bilinear with
    align_corners=False straight to the input size."""
    x = torch.randn(1, 3, 41, 57)
    caffe = build_model(narrow("deeplab_v1_largefov", pipeline="caffe")).eval()
    kazuto = build_model(narrow("deeplab_v1_largefov", pipeline="kazuto")).eval()
    kazuto.load_state_dict(caffe.state_dict())
    with torch.no_grad():
        score, out_c, out_k = caffe.score_map(x), caffe(x), kazuto(x)
    h, w = score.shape[-2:]
    zoomed = F.interpolate(score, size=((h - 1) * 8 + 1, (w - 1) * 8 + 1), mode="bilinear", align_corners=True)
    assert out_c.shape == out_k.shape == (1, 3, 41, 57)
    assert torch.equal(out_c, zoomed[..., :41, :57])
    assert torch.equal(out_c[..., ::8, ::8], score[..., :6, :8])  # the cells themselves, exactly
    assert torch.equal(out_k, F.interpolate(score, size=(41, 57), mode="bilinear", align_corners=False))
    assert not torch.allclose(out_c, out_k)


def test_v1_full_size_matches_released_prototxt():
    model = build_model(ModelSpec(arch="deeplab_v1_largefov", n_classes=21))
    names = [n for n, _ in model.named_children() if n.startswith(("conv", "fc"))]
    assert names == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
                     "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3", "fc6", "fc7", "fc8"]
    assert len(model.state_dict()) == 32
    n_params = sum(p.numel() for p in model.parameters())
    assert 20.4e6 < n_params < 20.6e6  # "20.5M" in the DeepLab v1 paper, Table 2
    assert (model.fc6.kernel_size, model.fc6.dilation, model.fc6.padding) == ((3, 3), (12, 12), (12, 12))
    assert model.fc6.out_channels == model.fc7.out_channels == 1024
    assert model.conv5_1.dilation == (2, 2) and model.conv4_3.dilation == (1, 1)
    assert [model.pool1.stride, model.pool3.stride, model.pool4.stride, model.pool5.stride] == [2, 2, 1, 1]
    assert model.pool1.ceil_mode and isinstance(model.pool5a, nn.AvgPool2d)
    assert model.pool5a.count_include_pad


def test_v2_full_resnet101_matches_kazuto_tree():
    spec = ModelSpec(arch="deeplab_v2_resnet101", n_classes=21, msc_scales=(0.5, 0.75))
    model = build_model(spec).eval()
    sd = model.state_dict()
    assert len(sd) == 632  # kazuto's MSC(DeepLabV2) incl. num_batches_tracked
    shapes = {"base.layer1.conv1.conv.weight": (64, 3, 7, 7),
              "base.layer2.block1.reduce.conv.weight": (64, 64, 1, 1),
              "base.layer2.block1.shortcut.conv.weight": (256, 64, 1, 1),
              "base.layer4.block23.conv3x3.conv.weight": (256, 256, 3, 3),
              "base.layer5.block1.conv3x3.conv.weight": (512, 512, 3, 3),
              "base.aspp.c3.weight": (21, 2048, 3, 3), "base.aspp.c0.bias": (21,)}
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    base = model.base
    assert base.layer3.block1.reduce.conv.stride == (2, 2)  # stride on the first 1x1
    assert base.layer3.block1.conv3x3.conv.stride == (1, 1)
    assert all(b.conv3x3.conv.dilation == (2, 2) for b in base.layer4.children())
    assert all(b.conv3x3.conv.dilation == (4, 4) for b in base.layer5.children())
    assert [c.dilation[0] for c in base.aspp.children()] == [6, 12, 18, 24]
    assert base.layer1.pool.ceil_mode
    with torch.no_grad():
        out = model(torch.randn(1, 3, 65, 65))
    assert out.shape == (1, 21, 65, 65) and torch.isfinite(out).all()


def test_msc_fuses_by_max_at_1x_score_size():
    model = build_model(narrow("deeplab_v2_resnet101", msc_scales=(0.5, 0.75))).eval()
    x = torch.randn(1, 3, 49, 41)
    with torch.no_grad():
        pyramid = model.score_pyramid(x)
        single = model.base(x)
    assert len(pyramid) == 4
    assert all(p.shape == single.shape for p in pyramid)
    assert torch.equal(pyramid[0], single)
    assert torch.equal(pyramid[-1], torch.max(torch.stack(pyramid[:3]), dim=0).values)
    assert not torch.equal(pyramid[-1], single)  # the other scales do contribute
    plain = build_model(narrow("deeplab_v2_resnet101"))
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(plain.eval().score_map(x), single)


def _bn_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def test_v2_bn_is_frozen_by_default():
    model = build_model(narrow("deeplab_v2_resnet101"))
    model.train()
    bns = _bn_layers(model)
    assert bns and all(not bn.training for bn in bns)
    assert all(not p.requires_grad for bn in bns for p in bn.parameters())
    before = bns[0].running_mean.clone()
    model(torch.randn(2, 3, 33, 33)).sum().backward()
    assert torch.equal(bns[0].running_mean, before)
    assert model.base.aspp.c0.weight.grad is not None


@pytest.mark.parametrize("arch", ["deeplab_v1_largefov", "deeplab_v2_resnet101"])
def test_narrow_variants_train(arch):
    extra = (("freeze_bn", False),) if arch == "deeplab_v2_resnet101" else ()
    spec = ModelSpec(arch=arch, n_classes=3, arch_kwargs=narrow(arch).arch_kwargs + extra,
                     msc_scales=(0.5,) if extra else ())
    model = build_model(spec).train()
    bns = _bn_layers(model)
    assert all(bn.training for bn in bns)
    x, y = torch.randn(2, 3, 33, 33) * 50, torch.randint(0, 3, (2, 33, 33))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    assert all(p.requires_grad and p.grad is not None for p in model.parameters())
    opt.step()
    if bns:
        assert bns[0].num_batches_tracked.item() > 0  # BN in train mode updates its statistics


def test_spec_round_trip_and_defaults():
    spec = narrow("deeplab_v2_resnet101", n_classes=21, msc_scales=(0.5, 0.75), name="demo")
    d = spec.to_dict()
    assert ModelSpec.from_dict(json.loads(json.dumps(d))) == spec
    assert spec.class_names[:2] == ("background", "aeroplane")  # 21 -> VOC by default
    assert spec.class_list().names == spec.class_names and len(spec.class_list()) == 21
    assert hash(spec) == hash(ModelSpec.from_dict(d))
    assert set(ARCHITECTURES) == {"deeplab_v1_largefov", "deeplab_v2_resnet101"}


def test_spec_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown architecture"):
        ModelSpec(arch="unet", n_classes=2)
    with pytest.raises(ValueError, match="3 classes but 2 names"):
        ModelSpec(arch="deeplab_v1_largefov", n_classes=3, class_names=("a", "b"))
    with pytest.raises(ValueError, match="unknown model spec fields"):
        ModelSpec.from_dict({"arch": "deeplab_v1_largefov", "n_classes": 2, "bogus": 1})
    with pytest.raises(ValueError, match="bad arch_kwargs"):
        build_model(ModelSpec(arch="deeplab_v1_largefov", n_classes=2, arch_kwargs=(("depth", 3),)))
    with pytest.raises(ValueError, match="msc_scales"):
        build_model(ModelSpec(arch="deeplab_v1_largefov", n_classes=2, msc_scales=(0.5,)))
