"""CRF > Tune on saved labels (engine.learn.crf_search, `main.py tune-crf`): on a case built so the preset is wrong
(noisy colours, a colour kernel too narrow to see through the noise) the search finds better values, builds each
bilateral lattice once per image, and --keep stores them as the folder's preset."""
import json
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.crf import PRESETS, CRFParams
from engine.crf.fast import FastBackend
from engine.crf.fast import lattice_cache as lc
from engine.errors import EngineError, LabelIOError
from engine.io.labels import write_class_names, write_label_png
from engine.labels import ClassList
from engine.learn.crf_search import COARSE, grid, tune_crf
from engine.learn.folder_preset import load_folder_preset, preset_path, save_folder_preset
from main import main
from tests.support.gui_helpers import BG, CLASS_NAMES, RED, make_colour_model


def _case(seed: int, h: int = 60, w: int = 80):
    """(image, probs, gt): red left / blue right along a wavy edge, strong noise; the 'network' is soft and puts the
    edge 5 px too far right, so only a colour-aware kernel that tolerates the noise can pull it back."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    edge = w / 2 + 6 * np.sin(yy / 7 + seed)
    gt = (xx >= edge).astype(np.uint8)
    img = np.where(gt[..., None] == 0, np.array([190, 50, 50]), np.array([50, 50, 190])).astype(np.float32)
    img = np.clip(img + rng.normal(0, 22, img.shape), 0, 255).astype(np.uint8)
    shifted = (xx >= edge + 5).astype(np.float32)
    p1 = cv2.GaussianBlur(shifted, (0, 0), 4) * 0.8 + 0.1
    probs = np.stack([1 - p1, p1]).astype(np.float32)
    return img, probs, gt


def test_the_search_beats_a_preset_that_is_wrong_and_reuses_lattices():
    cases = [_case(s) for s in range(3)]
    baseline = PRESETS["deeplab-v2"]       # bi_rgb_std 3: blind through noise of std 22
    lc.clear()
    before = lc.BUILD_COUNTS["bilateral"]
    res = tune_crf(FastBackend(device="cpu", previews=None), [c[0] for c in cases], [c[1] for c in cases],
                   [c[2] for c in cases], baseline, n_classes=2, fine=False)
    pairs = {(p.bi_xy_std, p.bi_rgb_std) for p in grid(baseline, COARSE)} | {(67.0, 3.0)}
    assert lc.BUILD_COUNTS["bilateral"] - before == len(pairs) * len(cases)   # weights never rebuilt a lattice
    assert res.evaluated == len(grid(baseline, COARSE)) + 1 and res.images == 3
    assert res.best_miou > res.baseline_miou + 0.03
    assert res.best.bi_rgb_std > baseline.bi_rgb_std
    assert (res.best.pos_w, res.best.pos_xy_std, res.best.iterations) == (3, 1, 10)   # Gaussian kernel kept
    assert "vs the preset's" in res.summary()
    with pytest.raises(EngineError, match="at least one image"):
        tune_crf(FastBackend(device="cpu"), [], [], [], baseline, 2)


def _wavy_folder(folder, class_names: bool = True):
    """Red things on a blue background with a wavy edge and noise of std 22, their labels saved."""
    classes = ClassList(CLASS_NAMES)
    for s in range(3):
        rng = np.random.default_rng(s)
        yy, xx = np.mgrid[0:64, 0:96]
        gt = (xx >= 48 + 8 * np.sin(yy / 6 + s)).astype(np.uint8)      # 0 background, 1 red thing
        img = np.where(gt[..., None] == 1, np.array(RED), np.array(BG)).astype(np.float32)
        folder.mkdir(exist_ok=True)
        Image.fromarray(np.clip(img + rng.normal(0, 22, img.shape), 0, 255).astype(np.uint8)).save(
            folder / f"img{s}.png")
        write_label_png(folder / "labels" / f"img{s}.png", gt, classes)
    if class_names:
        write_class_names(folder / "labels" / "class_names.txt", classes)
    return folder


def test_tune_crf_cli_beats_the_preset_and_keeps_the_folder_preset(tmp_path, capsys):
    """The colour model's max pools blur the wavy edge, and the preset's colour kernel (std 5) is too narrow to pull
    it back: `tune-crf` finds one that does."""
    folder = _wavy_folder(tmp_path / "images")
    model = make_colour_model(tmp_path / "colour.pt")
    assert main(["tune-crf", str(folder), "--model", str(model), "--device", "cpu", "--keep"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    # progress on stderr, one line per step without a terminal: the predictions, then every CRF run to the last
    assert "predicting saved images: 3/3 (" in captured.err
    runs = re.findall(r"CRF runs: (\d+)/(\d+)", captured.err)
    assert runs and runs[-1][0] == runs[-1][1], captured.err
    preset_miou = float(re.search(r"preset \(deeplab-v1\):.*mIoU ([\d.]+)%", out).group(1))
    found_miou = float(re.search(r"found:.*mIoU ([\d.]+)%", out).group(1))
    assert found_miou > preset_miou + 10, out
    assert "kept as this folder's CRF values" in out
    kept = load_folder_preset(folder)
    assert kept is not None and kept.bi_rgb_std > 5
    recorded = json.loads(preset_path(folder).read_text())["crf"]["params"]   # labels/project.json
    assert CRFParams.from_dict(recorded) == kept
    capsys.readouterr()
    assert main(["tune-crf", str(tmp_path / "nowhere"), "--model", str(model)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_folder_preset_round_trip_and_a_broken_file_is_ignored(tmp_path):
    params = PRESETS["deeplab-v1"].replace(bi_w=7.5)
    with pytest.raises(LabelIOError, match="no class list yet"):
        save_folder_preset(tmp_path, params)                          # nothing saved there: no project to hold it
    write_class_names(tmp_path / "labels" / "class_names.txt", ClassList(CLASS_NAMES))
    path = save_folder_preset(tmp_path, params)
    assert path == tmp_path / "labels" / "project.json"
    assert load_folder_preset(tmp_path) == params
    assert [c["name"] for c in json.loads(path.read_text())["classes"]] == list(CLASS_NAMES)   # classes kept
    path.write_text("{not json")
    assert load_folder_preset(tmp_path) is None
    assert load_folder_preset(tmp_path / "nowhere") is None


def test_the_fine_grid_holds_values_the_panel_and_project_json_keep_as_they_are():
    from engine.crf.params import CRFParams
    from engine.learn.crf_search import fine_grid

    for p in fine_grid(CRFParams(bi_w=8.0, bi_xy_std=70.0, bi_rgb_std=15.0)):
        for v in (p.bi_w, p.bi_xy_std, p.bi_rgb_std):
            assert v == round(v, 2), p
    assert {p.bi_w for p in fine_grid(CRFParams(bi_w=8.0))} == {6.0, 8.0, 10.64}


def test_tune_crf_compares_with_the_models_own_preset_and_keeps_on_a_folder_with_no_class_list(tmp_path, capsys):
    """A walk: for demo_v1.pt the CLI compared with deeplab-v1 (the window starts it with demo_v1), and --keep on
    labels another tool wrote (no class list) threw the finished search away with 'save a label image first'."""
    import shutil

    folder = _wavy_folder(tmp_path / "images", class_names=False)
    model = tmp_path / "demo_v1.pt"                                   # named as the shipped tuned preset's model
    shutil.copy(make_colour_model(tmp_path / "colour.pt"), model)
    assert main(["tune-crf", str(folder), "--model", str(model), "--device", "cpu", "--keep"]) == 0
    out = capsys.readouterr().out
    assert "preset (demo_v1):" in out and "kept as this folder's CRF values" in out, out
    project = json.loads(preset_path(folder).read_text())
    assert [c["name"] for c in project["classes"]] == list(CLASS_NAMES) and load_folder_preset(folder) is not None
