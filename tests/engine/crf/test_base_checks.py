"""The CRF's shared input checks (engine.crf.base): the bit-order maximum that makes them cheap on float16 agrees with
numpy's on every value, and the fast path never lets through what the full check refuses."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.crf.base import check_probs, nonnegative_max, progress_only, wants_preview
from engine.errors import EngineError

SPECIAL = [0.0, -0.0, 1.0, 1.0009, 1.002, -1e-4, -2e-3, 5.96e-8, -5.96e-8, np.inf, -np.inf, np.nan, 65504.0]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@given(st.lists(st.sampled_from(SPECIAL) | st.floats(0, 1, width=16), min_size=1, max_size=40))
@settings(max_examples=150, deadline=None)
def test_nonnegative_max_is_numpys_max_or_declines(dtype, values):
    arr = np.array(values, dtype)
    top = nonnegative_max(arr)
    if np.signbit(arr).any():
        assert top is None   # -0.0 or a negative: numpy decides
    elif np.isnan(arr).any():
        assert np.isnan(top)
    else:
        assert top == float(np.max(arr))


def _full_check(arr) -> str | None:
    """What check_probs answers, by numpy's min and max alone (the check before the fast path)."""
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "NaN or infinite"
    if lo < -1e-3 or hi > 1 + 1e-3:
        return "must lie in"
    return None


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@given(st.lists(st.sampled_from(SPECIAL) | st.floats(0, 1, width=16), min_size=1, max_size=30))
@settings(max_examples=200, deadline=None)
def test_check_probs_refuses_exactly_what_the_full_check_refuses(dtype, values):
    arr = np.array(values, dtype).reshape(1, 1, -1)
    expected = _full_check(arr)
    if expected is None:
        check_probs(arr)
    else:
        with pytest.raises(EngineError, match=expected):
            check_probs(arr)


def test_check_probs_takes_a_slice_of_a_larger_array():
    probs = np.random.default_rng(0).random((4, 30, 40)).astype(np.float16)
    check_probs(probs[:, 5:20, 3:31])   # not contiguous: the bits are read through the view
    probs[2, 10, 10] = np.nan
    with pytest.raises(EngineError, match="NaN"):
        check_probs(probs[:, 5:20, 3:31])


def test_progress_only_marks_a_callback_that_wants_no_preview():
    def cb(i, n, preview=None):
        return None
    assert wants_preview(cb) and not wants_preview(None)
    assert progress_only(cb) is cb and not wants_preview(cb)
