"""`main.py predict` on a float32 TIFF (issue 25): the image's folder's band choice and scaling (labels/project.json)
decide what the network sees, --bands/--scaling override it, and the label PNG has the image's height and width."""
import json

import numpy as np
import tifffile

import main
from engine.checkpoints import load_checkpoint
from engine.io.images import read_image
from engine.io.labels import read_label_png
from engine.io.scaling import ImageScaling
from engine.predict import Predictor
from tests.support.gui_helpers import CLASS_NAMES, make_colour_model

H, W = 40, 56


def _scene(tmp_path):
    """Three float bands: band 1 bright on the left, band 2 bright on the right, band 3 dark; in physical units."""
    bands = np.full((3, H, W), 0.05, np.float32)
    bands[0, :, : W // 2] = 0.8
    bands[1, :, W // 2:] = 0.8
    bands += np.random.default_rng(0).normal(0, 0.01, bands.shape).astype(np.float32)
    folder = tmp_path / "scenes"
    folder.mkdir()
    tifffile.imwrite(folder / "field.tif", bands, photometric="minisblack")   # (3, H, W): one page per band
    return folder / "field.tif", make_colour_model(tmp_path / "colour.pt")


def _expected(model, image, scaling):
    return Predictor(load_checkpoint(model), "cpu").predict(read_image(image, scaling=scaling)).argmax(0)


def test_predict_on_a_float_tiff_uses_the_folders_bands_and_scaling(tmp_path, capsys):
    image, model = _scene(tmp_path)
    out = tmp_path / "out" / "field.png"
    assert main.main(["predict", str(image), "--model", str(model), "--out", str(out)]) == 0, capsys.readouterr().err
    first = read_label_png(out)
    assert first.shape == (H, W)                                               # the source's geometry
    np.testing.assert_array_equal(first, _expected(model, image, ImageScaling()))
    left, right = first[H // 2, W // 4], first[H // 2, 3 * W // 4]
    assert left != right                                                       # band 1 and band 2 differ

    labels = image.parent / "labels"                                           # the folder swaps bands 1 and 2
    labels.mkdir()
    (labels / "project.json").write_text(json.dumps({
        "format": "deeplab-annotator-project", "version": 1,
        "classes": [{"id": i, "name": n, "color": [0, 0, 0]} for i, n in enumerate(CLASS_NAMES)],
        "image": {"bands": [2, 1, 3], "scaling": "percentile", "percentiles": [1, 99]}}))
    assert main.main(["predict", str(image), "--model", str(model), "--out", str(out)]) == 0
    swapped = read_label_png(out)
    np.testing.assert_array_equal(swapped, _expected(model, image, ImageScaling(percentiles=(1, 99), bands=(2, 1, 3))))
    assert swapped[H // 2, W // 4] == right and swapped[H // 2, 3 * W // 4] == left

    assert main.main(["predict", str(image), "--model", str(model), "--out", str(out), "--bands", "1,2,3",
                      "--scaling", "fixed:0,1"]) == 0                          # the command line wins
    np.testing.assert_array_equal(read_label_png(out), _expected(model, image, ImageScaling("fixed", range=(0, 1))))


def test_predict_with_a_band_the_image_lacks_is_one_error_line(tmp_path, capsys):
    image, model = _scene(tmp_path)
    rc = main.main(["predict", str(image), "--model", str(model), "--out", str(tmp_path / "x.png"), "--bands", "5"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "band 5 is chosen" in err and "has 3 bands" in err


def test_minmax_with_numbers_is_refused_not_ignored(tmp_path, capsys):
    image, model = _scene(tmp_path)
    rc = main.main(["predict", str(image), "--model", str(model), "--out", str(tmp_path / "x.png"),
                    "--scaling", "minmax:1,2"])
    assert rc == 2 and "minmax takes no numbers" in capsys.readouterr().err


def test_prelabel_reads_the_folder_with_its_bands_and_scaling(tmp_path, capsys):
    image, model = _scene(tmp_path)
    labels = image.parent / "labels"
    labels.mkdir()
    (labels / "project.json").write_text(json.dumps({
        "format": "deeplab-annotator-project", "version": 1,
        "classes": [{"id": i, "name": n, "color": [0, 0, 0]} for i, n in enumerate(CLASS_NAMES)],
        "image": {"bands": [2, 1, 3], "scaling": "minmax"}}))
    rc = main.main(["prelabel", str(image.parent), "--model", str(model), "--crf-params", '{"iterations": 0}'])
    assert rc == 0, capsys.readouterr().err
    written = read_label_png(labels / "field.png")
    assert written.shape == (H, W)
    np.testing.assert_array_equal(written, _expected(model, image, ImageScaling("minmax", bands=(2, 1, 3))))
    assert written[H // 2, W // 4] != _expected(model, image, ImageScaling())[H // 2, W // 4]   # not the default
