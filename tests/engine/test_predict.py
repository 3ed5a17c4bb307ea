"""Predictor: probabilities at image size for small, odd and large images; cancellation; headless CLI."""
import hashlib
import re

import numpy as np
import pytest
import torch

from engine.checkpoints import load_checkpoint, save_checkpoint
from engine.errors import Cancelled, EngineError
from engine.io.labels import read_label_png
from engine.models.registry import ModelSpec, build_model
from engine.predict import Predictor

TINY = (("channels", (4, 4, 8, 8, 8)), ("fc_channels", 8))


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    spec = ModelSpec(arch="deeplab_v1_largefov", n_classes=3, class_names=("bg", "a", "b"),
                     palette=((0, 0, 0), (255, 0, 0), (0, 255, 0)), arch_kwargs=TINY, input_size=64)
    model = build_model(spec)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, model, spec)
    return path


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("h,w", [(64, 64), (33, 50), (1, 1)])
def test_probabilities_at_image_size(tiny_ckpt, h, w):
    pred = Predictor(load_checkpoint(tiny_ckpt), device="cpu")
    probs = pred.predict(_image(h, w))
    assert probs.shape == (3, h, w) and probs.dtype == np.float32
    assert np.allclose(probs.sum(0), 1.0, atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 1 << 40])   # bytes: one class upsampled at a time (as at 12 MP), or all
def test_float16_probabilities_are_the_float32_ones_rounded(tiny_ckpt, monkeypatch, chunk):
    """predict(dtype=float16), which never holds a float32 copy of all classes, gives the float32 probabilities
    to float16's rounding, with one class upsampled at a time or all at once."""
    import engine.predict as predict_mod

    monkeypatch.setattr(predict_mod, "UPSAMPLE_CHUNK", chunk)
    pred = Predictor(load_checkpoint(tiny_ckpt), device="cpu")
    image = _image(150, 217, seed=4)
    half = pred.predict(image, dtype=np.float16)
    full = pred.predict(image)
    assert half.dtype == np.float16 and half.shape == full.shape
    np.testing.assert_allclose(half.astype(np.float32), full, rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(half.astype(np.float32).sum(0), 1.0, atol=4e-3)


def test_input_is_bgr_minus_mean(tiny_ckpt):
    loaded = load_checkpoint(tiny_ckpt)
    pred = Predictor(loaded, device="cpu")
    img = _image(40, 40, seed=5)
    x = torch.from_numpy(img[..., ::-1].astype(np.float32) - np.array(loaded.spec.mean_bgr, np.float32))
    with torch.inference_mode():
        expected = torch.softmax(loaded.model(x.permute(2, 0, 1)[None].contiguous())[0], 0).numpy()
    assert np.allclose(pred.predict(img), expected, atol=1e-5)


@pytest.mark.parametrize("strategy", ["scale", "tile"])
def test_large_images_scaled_or_tiled(tiny_ckpt, strategy):
    pred = Predictor(load_checkpoint(tiny_ckpt), device="cpu", strategy=strategy)
    stages = []
    probs = pred.predict(_image(150, 211), on_progress=lambda s, f: stages.append(s))
    assert probs.shape == (3, 150, 211)
    assert np.allclose(probs.sum(0), 1.0, atol=1e-5)
    if strategy == "tile":
        assert sum(s.startswith("tile") for s in stages) == 15  # 3 rows x 5 columns of 64-px tiles, 48-px step
    else:
        assert "network (scaled)" in stages


def test_cancel_and_bad_input(tiny_ckpt):
    pred = Predictor(load_checkpoint(tiny_ckpt), device="cpu", strategy="tile")
    calls = []

    def cancel_after_two():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        pred.predict(_image(150, 150), should_cancel=cancel_after_two)
    with pytest.raises(EngineError, match="uint8"):
        pred.predict(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(EngineError, match="strategy"):
        Predictor(load_checkpoint(tiny_ckpt), strategy="magic")


def test_cli_predict_shows_its_progress_on_stderr(tiny_ckpt, tmp_path, capsys):
    """A 12 MP predict takes half a minute: the network step and each CRF iteration show (stderr, so stdout keeps
    only the result line); tiles one by one."""
    from PIL import Image

    from main import main

    Image.fromarray(_image(45, 61)).save(tmp_path / "in.png")
    assert main(["predict", str(tmp_path / "in.png"), "--model", str(tiny_ckpt), "--crf", "deeplab-v1",
                 "--out", str(tmp_path / "out.png")]) == 0
    captured = capsys.readouterr()
    assert "network: 1/1 step" in captured.err and "CRF deeplab-v1: 10/10 step" in captured.err
    assert "CRF" not in captured.out and captured.out.startswith("wrote ")
    Image.fromarray(_image(100, 150)).save(tmp_path / "big.png")   # over the tiny model's 64 px: tiles
    assert main(["predict", str(tmp_path / "big.png"), "--model", str(tiny_ckpt), "--tile",
                 "--out", str(tmp_path / "big_out.png")]) == 0
    err = capsys.readouterr().err
    steps = re.findall(r"network, tiles: (\d+)/(\d+) step", err)
    assert steps and steps[-1][0] == steps[-1][1] and int(steps[-1][1]) > 1, err


def test_cli_predict_writes_label_png(tiny_ckpt, tmp_path):
    from PIL import Image

    from main import main

    Image.fromarray(_image(45, 61)).save(tmp_path / "in.png")
    out = tmp_path / "out" / "in.png"
    assert main(["predict", str(tmp_path / "in.png"), "--model", str(tiny_ckpt), "--crf", "deeplab-v2",
                 "--backend", "reference", "--out", str(out)]) == 0
    labels = read_label_png(out)
    assert labels.shape == (45, 61) and labels.max() < 3
    # as the window's Save: class_names.txt and the provenance sidecar beside the PNG
    from engine.io.provenance import read_provenance
    from engine.labels import load_class_list

    assert load_class_list(out.parent / "class_names.txt").names == load_checkpoint(tiny_ckpt).spec.class_names
    record = read_provenance(out)
    assert record.image == "in.png" and record.crf_backend == "reference" and record.crf_params["bi_xy_std"] == 67
    assert record.checkpoint_sha256 == load_checkpoint(tiny_ckpt).sha256 and record.edited_pixels == 0
    assert record.label_sha256 == hashlib.sha256(labels.tobytes()).hexdigest()
    # a broken image gives an error message and exit code 2, not a traceback
    (tmp_path / "bad.png").write_bytes(b"junk")
    assert main(["predict", str(tmp_path / "bad.png"), "--model", str(tiny_ckpt), "--out", str(out)]) == 2


def test_a_narrow_image_keeps_pixels_across_and_says_so_when_it_cannot(tiny_ckpt):
    """Shrunk to a long side of 513, a 12000x1000 panorama would be 43 px high: it keeps 256 instead (3072x256).
    A 100000x1000 line scan, bounded at 8 x 513 along, is still 41 px high: the user is told, with what to do.
    A photo's 4:3 is the published resize, and says nothing; nor does a tiled run."""
    from engine.models.preprocess import input_scale, network_input

    assert input_scale(3000, 4000, 513) == 513 / 4000 and input_scale(400, 500, 513) == 1.0
    assert input_scale(1000, 12000, 513) == 0.256 and input_scale(12000, 1000, 513) == 0.256
    assert input_scale(90, 2000, 513) == 1.0                                # narrow and small: as it is
    _, geometry = network_input(_image(100, 1200), (104, 117, 123), "kazuto", 64)
    assert geometry.input_hw == (32, 384)                # at max_side 64: 5 px across would be 12 or less: 32
    pred = Predictor(load_checkpoint(tiny_ckpt), max_side=513)               # (a photo model's input size)
    assert pred.scale_note(1000, 12000) is None and pred.scale_note(3000, 4000) is None
    note = pred.scale_note(1000, 100000)
    assert note and "100000x1000" in note and "4104x41" in note and "--tile" in note
    assert "41x4104" in pred.scale_note(100000, 1000)                      # portrait: width x height as seen
    assert Predictor(load_checkpoint(tiny_ckpt), strategy="tile", max_side=513).scale_note(1000, 100000) is None
