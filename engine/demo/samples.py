"""Write the bundled sample images (resources/samples) and their ground truth (resources/samples_gt).

The samples are held-out test scenes (test seeds, never trained on) at a few realistic sizes, so opening the app on
them shows what the demo model does on data it has not seen. Ground truth lives in a sibling folder because the app
lists every image in the samples folder.
"""
from __future__ import annotations

from pathlib import Path

import cv2

from engine.demo import synth
from engine.io.atomic import write_bytes_atomic
from engine.io.labels import write_label_png
from engine.labels import ClassList
from engine.paths import RESOURCES, SAMPLES_DIR

SAMPLES_GT_DIR = RESOURCES / "samples_gt"
N_SAMPLES = 12


def sample_name(index: int) -> str:
    return f"belt_{index + 1:02d}.png"


def demo_class_list() -> ClassList:
    return ClassList(synth.CLASS_NAMES, synth.PALETTE)


def write_samples(image_dir: Path = SAMPLES_DIR, gt_dir: Path = SAMPLES_GT_DIR, count: int = N_SAMPLES) -> list[Path]:
    """Render test scenes 0..count-1; images as RGB PNG, labels as indexed VOC-style PNG with the demo palette."""
    image_dir, gt_dir = Path(image_dir), Path(gt_dir)
    image_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for scene, i in zip(synth.make_split("test", count), range(count)):
        ok, png = cv2.imencode(".png", cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f"PNG encoding failed for sample {i}")
        path = image_dir / sample_name(i)
        write_bytes_atomic(path, png.tobytes())
        write_label_png(gt_dir / sample_name(i), scene.labels, demo_class_list())
        written.append(path)
    return written
