"""engine.predict.Prediction: the one bundle of a prediction (probabilities, uncertainty, argmax labels,
features), built in one place."""
import numpy as np

from engine.predict import Prediction


def _probs(seed=0, c=3, h=8, w=10):
    p = np.random.default_rng(seed).random((c, h, w)).astype(np.float32)
    return p / p.sum(0)


def test_prediction_is_built_once_with_its_uncertainty_and_labels():
    probs = _probs(2)
    pred = Prediction.from_probs(probs[:, ::-1, :])              # a view: the prediction owns its own copy
    assert pred.probs.flags.owndata and pred.probs.flags.c_contiguous
    np.testing.assert_array_equal(pred.labels, probs[:, ::-1, :].argmax(0))
    top2 = np.sort(probs[:, ::-1, :], axis=0)[-2:]
    np.testing.assert_allclose(pred.unc, 1 - (top2[1] - top2[0]), atol=1e-6)
    assert pred.extra is None
