"""The CPU PyInstaller bundle that `make bundle` built: no CUDA library in it, its predict writes the same kind
of outputs as the app's, and its window opens offscreen, predicts and refines the first sample (with the
reference CRF, which runs in a spawned child process: the frozen multiprocessing path).

Building the bundle takes about 10 minutes on the 2-core CI machine, so `make test` does not build it: these
tests run against dist/deeplab-annotator/ when it is there (run `make bundle` first) and are skipped otherwise.
A bundle older than the sources is tested as it is: rebuild after changing the code. The first run of a new
bundle compiles the CRF kernels (numba caches them in ~/.cache/numba, as for a user): about 1 min of CPU.
"""
import os
import subprocess

import numpy as np
import pytest

from engine.io.labels import read_label_png
from engine.paths import APP_ID
from tests.support.paths import ROOT

BUNDLE = ROOT / "dist" / APP_ID
EXE = BUNDLE / APP_ID
CUDA_LIBS = ("libcuda", "libcudart", "libcudnn", "libcublas", "libcufft", "libcurand", "libcusolver", "libcusparse",
             "libnccl", "libnvrtc", "libnvJitLink", "libcupti", "libtorch_cuda", "libc10_cuda")

pytestmark = pytest.mark.skipif(not EXE.is_file(), reason=f"no bundle at {BUNDLE}: run `make bundle` first "
                                                          "(about 10 min, too long for make test)")


def _env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "QT_"))}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    return env


def test_bundle_has_no_cuda_libraries():
    found = [p.name for p in BUNDLE.rglob("*.so*") if p.name.startswith(CUDA_LIBS)]
    assert found == []
    assert (BUNDLE / "_internal" / "engine" / "resources" / "models" / "demo_v1.pt").is_file()


def test_bundle_predicts_from_another_directory(tmp_path):
    sample = ROOT / "resources" / "samples" / "belt_06.png"
    run = subprocess.run([str(EXE), "predict", str(sample), "--crf", "demo_v1", "--out", "out/belt_06.png"],
                         cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    labels = read_label_png(tmp_path / "out" / "belt_06.png")
    truth = read_label_png(ROOT / "resources" / "samples_gt" / "belt_06.png")
    assert labels.shape == truth.shape and (labels == truth).mean() > 0.9
    assert (tmp_path / "out" / "belt_06.provenance.json").is_file()
    assert (tmp_path / "out" / "class_names.txt").is_file()


def test_bundle_window_opens_offscreen_and_refines(tmp_path):
    config = tmp_path / "config" / "DeepLabAnnotator"
    config.mkdir(parents=True)
    (config / "DeepLab Annotator.conf").write_text("[crf]\nbackend=reference\n")
    shot = tmp_path / "window.png"
    run = subprocess.run([str(EXE), "--screenshot", str(shot)], cwd=tmp_path, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-2000:]
    assert "ready" in run.stdout
    from PIL import Image

    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600 and pixels.std() > 10
