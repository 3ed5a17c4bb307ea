"""pydensecrf is an optional extra: without it the app, the default CRF and every command work, and choosing the
reference backend is a clear error (what to install), never an ImportError or a traceback."""
import subprocess
import sys

import pytest
from PIL import Image

import main
from engine.crf import get_backend, unavailable_backends
from engine.crf.reference import INSTALL_HINT, ReferenceUnavailable
from tests.support.gui_helpers import make_colour_model, make_image
from tests.support.paths import ROOT


@pytest.fixture
def no_pydensecrf(monkeypatch):
    """As if pydensecrf2 were not installed: importing it raises ImportError."""
    for name in ("pydensecrf", "pydensecrf.densecrf", "pydensecrf.utils", "pydensecrf.eigen"):
        monkeypatch.setitem(sys.modules, name, None)


def test_choosing_the_reference_backend_says_what_to_install(no_pydensecrf):
    with pytest.raises(ReferenceUnavailable, match=r"pip install 'deeplab-annotator\[reference\]'"):
        get_backend("reference")
    assert unavailable_backends() == {"reference": INSTALL_HINT}
    assert get_backend().name == "fast" and get_backend("fast").session is not None


def test_predict_with_the_reference_backend_is_an_error_and_writes_nothing(no_pydensecrf, tmp_path, capsys):
    image = tmp_path / "img.png"
    Image.fromarray(make_image(0)).save(image)
    model = make_colour_model(tmp_path / "colour.pt")
    out = tmp_path / "out" / "x.png"
    rc = main.main(["predict", str(image), "--model", str(model), "--crf", "deeplab-v1", "--backend", "reference",
                    "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: the reference CRF backend needs pydensecrf") and "Traceback" not in err
    assert not out.exists()


def test_the_engine_and_the_default_crf_import_without_pydensecrf():
    code = ("import sys\n"
            "for n in ('pydensecrf', 'pydensecrf.densecrf', 'pydensecrf.utils'): sys.modules[n] = None\n"
            "import engine.crf, engine.crf.runner, engine.cli.predict, engine.batch.cli, engine.learn.cli\n"
            "from engine.crf import backend_names, unavailable_backends\n"
            "assert 'reference' in backend_names() and 'reference' in unavailable_backends()\n"
            "print('ok')\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
