"""Tiny v1 and v2 (MSC) models and images shared by the predictor-feature and adaptation tests."""
import numpy as np
import torch

from engine.checkpoints import load_checkpoint, save_checkpoint
from engine.models.registry import ModelSpec, build_model
from engine.predict import Predictor

V1 = ModelSpec(arch="deeplab_v1_largefov", n_classes=3, arch_kwargs=(("channels", (4, 4, 8, 8, 8)), ("fc_channels", 8)),
               input_size=64)


V2_MSC = ModelSpec(arch="deeplab_v2_resnet101", n_classes=4, msc_scales=(0.5, 0.75), input_size=64,
                   arch_kwargs=(("blocks", (1, 1, 1, 1)), ("base_channels", 4)))


def tiny_predictor(spec, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "m.pt"
    save_checkpoint(path, build_model(spec), spec)
    return Predictor(load_checkpoint(path), device="cpu")


def small_image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
