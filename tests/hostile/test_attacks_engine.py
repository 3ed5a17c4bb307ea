"""The attack run of issue 14, case by case, against the engine: image bombs, checkpoint bombs, special files
and CRF inputs. Each must end in the engine's own error type, with a message naming the file, quickly and
without allocating what the file asks for (the CLI versions are in test_attacks_cli.py)."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from engine import limits
from engine.checkpoints import load_checkpoint
from engine.checkpoints.caffemodel import CaffeFormatError, parse_caffemodel
from engine.crf import CRFParams, get_backend
from engine.errors import CheckpointError, EngineError, ImageReadError, LabelIOError
from engine.folder.dataset import Dataset
from engine.io.images import read_image
from engine.io.labels import read_label_png
from tests.support.attacks import bombs
from tests.support.attacks import checkpoints as hostile
from tests.support.fuzz_helpers import peak_memory_below
from tests.support.gui_helpers import make_colour_model
from tests.support.reference_crf import REFERENCE


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    return hostile.corpus(folder / "models", make_colour_model(folder / "colour.pt"))


# ---------------------------------------------------------------- images
@pytest.mark.parametrize("name, data", [
    ("png_30000.png", lambda: bombs.png_bomb(30000, 30000, colour=False)),   # ~0.9 MB -> 900 MP
    ("png_rgb_12000.png", lambda: bombs.png_bomb(12000, 12000)),             # 144 MP: over the cap, under Pillow's
    ("jpeg_20000.jpg", lambda: bombs.jpeg_with_size(20000, 20000)),
    ("tiff_20000.tif", lambda: bombs.tiff_with_size(20000, 20000)),
])
def test_image_bombs_are_refused_from_the_header(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data())
    start = time.perf_counter()
    with peak_memory_below(150), pytest.raises(ImageReadError, match="over the limit of 100 MP") as err:
        read_image(path)
    assert str(path) in str(err.value) and "--max-pixels" in str(err.value)
    assert time.perf_counter() - start < 5


def test_png_bomb_generator_makes_real_images(tmp_path):
    """The bombs are genuine: below the cap the same construction decodes to the size its header says."""
    (tmp_path / "small.png").write_bytes(bombs.png_bomb(700, 500))
    img = read_image(tmp_path / "small.png")
    assert img.shape == (500, 700, 3) and img.max() == 0


def test_pixel_cap_is_configurable(tmp_path, monkeypatch):
    path = tmp_path / "p.png"
    path.write_bytes(bombs.png_bomb(2000, 1000, colour=False))      # 2 MP
    assert read_image(path).shape == (1000, 2000, 3)
    monkeypatch.setenv(limits.MAX_PIXELS_ENV, "1.5M")
    with pytest.raises(ImageReadError, match=r"2000x1000 pixels \(2 MP\), over the limit of 1.5 MP"):
        read_image(path)
    limits.set_max_pixels("3M")                                     # the flag wins over the environment
    try:
        assert read_image(path).shape == (1000, 2000, 3)
    finally:
        limits.set_max_pixels(None)
    assert read_image(path, max_pixels_=3_000_000).shape == (1000, 2000, 3)
    with pytest.raises(EngineError, match="pixel limit"):
        limits.set_max_pixels("lots")
    assert limits.parse_pixels("100M") == 100_000_000 and limits.parse_pixels("2.5e8") == 250_000_000


def test_label_png_bomb_is_refused(tmp_path):
    (tmp_path / "a.png").write_bytes(bombs.png_bomb(16, 16))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.png").write_bytes(bombs.png_bomb(20000, 20000, colour=False))
    with peak_memory_below(150), pytest.raises(LabelIOError, match="over the limit"):
        Dataset(tmp_path).load_labels(0)
    with pytest.raises(LabelIOError, match="over the limit"):
        read_label_png(tmp_path / "labels" / "a.png")


def test_special_files_as_images_are_refused_unread(tmp_path):
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    for name in ("fifo.png", "zero.png"):
        with pytest.raises(ImageReadError, match="not a regular file"):
            read_image(tmp_path / name)
    with pytest.raises(ImageReadError, match="is a folder"):
        read_image(tmp_path)


def test_broken_links_are_listed_and_say_why_when_read(tmp_path):
    """A dangling link and a loop of links stay in the folder's list (a walk: a photo vanished unexplained) and
    say what they are when opened; a link to a folder named like an image is not listed."""
    from engine.folder.dataset import list_images
    (tmp_path / "a_dangling.jpg").symlink_to("moved_away.jpg")
    (tmp_path / "b_loop.jpg").symlink_to("b_loop.jpg")
    (tmp_path / "dir").mkdir()
    (tmp_path / "c_dir.jpg").symlink_to(tmp_path / "dir")
    assert [p.name for p in list_images(tmp_path)] == ["a_dangling.jpg", "b_loop.jpg"]
    with pytest.raises(ImageReadError, match="a link to moved_away.jpg, which does not exist"):
        read_image(tmp_path / "a_dangling.jpg")
    with pytest.raises(ImageReadError, match="a loop of links"):
        read_image(tmp_path / "b_loop.jpg")


# ---------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("name, message", [
    ("block200000.pth", "block 200000"),
    ("fc_channels_32768.pt", "fc_channels = 32768 is outside 1..8192"),
    ("classes_3M.pt", "n_classes = 3000000 is outside 1..255"),
    ("classes_256.pt", "n_classes = 256 is outside 1..255"),
    ("channels_4096.pt", "cannot hold those weights"),
    ("input_size_huge.pt", "input_size"),
    ("mean_inf.pt", "mean_bgr must be a finite number"),
    ("palette_999.pt", "palette must be 3 RGB triples"),
    ("nested_kwargs.pt", "arch_kwargs"),
    ("v2_blocks.pt", "blocks = 200000 is outside 1..64"),
    ("blob_dims_2p62.caffemodel", r"dimension outside 0..2\^31"),
    ("blob_dims_many.caffemodel", "more than 8"),
    ("zip_bomb.pt", "zip bomb"),
    ("legacy_1e9_floats.pth", "cannot be read as a PyTorch checkpoint"),
    ("nan_weights.pt", "NaN or infinity"),
    ("fifo", "is a pipe"),
    ("dev-zero", "is a device"),
    ("directory", "is a folder"),
])
def test_hostile_checkpoints_fail_cleanly_and_cheaply(corpus, name, message):
    path = corpus[name]
    start = time.perf_counter()
    with peak_memory_below(250), pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and not getattr(err.value, "unexpected", False)
    assert time.perf_counter() - start < 10


def test_caffemodel_reader_checks_dims_with_exact_integers():
    with pytest.raises(CaffeFormatError, match="outside 0..2"):
        parse_caffemodel(hostile.caffemodel_blob_dims((2 ** 62, 4)))
    with pytest.raises(CaffeFormatError, match="declares shape"):
        parse_caffemodel(hostile.caffemodel_blob_dims((2 ** 31, 2 ** 31, 4)))   # product wraps in int64


def test_a_real_checkpoint_still_loads(corpus, tmp_path):
    loaded = load_checkpoint(make_colour_model(tmp_path / "ok.pt"))
    assert loaded.spec.n_classes == 3


# ---------------------------------------------------------------- CRF inputs
def _scene(c=3, h=20, w=24):
    rng = np.random.default_rng(0)
    probs = rng.random((c, h, w)).astype(np.float32)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8), probs / probs.sum(0)


@pytest.mark.parametrize("backend", [REFERENCE, "fast"])
def test_crf_refuses_non_finite_or_out_of_range_probabilities(backend):
    img, probs = _scene()
    session = get_backend(backend).session(img)
    bad = probs.copy()
    bad[1, 3, 4] = np.nan
    with pytest.raises(EngineError, match="1 NaN or infinite"):
        session.run(bad, CRFParams())
    bad[1, 3, 4] = -0.5
    with pytest.raises(EngineError, match=r"must lie in \[0, 1\]"):
        session.run(bad, CRFParams())
    with pytest.raises(EngineError, match="floating point"):
        session.run((probs * 100).astype(np.int64), CRFParams())
    assert session.run(probs, CRFParams(iterations=2)).labels.shape == (20, 24)   # the session still works


@pytest.mark.parametrize("backend", [REFERENCE, "fast"])
def test_crf_refuses_images_it_would_silently_cast(backend):
    img, probs = _scene()
    for bad in (img.astype(np.float32) / 255, img.astype(np.uint16) * 257, img[..., :2]):
        with pytest.raises(EngineError, match="uint8 RGB"):
            get_backend(backend).session(bad)
    with pytest.raises(EngineError, match="no pixels"):
        get_backend(backend).session(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(EngineError, match=r"\(C,H,W\) with C, H, W > 0"):
        get_backend(backend).session(img).run(np.zeros((0, 20, 24), np.float32), CRFParams())


@pytest.mark.parametrize("changes, message", [
    ({"pos_w": float("nan")}, "pos_w must be a finite number"),
    ({"bi_w": float("inf")}, "bi_w must be a finite number"),
    ({"bi_rgb_std": 1e-18}, "bi_rgb_std must be > 0 and at least 0.001"),
    ({"bi_rgb_std": 0}, "must be > 0"),
    ({"pos_xy_std": -3}, "must be > 0"),
    ({"iterations": 2.5}, "whole number"),
    ({"iterations": float("nan")}, "finite"),
    ({"bi_w": 1e30}, "at most 1000"),
    ({"pos_w": "3"}, "finite number"),
])
def test_crf_params_refuse_non_finite_and_out_of_range(changes, message):
    with pytest.raises(EngineError, match=message):
        CRFParams(**changes)
    with pytest.raises(EngineError, match=message):
        CRFParams.from_dict({**CRFParams().to_dict(), **changes})


@pytest.mark.parametrize("backend", [REFERENCE, "fast"])
def test_crf_std_too_small_for_the_image_is_refused_not_crashed(backend):
    """pydensecrf's lattice corrupts memory (a crash, not an error) when position/std is huge."""
    img, probs = _scene(h=4, w=1100)
    with pytest.raises(EngineError, match=r"pos_xy_std = 0.001 is too small for this 1100x4 image"):
        get_backend(backend).session(img).run(probs, CRFParams(pos_xy_std=1e-3))
    assert get_backend(backend).session(img).run(probs, CRFParams(pos_xy_std=0.01, iterations=1)).labels.any() >= 0


def test_negative_batchnorm_variance_is_refused(tmp_path):
    import io as _io

    import torch

    from engine.checkpoints import FORMAT
    from engine.models.registry import ModelSpec, build_model
    spec = ModelSpec(arch="deeplab_v2_resnet101", n_classes=3, arch_kwargs=(("blocks", (1, 1, 1, 1)),
                                                                            ("base_channels", 2)))
    sd = build_model(spec).state_dict()
    sd["base.layer1.conv1.bn.running_var"][0] = -1.0
    buf = _io.BytesIO()
    torch.save({"format": FORMAT, "spec": spec.to_dict(), "state_dict": sd}, buf)
    (tmp_path / "negvar.pt").write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="negative values"):
        load_checkpoint(tmp_path / "negvar.pt")


def test_a_model_that_outputs_nan_is_reported_not_argmaxed(tmp_path):
    import torch

    from engine.predict import Predictor
    loaded = load_checkpoint(make_colour_model(tmp_path / "ok.pt"))
    with torch.no_grad():
        loaded.model.fc8.bias[0] = float("inf")     # e.g. weights that overflow
        loaded.model.fc8.bias[1] = float("-inf")
    with pytest.raises(EngineError, match="NaN or infinite scores"):
        Predictor(loaded, device="cpu").predict(np.zeros((16, 16, 3), np.uint8))
