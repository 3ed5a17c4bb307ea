"""Test-wide setup: Qt runs offscreen so CI needs no display; the repo root is importable; a test that needs the
optional pydensecrf where it is missing is skipped (tests/support/reference_crf.py)."""
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:  # one torch thread per test process: small tensors run faster and the 2-core CI box is not oversubscribed
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that reaches the reference CRF backend where pydensecrf is not installed (an optional extra) is
    skipped, not failed: the error is engine.crf.reference.ReferenceUnavailable, and nothing else raises it."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and report.failed:
        from engine.crf.reference import ReferenceUnavailable

        if call.excinfo.errisinstance(ReferenceUnavailable):
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0,
                               "Skipped: needs pydensecrf (pip install '.[reference]'; the dev extra installs it)")


@pytest.fixture(autouse=True)
def _no_unasked_changed_on_disk_box(monkeypatch):
    """The "Labels changed on disk" and "Image changed on disk" questions are modal: a window test that reached it unplanned would wait forever
    (one did, after the check came in). Such a test fails instead; one that means it patches the question."""
    prompts = sys.modules.get("gui.dialogs.prompts")   # (loaded only by the window's tests: engine tests need no Qt)
    if prompts is not None:
        def unasked(parent, path):
            raise AssertionError(f"unexpected 'changed on disk' question for {path}")
        monkeypatch.setattr(prompts, "ask_changed_on_disk", unasked)
        monkeypatch.setattr(prompts, "ask_image_changed", unasked)
