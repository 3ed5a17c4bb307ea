"""The two published inference pipelines (issue 13): Caffe Interp arithmetic and sizes, each source's MSC, the
image side (mean, padding, shrinking), BN eps from a .caffemodel, and which pipeline each checkpoint source gets.

Narrow nets only (a few ms each); tests/engine/models/test_published_pipelines.py compares against an independent reference."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.checkpoints import load_checkpoint, save_checkpoint, with_pipeline
from engine.errors import CheckpointError
from engine.models import ModelSpec, build_model
from engine.models.pipelines import (DEFAULT_PIPELINE, caffe_interp, interp_size, msc_input, scale_factors,
                                     zoom_then_crop)
from engine.models.preprocess import network_input, shrink_to, to_input
from engine.predict import Predictor
from tests.support.caffe_fixtures import v2_caffemodel

torch.set_num_threads(1)
V1 = ModelSpec(arch="deeplab_v1_largefov", n_classes=3, arch_kwargs=(("channels", (4, 4, 8, 8, 8)), ("fc_channels", 8)),
               input_size=64)
V2 = ModelSpec(arch="deeplab_v2_resnet101", n_classes=4, msc_scales=(0.5, 0.75), input_size=64,
               arch_kwargs=(("blocks", (1, 1, 1, 1)), ("base_channels", 4)))


def _net(spec, seed=0):
    torch.manual_seed(seed)
    model = build_model(spec).eval()
    for m in model.modules():  # non-trivial BN statistics, so eps and the frozen stats matter
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


def _interp2_loops(data: np.ndarray, h2: int, w2: int) -> np.ndarray:
    """src/caffe/util/interp.cpp caffe_cpu_interp2 (no crop offsets), line by line, in float32."""
    c, h1, w1 = data.shape
    out = np.empty((c, h2, w2), np.float32)
    if (h1, w1) == (h2, w2):
        return data.copy()
    one = np.float32(1.0)
    rh = np.float32(h1 - 1) / np.float32(h2 - 1) if h2 > 1 else np.float32(0)
    rw = np.float32(w1 - 1) / np.float32(w2 - 1) if w2 > 1 else np.float32(0)
    for y in range(h2):
        h1r = np.float32(rh * np.float32(y))
        hi = int(h1r)
        hp = 1 if hi < h1 - 1 else 0
        l1 = np.float32(h1r - np.float32(hi))
        l0 = one - l1
        for x in range(w2):
            w1r = np.float32(rw * np.float32(x))
            wi = int(w1r)
            wp = 1 if wi < w1 - 1 else 0
            m1 = np.float32(w1r - np.float32(wi))
            m0 = one - m1
            p = data[:, hi:, wi:]
            out[:, y, x] = l0 * (m0 * p[:, 0, 0] + m1 * p[:, 0, wp]) + l1 * (m0 * p[:, hp, 0] + m1 * p[:, hp, wp])
    return out


# ---------------------------------------------------------------- Caffe's Interp
def test_interp_sizes_follow_interp_layer_cpp():
    assert interp_size(513, shrink=2) == 257  # data_res05
    assert interp_size(513, zoom=3, shrink=4) == 385  # data_res075: shrink to 129, zoom to 385
    assert interp_size(375, zoom=3, shrink=4) == 280  # not 282 ((374 * .75 + .5) + 1)
    assert interp_size(65, zoom=8) == 513 and interp_size(64, zoom=8) == 505  # fc8_interp / fc1_interp
    assert interp_size(33, zoom=2) == 65 and interp_size(49, zoom=4, shrink=3) == 65  # back to the 1x score size
    assert scale_factors(0.5) == (1, 2) and scale_factors(0.75) == (3, 4)
    with pytest.raises(ValueError):
        interp_size(0, zoom=2)


@pytest.mark.parametrize("sizes", [((5, 7), (33, 49)), ((13, 9), (5, 4)), ((6, 1), (17, 1)), ((9, 8), (65, 57)),
                                   ((49, 33), (65, 65)), ((8, 8), (8, 8))])
def test_caffe_interp_is_interp_cpp(sizes):
    (h1, w1), (h2, w2) = sizes
    data = np.random.default_rng(h1 * w2).standard_normal((3, h1, w1)).astype(np.float32)
    ours = caffe_interp(torch.from_numpy(data)[None], (h2, w2))[0].numpy()
    np.testing.assert_allclose(ours, _interp2_loops(data, h2, w2), rtol=0, atol=1e-6)  # 1 ulp: torch sums in another order


def test_zoom_then_crop():
    score = torch.randn(1, 2, 9, 8)
    out = zoom_then_crop(score, (61, 50))
    assert out.shape[-2:] == (61, 50)
    assert torch.equal(out[..., ::8, ::8], score[..., :8, :7])  # cell i is pixel 8i, exactly
    full = caffe_interp(score, (65, 57))
    assert torch.equal(out, full[..., :61, :50])
    short = zoom_then_crop(score, (66, 57))  # one row more than the zoom makes: the last row repeats
    assert torch.equal(short[..., 65, :], short[..., 64, :])


# ---------------------------------------------------------------- MSC per source
def test_caffe_msc_is_the_v2_test_prototxt():
    """513: data_res05 257 -> 33, data_res075 385 -> 49, both Interp'd to 65 and MAX fused with the 1x map."""
    model = _net(replace(V2, pipeline="caffe"))
    x = torch.randn(1, 3, 513, 513) * 50
    with torch.no_grad():
        feats = model.classifier_inputs(x)
        assert [tuple(f.shape[-2:]) for f in feats] == [(65, 65), (33, 33), (49, 49)]
        s1, s05, s075 = (model.classifier(f) for f in feats)
        up = lambda s: F.interpolate(s, size=(65, 65), mode="bilinear", align_corners=True)  # noqa: E731
        assert torch.equal(model.score_map(x), torch.max(torch.max(s1, up(s05)), up(s075)))
        h = F.interpolate(x, size=(385, 385), mode="bilinear", align_corners=True)
        assert torch.equal(msc_input(x, 0.75, "caffe"), h)


def test_kazuto_msc_is_msc_py():
    """kazuto: F.interpolate(x, scale_factor=p, align_corners=False) (375x500 -> 187x250 and 281x375), scores back
    with align_corners=False, max."""
    model = _net(replace(V2, pipeline="kazuto"))
    x = torch.randn(1, 3, 375, 500) * 50
    with torch.no_grad():
        h05 = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
        h075 = F.interpolate(x, scale_factor=0.75, mode="bilinear", align_corners=False)
        assert h05.shape[-2:] == (187, 250) and h075.shape[-2:] == (281, 375)
        s1 = model.base(x)
        up = lambda s: F.interpolate(s, size=s1.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        expected = torch.max(torch.stack([s1, up(model.base(h05)), up(model.base(h075))]), dim=0)[0]
        assert torch.equal(model.score_map(x), expected)
        assert torch.equal(model(x), F.interpolate(expected, size=(375, 500), mode="bilinear", align_corners=False))


# ---------------------------------------------------------------- the image side
def test_network_input_per_pipeline():
    img = np.random.default_rng(0).integers(0, 256, (37, 45, 3), dtype=np.uint8)
    mean = (104.008, 116.669, 122.675)
    xc, gc = network_input(img, mean, "caffe", 64)
    xk, gk = network_input(img, mean, "kazuto", 64)
    assert xc.shape == (1, 3, 64, 64) and gc.net_hw == (64, 64) and gc.input_hw == gc.image_hw == (37, 45)
    assert xk.shape == (1, 3, 37, 45) and gk.net_hw == (37, 45)
    bgr = img[..., ::-1].transpose(2, 0, 1)
    caffe = bgr.astype(np.float32) - np.asarray(mean, np.float32)[:, None, None]  # data_transformer.cpp, float32
    kazuto = (bgr.astype(np.float32) - np.asarray(mean)[:, None, None]).astype(np.float32)  # numpy float64 mean
    assert np.array_equal(xc[0, :, :37, :45].numpy(), caffe)
    assert (xc[0, :, 37:, :] == 0).all() and (xc[0, :, :, 45:] == 0).all()  # the mean pixel, minus the mean
    assert np.array_equal(xk[0].numpy(), kazuto)


def test_training_batches_get_the_caffe_arithmetic():
    """to_input (training: the demo recipe, train on saved labels) is network_input's caffe arithmetic per image,
    without the padding, for a whole batch."""
    imgs = np.random.default_rng(2).integers(0, 256, (3, 20, 30, 3), dtype=np.uint8)
    mean = (104.008, 116.669, 122.675)
    x = to_input(imgs, mean)
    assert x.shape == (3, 3, 20, 30) and x.dtype == torch.float32
    for i in range(3):
        assert np.array_equal(x[i].numpy(), network_input(imgs[i], mean, "caffe", 30)[0][0, :, :20, :30].numpy())


def test_large_images_shrink_like_kazutos_demo():
    img = np.random.default_rng(1).integers(0, 256, (150, 201, 3), dtype=np.uint8)
    small = shrink_to(img, 64)
    assert small.shape == (48, 64, 3)
    assert np.array_equal(small, cv2.resize(img, None, fx=64 / 201, fy=64 / 201, interpolation=cv2.INTER_LINEAR))


@pytest.mark.parametrize("pipeline", ["caffe", "kazuto"])
def test_predict_on_a_large_image(pipeline, tmp_path):
    """Shrink, the pipeline at the shrunk size (caffe: pad, zoom, crop), logits resized to HxW, softmax."""
    spec = replace(V2, pipeline=pipeline)
    path = tmp_path / "m.pt"
    save_checkpoint(path, _net(spec), spec)
    pred = Predictor(load_checkpoint(path), device="cpu")
    img = np.random.default_rng(2).integers(0, 256, (150, 201, 3), dtype=np.uint8)
    x, geometry = network_input(img, spec.mean_bgr, pipeline, 64)
    assert geometry.input_hw == (48, 64) and geometry.net_hw == ((64, 64) if pipeline == "caffe" else (48, 64))
    with torch.no_grad():
        logits = pred.model(x)[..., :48, :64]
        expected = torch.softmax(F.interpolate(logits, size=(150, 201), mode="bilinear", align_corners=False)[0], 0)
    np.testing.assert_allclose(pred.predict(img), expected.numpy(), rtol=0, atol=1e-6)
    tiled = Predictor(load_checkpoint(path), device="cpu", strategy="tile").predict(img)  # --tile stays an option
    assert tiled.shape == (4, 150, 201) and np.allclose(tiled.sum(0), 1, atol=1e-5)


# ---------------------------------------------------------------- checkpoints
def test_spec_pipeline_field():
    assert ModelSpec(arch="deeplab_v1_largefov", n_classes=2).pipeline == DEFAULT_PIPELINE == "kazuto"
    assert ModelSpec.from_dict({"arch": "deeplab_v1_largefov", "n_classes": 2}).pipeline == DEFAULT_PIPELINE
    assert replace(V1, pipeline="caffe").to_dict()["pipeline"] == "caffe"
    with pytest.raises(ValueError, match="unknown inference pipeline"):
        replace(V1, pipeline="matlab")


def test_project_checkpoints_record_their_pipeline_and_old_ones_get_the_default(tmp_path):
    spec = replace(V1, pipeline="caffe")
    save_checkpoint(tmp_path / "new.pt", _net(spec), spec)
    loaded = load_checkpoint(tmp_path / "new.pt")
    assert loaded.spec.pipeline == loaded.model.pipeline == "caffe"
    obj = torch.load(tmp_path / "new.pt", weights_only=True)
    del obj["spec"]["pipeline"]  # as written before the field existed
    torch.save(obj, tmp_path / "old.pt")
    old = load_checkpoint(tmp_path / "old.pt")
    assert old.spec.pipeline == old.model.pipeline == DEFAULT_PIPELINE


def test_kazuto_pth_runs_kazuto_and_can_be_switched(tmp_path):
    model = _net(V2)
    torch.save(model.state_dict(), tmp_path / "deeplabv2_resnet101_msc-vocaug-20000.pth")
    loaded = load_checkpoint(tmp_path / "deeplabv2_resnet101_msc-vocaug-20000.pth")
    assert loaded.source_format == "kazuto" and loaded.spec.pipeline == loaded.model.pipeline == "kazuto"
    as_caffe = with_pipeline(loaded, "caffe")
    assert as_caffe.spec.pipeline == as_caffe.model.pipeline == "caffe" and loaded.model.pipeline == "kazuto"
    assert as_caffe.model is not loaded.model and as_caffe.sha256 == loaded.sha256
    x = torch.randn(1, 3, 65, 65) * 50
    with torch.no_grad():
        assert torch.equal(as_caffe.model.base(x), loaded.model.base(x))  # same weights
        assert not torch.equal(as_caffe.model.score_map(x), loaded.model.score_map(x))  # other MSC
    over = load_checkpoint(tmp_path / "deeplabv2_resnet101_msc-vocaug-20000.pth", pipeline="caffe")
    assert over.spec.pipeline == "caffe" and with_pipeline(over, "caffe") is over
    with pytest.raises(CheckpointError, match="unknown inference pipeline"):
        with_pipeline(loaded, "matlab")


def test_bn_eps_is_read_from_the_caffemodel_and_kept(tmp_path):
    model = _net(V2)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for i, bn in enumerate(bns):
        bn.eps = float(np.float32((1e-3, 1e-5, 2e-4)[i % 3]))
    (tmp_path / "eps.caffemodel").write_bytes(v2_caffemodel(model))
    loaded = load_checkpoint(tmp_path / "eps.caffemodel")
    eps = [m.eps for m in loaded.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert eps == [bn.eps for bn in bns] and len(set(eps)) == 3
    assert loaded.spec.pipeline == "caffe" and dict(loaded.spec.arch_kwargs)["bn_eps"] == tuple(eps)
    save_checkpoint(tmp_path / "eps.pt", loaded.model, loaded.spec)  # a project copy keeps the eps
    again = load_checkpoint(tmp_path / "eps.pt")
    assert [m.eps for m in again.model.modules() if isinstance(m, torch.nn.BatchNorm2d)] == eps
    for bn in bns:
        bn.eps = 1e-3
    (tmp_path / "one.caffemodel").write_bytes(v2_caffemodel(model))
    assert dict(load_checkpoint(tmp_path / "one.caffemodel").spec.arch_kwargs)["bn_eps"] == float(np.float32(1e-3))
    for bn in bns:
        bn.eps = 1e-5
    (tmp_path / "default.caffemodel").write_bytes(v2_caffemodel(model))
    assert "bn_eps" not in dict(load_checkpoint(tmp_path / "default.caffemodel").spec.arch_kwargs)
