"""Where the commands write, and what the provenance sidecar promises: installed, the defaults go to the user's data
folder (never into the installation) and the app reads models and presets from there; from a checkout they stay
in resources/. The sidecar's label_file_sha256 is what `sha256sum` prints for the PNG; old sidecars still read."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import main
from engine import paths
from engine.folder.dataset import Dataset
from engine.io.provenance import make_provenance, read_provenance, sidecar_path
from engine.labels import ClassList
from tests.support.gui_helpers import make_colour_model, make_folder, make_image

# --- writable defaults ----------------------------------------------------------------------------------------------


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setenv("LOCALAPPDATA", str(home))
    return home


def test_a_checkout_keeps_writing_into_its_resources(tmp_path, xdg):
    checkout = tmp_path / "repo" / "resources"
    checkout.mkdir(parents=True)
    assert not paths.is_installed(checkout)
    assert paths.writable_resources(checkout) == checkout
    assert paths.WRITABLE == paths.RESOURCES     # this test run is a checkout: today's behaviour
    assert paths.PRESET_DIRS == (paths.PRESETS_DIR,)


@pytest.mark.parametrize("where", ["wheel", "site-packages", "dist-packages"])
def test_an_installation_writes_into_the_users_data_folder(tmp_path, xdg, where):
    if where == "wheel":   # package data of the engine package, as a wheel or `pip install --target` lays it out
        resources = tmp_path / "target" / "engine" / "resources"
        resources.mkdir(parents=True)
        (resources.parent / "__init__.py").write_text("")
    else:
        resources = tmp_path / "lib" / where / "engine" / "resources"
        resources.mkdir(parents=True)
    assert paths.is_installed(resources)
    want = xdg / "deeplab-annotator" if sys.platform != "darwin" else paths.user_data_dir()
    assert paths.writable_resources(resources) == want


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG rule is the Linux one")
def test_user_data_dir_follows_xdg_and_defaults_to_local_share(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert paths.user_data_dir() == tmp_path / "deeplab-annotator"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert paths.user_data_dir() == Path.home() / ".local" / "share" / "deeplab-annotator"


def test_train_demo_and_eval_demo_defaults_are_the_writable_folder():
    from engine.demo import evaluate, train

    args = train.build_parser().parse_args([])
    assert args.out == paths.WRITABLE_MODELS_DIR and args.samples_dir == paths.WRITABLE_SAMPLES_DIR
    assert evaluate.write_preset.__defaults__ == (paths.WRITABLE_PRESETS_DIR,)


def test_eval_demo_write_preset_lands_where_the_app_reads_presets(tmp_path, monkeypatch):
    """What `eval-demo --write-presets` writes to the user's folder is read back as a preset (installed case)."""
    from engine.crf import CRFParams, all_presets
    from engine.crf import params as crf_params
    from engine.demo.evaluate import write_preset

    own = tmp_path / "data" / "presets"
    monkeypatch.setattr(crf_params, "PRESET_DIRS", (paths.PRESETS_DIR, own))
    tuned = CRFParams(bi_w=7.0, bi_xy_std=44.0, bi_rgb_std=9.0)
    assert write_preset("v1", tuned, own) == own / "demo_v1.json"
    assert all_presets()["demo_v1"] == tuned     # the user's copy wins over the shipped demo_v1


# --- the provenance sidecar's file hash -------------------------------------------------------------------------


def _sha256sum(path: Path) -> str:
    """What `sha256sum FILE` prints (the tool where it exists, else the same digest of the file's bytes)."""
    tool = shutil.which("sha256sum")
    if tool:
        return subprocess.run([tool, str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_predict_sidecar_hashes_the_png_file_as_sha256sum_does(tmp_path, capsys):
    image = tmp_path / "img.png"
    Image.fromarray(make_image(0)).save(image)
    model = make_colour_model(tmp_path / "colour.pt")
    out = tmp_path / "out" / "x.png"
    assert main.main(["predict", str(image), "--model", str(model), "--out", str(out)]) == 0, capsys.readouterr()
    raw = json.loads((tmp_path / "out" / "x.provenance.json").read_text())
    assert raw["label_file_sha256"] == _sha256sum(out)
    assert raw["label_sha256"] != raw["label_file_sha256"]    # the other hash is the decoded array's


def test_a_save_records_the_file_hash_and_old_sidecars_still_read(tmp_path):
    folder = make_folder(tmp_path / "images", n=1)
    ds = Dataset(folder)
    labels = np.random.default_rng(1).integers(0, 3, (48, 64)).astype(np.uint8)
    ds.save(0, labels, ClassList(("bg", "a", "b")), make_provenance(labels, labels == 1, "img0.png"))
    label_path = ds[0].label_path
    record = read_provenance(label_path)
    assert record.label_file_sha256 == _sha256sum(label_path)
    assert record.label_sha256 == hashlib.sha256(labels.tobytes()).hexdigest()
    old = json.loads(sidecar_path(label_path).read_text())
    del old["label_file_sha256"]                              # a sidecar written before the field existed
    sidecar_path(label_path).write_text(json.dumps(old))
    again = read_provenance(label_path)
    assert again.label_file_sha256 == "" and again.label_sha256 == record.label_sha256


@pytest.mark.parametrize("out_name", ["same", "jpg"])
def test_predict_refuses_an_out_that_is_the_image_or_not_a_png(tmp_path, capsys, out_name):
    """A walk ran `predict bild.png --out bild.png`: exit 0, and the photo was replaced by its labels. An --out of
    x.jpg wrote PNG bytes under a .jpg name. Both are refused now, before any work, and nothing is written."""
    model = make_colour_model(tmp_path / "colour.pt")
    folder = make_folder(tmp_path / "images", n=1)
    image = next(folder.glob("*.png"))
    before = image.read_bytes()
    out = image if out_name == "same" else tmp_path / "labels.jpg"
    assert main.main(["predict", str(image), "--model", str(model), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert ("input image itself" if out_name == "same" else "ending in .png") in err
    assert image.read_bytes() == before and not (tmp_path / "labels.jpg").exists()
