"""pydensecrf is optional (the [reference] extra; `make test` installs it through [dev]): tests that need the
reference backend skip without it. Mark a test with `needs_pydensecrf`, or use REFERENCE in a backend
parametrisation; any other test that reaches the reference backend without it is skipped by tests/conftest.py
(its ReferenceUnavailable error), and open_window skips a window asked to run it."""
import pytest

from engine.crf.reference import unavailable_reason

MISSING = unavailable_reason()
HAVE_PYDENSECRF = MISSING is None
SKIP_REASON = "needs pydensecrf (pip install '.[reference]'; the dev extra installs it)"
needs_pydensecrf = pytest.mark.skipif(not HAVE_PYDENSECRF, reason=SKIP_REASON)
REFERENCE = pytest.param("reference", marks=needs_pydensecrf)
