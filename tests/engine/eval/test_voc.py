"""`main.py eval-voc`: a VOC2012-layout folder scored through the checkpoint's pipeline (tiny colour model, 3 images)."""
import cv2
import numpy as np
import pytest
from PIL import Image

from engine.checkpoints import load_checkpoint
from engine.crf import get_backend, preset
from engine.errors import EngineError
from engine.eval.metrics import confusion_matrix, mean_iou
from engine.eval.voc import main, voc_items
from engine.predict import Predictor
from tests.support.gui_helpers import BG, GREEN, RED, make_colour_model

COLOURS = (BG, RED, GREEN)


def _voc(root, n=3, h=96, w=128, swap=False):
    """JPEG images of colour blocks and their SegmentationClass PNGs (a void border at the block edges)."""
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(n):
        labels = np.zeros((h, w), np.uint8)
        labels[10 + i:50 + i, 10:60] = 1
        labels[50:90, 70 + i:120] = 2
        image = np.asarray(COLOURS, np.uint8)[labels]
        gt = labels.copy()
        edge = np.zeros_like(gt, bool)
        edge[1:] |= gt[1:] != gt[:-1]
        edge[:, 1:] |= gt[:, 1:] != gt[:, :-1]
        gt[edge] = 255
        if swap and i == 0:  # a wrong ground truth: red and green exchanged
            gt = np.where(gt == 1, 2, np.where(gt == 2, 1, gt)).astype(np.uint8)
        ids.append(f"2007_{i:06d}")
        Image.fromarray(image).save(root / "JPEGImages" / f"{ids[-1]}.jpg", quality=95)
        Image.fromarray(gt, mode="L").save(root / "SegmentationClass" / f"{ids[-1]}.png")
    (root / "ImageSets/Segmentation/val.txt").write_text("\n".join(ids) + "\n")
    return root


def _miou(out: str) -> list[float]:
    line = out.strip().splitlines()[-1]
    return [float(part.split("mIoU ")[1].split()[0]) for part in line.split(";")]


def test_scores_the_split_with_and_without_crf(tmp_path, capsys):
    model = make_colour_model(tmp_path / "colour.pt")
    voc = _voc(tmp_path / "VOC2012")
    assert main(["--model", str(model), "--voc", str(voc), "--crf", "deeplab-v1", "--backend", "reference"]) == 0
    out = capsys.readouterr().out
    assert "kazuto pipeline" in out and "3 val images" in out and out.strip().splitlines()[-1].startswith("3 images:")
    # the same numbers by hand: one confusion matrix over the split, void pixels skipped
    pred = Predictor(load_checkpoint(model), device="cpu")
    backend = get_backend("reference")
    conf = np.zeros((2, 3, 3), np.int64)
    for _, image_path, label_path in voc_items(voc):
        image = cv2.imread(str(image_path))[..., ::-1].copy()
        gt = np.asarray(Image.open(label_path))
        probs = pred.predict(image)
        conf[0] += confusion_matrix(gt, probs.argmax(0), 3)
        conf[1] += confusion_matrix(gt, backend.session(image).run(probs, preset("deeplab-v1")).labels, 3)
    assert _miou(out) == [round(mean_iou(c) * 100, 2) for c in conf]
    swapped = _voc(tmp_path / "swapped", swap=True)
    assert main(["--model", str(model), "--voc", str(swapped), "--pipeline", "caffe", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "caffe pipeline" in out and "2 val images" in out
    assert main(["--model", str(model), "--voc", str(voc), "--pipeline", "caffe", "--limit", "2"]) == 0
    assert _miou(out)[0] < _miou(capsys.readouterr().out)[0] - 10  # red and green exchanged in one ground truth


def test_a_folder_that_is_not_voc_is_refused(tmp_path, capsys):
    with pytest.raises(EngineError, match="ImageSets/Segmentation/val.txt"):
        voc_items(tmp_path)
    voc = _voc(tmp_path / "VOC2012", n=2)
    (voc / "JPEGImages" / "2007_000001.jpg").unlink()
    with pytest.raises(EngineError, match="1 files of the val list are missing"):
        voc_items(voc)
    assert main(["--model", str(tmp_path / "none.pt"), "--voc", str(voc)]) == 2
    assert "missing" in capsys.readouterr().err
