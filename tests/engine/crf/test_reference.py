"""The reference backend and the presets reproduce a direct pydensecrf call, on the raw RGB image (skipped where
the optional pydensecrf is not installed)."""
import numpy as np
import pytest

dcrf = pytest.importorskip("pydensecrf.densecrf", reason="pydensecrf is optional: pip install '.[reference]'")
unary_from_softmax = pytest.importorskip("pydensecrf.utils").unary_from_softmax

from engine.crf import PRESETS, CRFParams, get_backend  # noqa: E402
from engine.errors import Cancelled, EngineError  # noqa: E402 (after the skip)


def _scene(h=37, w=53, c=4, seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (200, 40, 40)
    img[:, w // 2:] = (30, 60, 220)
    img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    logits = rng.normal(0, 1.0, (c, h, w)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(0, keepdims=True)
    return img, probs.astype(np.float32)


def test_presets_have_the_deeplab_values():
    assert PRESETS["deeplab-v1"] == CRFParams(3, 3, 4, 121, 5, 10)
    assert PRESETS["deeplab-v2"] == CRFParams(3, 1, 4, 67, 3, 10)


@pytest.mark.parametrize("name", ["deeplab-v1", "deeplab-v2"])
def test_reference_backend_equals_direct_pydensecrf(name):
    img, probs = _scene()
    p = PRESETS[name]
    c, h, w = probs.shape
    d = dcrf.DenseCRF2D(w, h, c)
    d.setUnaryEnergy(unary_from_softmax(probs))
    d.addPairwiseGaussian(sxy=p.pos_xy_std, compat=p.pos_w)
    d.addPairwiseBilateral(sxy=p.bi_xy_std, srgb=p.bi_rgb_std, rgbim=img, compat=p.bi_w)
    expected = np.array(d.inference(p.iterations)).reshape(c, h, w)
    result = get_backend("reference").session(img).run(probs, p)
    assert np.allclose(result.probs, expected, atol=1e-6)
    assert np.array_equal(result.labels, expected.argmax(0))
    assert result.labels.dtype == np.uint8


def test_crf_follows_colour_edges():
    img, probs = _scene(seed=3)
    noisy_labels = probs.argmax(0)
    result = get_backend("reference").session(img).run(probs, CRFParams(3, 3, 10, 50, 10, 10))
    left, right = result.labels[:, :20], result.labels[:, 33:]
    # the CRF makes each colour region far more uniform than the noisy unary
    assert np.bincount(left.ravel()).max() / left.size > 0.9
    assert np.bincount(right.ravel()).max() / right.size > 0.9
    assert np.bincount(noisy_labels[:, :20].ravel()).max() / left.size < 0.5


def test_bad_inputs_and_cancel():
    img, probs = _scene()
    session = get_backend("reference").session(img)
    with pytest.raises(EngineError, match="do not match"):
        session.run(probs[:, :10], PRESETS["deeplab-v1"])
    with pytest.raises(Cancelled):
        session.run(probs, PRESETS["deeplab-v1"], should_cancel=lambda: True)
    with pytest.raises(EngineError, match="must be > 0"):
        CRFParams(bi_rgb_std=0)
    with pytest.raises(EngineError, match="unknown CRF backend"):
        get_backend("nope")
