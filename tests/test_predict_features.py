"""The classifier seam of Predictor: cached classifier inputs + a head reproduce predict exactly, so a head adapted
on them (engine.learn) is seen through the same pipeline as the network's own prediction."""
import copy

import numpy as np
import pytest
import torch

from engine.checkpoints import load_checkpoint, save_checkpoint
from engine.models.registry import ModelSpec, build_model
from engine.predict import Predictor

V1 = ModelSpec(arch="deeplab_v1_largefov", n_classes=3, arch_kwargs=(("channels", (4, 4, 8, 8, 8)), ("fc_channels", 8)),
               input_size=64)
V2_MSC = ModelSpec(arch="deeplab_v2_resnet101", n_classes=4, msc_scales=(0.5, 0.75), input_size=64,
                   arch_kwargs=(("blocks", (1, 1, 1, 1)), ("base_channels", 4)))


def _predictor(spec, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "m.pt"
    save_checkpoint(path, build_model(spec), spec)
    return Predictor(load_checkpoint(path), device="cpu")


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("spec", [V1, V2_MSC], ids=["v1", "v2-msc"])
@pytest.mark.parametrize("hw", [(41, 57), (150, 97)], ids=["small", "scaled-down"])
def test_features_then_head_is_predict(spec, hw, tmp_path):
    pred = _predictor(spec, tmp_path)
    image = _image(*hw)
    feats = pred.extract_features(image)
    assert len(feats.maps) == 1 + len(spec.msc_scales)
    assert feats.image_hw == hw and max(feats.input_hw) <= pred.max_side
    np.testing.assert_array_equal(pred.probs_from_features(feats), pred.predict(image))


def test_another_head_changes_the_result_and_trains(tmp_path):
    pred = _predictor(V1, tmp_path)
    feats = pred.extract_features(_image(40, 40))
    head = copy.deepcopy(pred.model.classifier)
    with torch.no_grad():
        head.bias[2] += 50.0          # a head that always says class 2
    assert (pred.probs_from_features(feats, head).argmax(0) == 2).all()
    logits = pred.head_logits(feats, head)   # grad flows into the head's parameters
    logits.sum().backward()
    assert head.weight.grad is not None and pred.model.classifier.weight.grad is None


def test_cell_centres_sample_the_cells(tmp_path):
    """At input sizes 8k+1 (align_corners=True), the upsampled map at a cell centre is that cell's logit."""
    pred = _predictor(V1, tmp_path)
    feats = pred.extract_features(_image(57, 49))
    ys, xs = pred.cell_centres(feats)
    score = pred.head_logits(feats).detach()
    assert (len(ys), len(xs)) == tuple(score.shape[-2:])
    up = pred.model.upsample_logits(score, feats.input_hw)[0].numpy()
    np.testing.assert_allclose(up[:, ys[:, None], xs[None, :]], score[0].numpy(), rtol=1e-5, atol=1e-5)
