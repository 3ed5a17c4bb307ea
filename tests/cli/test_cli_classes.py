"""`main.py predict --out` into a labels folder: a folder with another class list is refused with a clear
message (nothing written), and --map-classes writes the folder's ids."""
import numpy as np
from PIL import Image

import main
from engine.checkpoints import load_checkpoint
from engine.io.images import read_image
from engine.io.labels import read_label_palette, read_label_png
from engine.predict import Predictor
from tests.support.gui_helpers import make_colour_model, make_image

FOLDER_LIST = "0 background\n1 green thing\n2 red thing\n"   # the model's order is background, red, green


def _setup(tmp_path):
    image = tmp_path / "img.png"
    Image.fromarray(make_image(0)).save(image)
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "class_names.txt").write_text(FOLDER_LIST, encoding="utf-8")
    return image, make_colour_model(tmp_path / "colour.pt"), labels


def test_predict_into_a_folder_with_another_class_list_is_an_error(tmp_path, capsys):
    image, model, labels = _setup(tmp_path)
    rc = main.main(["predict", str(image), "--model", str(model), "--out", str(labels / "img.png")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "Traceback" not in err
    assert "other classes" in err and "another order" in err and "--map-classes" in err
    assert not (labels / "img.png").exists()
    assert (labels / "class_names.txt").read_text() == FOLDER_LIST


def test_map_classes_by_name_writes_the_folders_ids(tmp_path, capsys):
    image, model, labels = _setup(tmp_path)
    rc = main.main(["predict", str(image), "--model", str(model), "--out", str(labels / "img.png"),
                    "--map-classes", "name"])
    assert rc == 0, capsys.readouterr().err
    written = read_label_png(labels / "img.png")
    argmax = Predictor(load_checkpoint(model), "cpu").predict(read_image(image)).argmax(0)
    np.testing.assert_array_equal(written, np.array([0, 2, 1], np.uint8)[argmax])   # red -> 2, green -> 1
    assert (written == 2).any() and (written == 1).any()
    assert read_label_palette(labels / "img.png")[:3].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
    assert "mapped by name" in capsys.readouterr().out


def test_predict_into_a_fresh_folder_is_unchanged(tmp_path, capsys):
    image, model, _ = _setup(tmp_path)
    out = tmp_path / "elsewhere" / "img.png"
    assert main.main(["predict", str(image), "--model", str(model), "--out", str(out)]) == 0
    assert out.is_file()


def test_prelabel_into_a_folder_with_another_class_list_is_refused_then_mapped(tmp_path, capsys):
    image, model, labels = _setup(tmp_path)
    rc = main.main(["prelabel", str(tmp_path), "--model", str(model), "--crf-params", '{"iterations": 0}'])
    err = capsys.readouterr().err
    assert rc == 2 and "other classes" in err and "--map-classes" in err and "Traceback" not in err
    assert not (labels / "img.png").exists()
    rc = main.main(["prelabel", str(tmp_path), "--model", str(model), "--crf-params", '{"iterations": 0}',
                    "--map-classes", "name"])
    assert rc == 0, capsys.readouterr().err
    written = read_label_png(labels / "img.png")
    argmax = Predictor(load_checkpoint(model), "cpu").predict(read_image(image)).argmax(0)
    np.testing.assert_array_equal(written, np.array([0, 2, 1], np.uint8)[argmax])   # the folder's ids, by name
    assert (labels / "class_names.txt").read_text() == FOLDER_LIST


def test_predict_takes_crf_values_as_prelabel_does(tmp_path, capsys):
    """A walk could not make `predict` refine with a folder's own CRF values: --crf took only preset names."""
    from engine.crf import preset
    from engine.crf.params import preset_for_model
    from engine.io.provenance import read_provenance
    image, model, _ = _setup(tmp_path)
    out = tmp_path / "elsewhere" / "img.png"
    rc = main.main(["predict", str(image), "--model", str(model), "--crf-params", '{"iterations": 2, "bi_w": 7}',
                    "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    base = preset(preset_for_model(load_checkpoint(model).spec, model))
    assert read_provenance(out).crf_params == base.replace(iterations=2, bi_w=7.0).to_dict()
    assert "with --crf-params" in capsys.readouterr().out
    rc = main.main(["predict", str(image), "--model", str(model), "--crf-params", '{"bi_wx": 1}', "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown parameter(s) bi_wx" in err and "Traceback" not in err


def test_crf_params_takes_a_folders_project_json(tmp_path, capsys):
    """A walk passed labels/project.json to --crf-params, as its help suggests ('the values a window folder
    records'): refused with 'unknown parameter(s) classes, crf, format…'. It now takes the file's crf.params."""
    import json

    from engine.crf import preset
    from engine.crf.params import preset_for_model
    from engine.io.provenance import read_provenance
    image, model, _ = _setup(tmp_path)
    project = tmp_path / "project.json"
    project.write_text(json.dumps({"format": "deeplab-annotator-project/1", "classes": [],
                                   "crf": {"params": {"iterations": 3, "bi_w": 6.5}, "backend": "fast"}}))
    out = tmp_path / "elsewhere" / "img.png"
    rc = main.main(["predict", str(image), "--model", str(model), "--crf-params", str(project), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    base = preset(preset_for_model(load_checkpoint(model).spec, model))
    assert read_provenance(out).crf_params == base.replace(iterations=3, bi_w=6.5).to_dict()
