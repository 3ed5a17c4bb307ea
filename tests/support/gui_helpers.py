"""Test fixtures for the GUI slice: a tiny DeepLab v1 whose weights are set by hand to classify
by colour (so predictions are meaningful and the CRF has soft boundaries to refine), and a folder
of small synthetic images. Fast and deterministic; no trained weights needed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.checkpoints import save_checkpoint
from engine.models.registry import ModelSpec, build_model

CLASS_NAMES = ("background", "red thing", "green thing")
BG, RED, GREEN = (40, 60, 110), (210, 50, 40), (40, 190, 70)


def make_colour_model(path: Path, scale: float = 0.002, names: tuple = CLASS_NAMES) -> Path:
    """A 3-class v1 LargeFOV (channels 8..16) passing colour through identity taps, then
    classifying each pixel by its nearest class colour (soft: logits scaled by ``scale``)."""
    spec = ModelSpec(arch="deeplab_v1_largefov", n_classes=3, class_names=tuple(names),
                     arch_kwargs=(("channels", (8, 8, 16, 16, 16)), ("fc_channels", 16)), name="colour-test")
    model = build_model(spec)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.zero_()
        for name, mod in model.named_children():
            if not isinstance(mod, torch.nn.Conv2d) or name == "fc8":
                continue
            k = mod.kernel_size[0] // 2
            if name == "conv1_1":  # split signs so ReLU keeps them: [B, G, R, -B, -G, -R]
                for c in range(3):
                    mod.weight[c, c, k, k] = 1.0
                    mod.weight[3 + c, c, k, k] = -1.0
            else:
                for c in range(6):
                    mod.weight[c, c, k, k] = 1.0
        # x = pos - neg per channel (mean-subtracted B, G, R); nearest-prototype logits
        # scale * (p.x - |p|^2 / 2) with the three class colours as prototypes.
        mean = np.asarray(spec.mean_bgr, np.float32)
        protos = torch.tensor(np.stack([np.asarray(c[::-1], np.float32) - mean for c in (BG, RED, GREEN)]))
        fc8 = model.fc8.weight
        for cls in range(3):
            for c in range(3):
                fc8[cls, c, 0, 0] = scale * protos[cls, c]
                fc8[cls, 3 + c, 0, 0] = -scale * protos[cls, c]
            model.fc8.bias[cls] = -scale * float((protos[cls] ** 2).sum()) / 2
    save_checkpoint(path, model, spec)
    return path


def make_image(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    """Blue background with a red and a green rectangle, plus noise (so the CRF has work)."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float32)
    img[:] = BG
    y0, x0 = rng.integers(5, h // 3), rng.integers(5, w // 3)
    img[y0:y0 + h // 2, x0:x0 + w // 2] = RED
    y1, x1 = rng.integers(h // 3, h // 2), rng.integers(w // 3, w // 2)
    img[y1:y1 + h // 3, x1:x1 + w // 3] = GREEN
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_folder(folder: Path, n: int = 3, h: int = 96, w: int = 128) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(make_image(i, h, w)).save(folder / f"img{i + 1}.png")
    return folder


def brush_stroke(window, start, end, class_id: int = 1, radius: int = 3) -> None:
    """One brush stroke of ``class_id`` from ``start`` to ``end`` (image coordinates), through the editor as the
    brush tool drives it."""
    ed = window.ctl.editor
    ed.set_paint_class(class_id)
    ed.set_radius(radius)
    ed.begin_stroke(start)
    ed.stroke_to(end)
    ed.end_stroke()


def focus_on(qtbot, window, widget) -> None:
    """Give ``widget`` the keyboard in an active window (keys sent next go where a user's would)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus, timeout=5000)
