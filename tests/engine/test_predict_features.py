"""The classifier seam of Predictor: cached classifier inputs + a head reproduce predict exactly, so a head adapted
on them (engine.learn) is seen through the same pipeline as the network's own prediction; cell_centres says where
each stride-8 cell shows on the image for each pipeline's geometry (caffe padding + zoom + crop, kazuto, shrinking)."""
import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from tests.support.predict_fixtures import V1, V2_MSC, small_image, tiny_predictor

PIPELINES = ["caffe", "kazuto"]


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("spec", [V1, V2_MSC], ids=["v1", "v2-msc"])
@pytest.mark.parametrize("hw", [(41, 57), (150, 97)], ids=["small", "scaled-down"])
def test_features_then_head_is_predict(spec, hw, pipeline, tmp_path):
    pred = tiny_predictor(replace(spec, pipeline=pipeline), tmp_path)
    assert pred.pipeline == pipeline
    image = small_image(*hw)
    feats = pred.extract_features(image)
    assert len(feats.maps) == 1 + len(spec.msc_scales)
    assert feats.image_hw == hw and max(feats.input_hw) == min(max(hw), pred.max_side)
    assert feats.net_hw == ((64, 64) if pipeline == "caffe" else feats.input_hw)  # caffe pads to input_size
    np.testing.assert_array_equal(pred.probs_from_features(feats), pred.predict(image))


def test_another_head_changes_the_result_and_trains(tmp_path):
    pred = tiny_predictor(V1, tmp_path)
    feats = pred.extract_features(small_image(40, 40))
    head = copy.deepcopy(pred.model.classifier)
    with torch.no_grad():
        head.bias[2] += 50.0          # a head that always says class 2
    assert (pred.probs_from_features(feats, head).argmax(0) == 2).all()
    logits = pred.head_logits(feats, head)   # grad flows into the head's parameters
    logits.sum().backward()
    assert head.weight.grad is not None and pred.model.classifier.weight.grad is None


def test_cell_centres_caffe_are_the_cells_exactly(tmp_path):
    """caffe: the zoom x8 puts cell i on network pixel 8i and the crop keeps it, at any size (not only 8k+1); the
    cells in the padding lie outside the image (cells_in_image) and clip to its last row/column."""
    pred = tiny_predictor(replace(V1, pipeline="caffe"), tmp_path)
    feats = pred.extract_features(small_image(41, 57))
    ys, xs = pred.cell_centres(feats)
    score = pred.head_logits(feats).detach()
    assert (len(ys), len(xs)) == tuple(score.shape[-2:]) == feats.cells_hw == (9, 9)  # 64 -> 33 -> 17 -> 9
    assert feats.cells_in_image == (6, 8)  # rows 0, 8, ..., 40; columns 0, 8, ..., 56
    r, c = feats.cells_in_image
    assert list(ys[:r]) == list(range(0, 41, 8)) and (ys[r:] == 40).all() and list(xs[:c]) == list(range(0, 57, 8))
    logp = np.log(pred.probs_from_features(feats))
    expected = torch.log_softmax(score[0], dim=0).numpy()
    np.testing.assert_allclose(logp[:, ys[:r, None], xs[None, :c]], expected[:, :r, :c], rtol=1e-5, atol=1e-5)


class _RampHead(nn.Module):
    """A head whose 1x logits are ramps in the cell index (class 0: 0.5 * row, class 1: 0.5 * column, class 2: 0),
    and very low on the other MSC scales, so the fused map is the ramp. Bilinear resizing keeps a ramp linear, so
    log(p0 / p2) and log(p1 / p2) at an image pixel read back which cell row/column shows there."""

    def __init__(self, cells_hw, n_classes):
        super().__init__()
        self.cells_hw, self.n_classes = tuple(cells_hw), n_classes

    def forward(self, f):
        h, w = f.shape[-2:]
        out = torch.full((1, self.n_classes, h, w), -1e3)
        if (h, w) == self.cells_hw:
            out[:] = 0.0
            out[0, 0] = 0.5 * torch.arange(h, dtype=torch.float32)[:, None]
            out[0, 1] = 0.5 * torch.arange(w, dtype=torch.float32)[None, :]
        return out


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("spec,hw", [(V1, (41, 57)), (V1, (150, 97)), (V2_MSC, (37, 64)), (V2_MSC, (97, 150))],
                         ids=["v1-small", "v1-scaled-down", "v2-msc-small", "v2-msc-scaled-down"])
def test_cell_centres_show_their_cells(spec, hw, pipeline, tmp_path):
    """For every geometry (caffe padding + zoom + crop, kazuto align_corners=False, shrinking and resizing back),
    the logit at a cell's centre pixel is that cell's, up to the half-pixel rounding of the centre."""
    pred = tiny_predictor(replace(spec, pipeline=pipeline), tmp_path)
    feats = pred.extract_features(small_image(*hw))
    ys, xs = pred.cell_centres(feats)
    (h8, w8), (H, W) = feats.cells_hw, feats.image_hw
    r, c = feats.cells_in_image
    assert (len(ys), len(xs)) == (h8, w8) and 0 < r <= h8 and 0 < c <= w8
    assert np.all(np.diff(ys) >= 0) and np.all(np.diff(xs) >= 0) and ys.max() < H and xs.max() < W
    probs = pred.probs_from_features(feats, _RampHead(feats.cells_hw, spec.n_classes)).astype(np.float64)
    rows = np.log(probs[0] / probs[2]) / 0.5  # the cell row showing at each pixel (fractional)
    cols = np.log(probs[1] / probs[2]) / 0.5
    # half a pixel of rounding moves by half a pixel's worth of cells; the caffe zoom of an unshrunk image is exact
    exact = pipeline == "caffe" and not feats.geometry.resized
    tol_r, tol_c = (1e-3, 1e-3) if exact else (0.5 * h8 / H + 1e-3, 0.5 * w8 / W + 1e-3)
    np.testing.assert_allclose(rows[ys[:r], :][:, xs[:c]], np.broadcast_to(np.arange(r)[:, None], (r, c)), atol=tol_r)
    np.testing.assert_allclose(cols[ys[:r], :][:, xs[:c]], np.broadcast_to(np.arange(c)[None, :], (r, c)), atol=tol_c)
