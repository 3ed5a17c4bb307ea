"""DeepLab v1 LargeFOV (VGG-16), a faithful port of the released Caffe test.prototxt.

Module attributes carry the Caffe layer names (conv1_1 .. conv5_3, fc6, fc7, fc8) so a
.caffemodel maps blob-for-blob onto the state dict with no renaming table (fc8_voc12 -> fc8).
Geometry follows /work/shared/reference/deeplab.md §1: ceil-mode pools (Caffe rounding),
pool4/pool5 stride 1, conv5 dilation 2, pool5a 3x3 average pool, fc6 3x3 dilation 12.
Output stride is 8. Narrow variants (fewer channels) exist for the bundled demo models. How the stride-8 map is
brought to pixel size is the checkpoint's pipeline (engine.models.pipelines: caffe zoom x8 + crop, or kazuto's
align_corners=False).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models import folder_head, pipelines

VGG16_CHANNELS = (64, 128, 256, 512, 512)
# convolutions per VGG stage: conv1_1..1_2, conv2_1..2_2, conv3_1..3_3, ...
_STAGE_DEPTH = (2, 2, 3, 3, 3)


class DeepLabV1LargeFOV(nn.Module):
    """VGG-16 LargeFOV. Input (N,3,H,W) BGR mean-subtracted 0-255; forward -> logits (N,C,H,W)."""

    def __init__(self, n_classes: int, channels=VGG16_CHANNELS, fc_channels: int = 1024,
                 dropout: float = 0.5, pipeline: str = pipelines.DEFAULT_PIPELINE):
        super().__init__()
        self.pipeline = pipelines.check_pipeline(pipeline)
        channels = tuple(int(c) for c in channels)
        if len(channels) != 5:
            raise ValueError(f"channels must have 5 entries (one per VGG stage), got {channels}")
        in_ch = 3
        for stage, (width, depth) in enumerate(zip(channels, _STAGE_DEPTH), start=1):
            # conv5_x is dilated by 2 ("hole 2", pad 2) in the released prototxt
            dil = 2 if stage == 5 else 1
            for j in range(1, depth + 1):
                self.add_module(f"conv{stage}_{j}",
                                nn.Conv2d(in_ch, width, 3, padding=dil, dilation=dil))
                in_ch = width
        self.pool1 = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.pool2 = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.pool3 = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.pool4 = nn.MaxPool2d(3, 1, 1, ceil_mode=True)
        self.pool5 = nn.MaxPool2d(3, 1, 1, ceil_mode=True)
        self.pool5a = nn.AvgPool2d(3, 1, 1)  # count_include_pad=True == Caffe AVE divisor 9
        self.fc6 = nn.Conv2d(in_ch, fc_channels, 3, padding=12, dilation=12)
        self.drop6 = nn.Dropout(dropout)
        self.fc7 = nn.Conv2d(fc_channels, fc_channels, 1)
        self.drop7 = nn.Dropout(dropout)
        self.fc8 = nn.Conv2d(fc_channels, n_classes, 1)
        self.n_classes = n_classes

    # ---- the classifier seam (engine.learn adapts the head on cached classifier inputs) ----
    @property
    def classifier(self) -> nn.Module:
        """The last layer (fc8): classifier inputs (N,fc_channels,h,w) -> stride-8 logits (N,C,h,w); an exported
        adapted model's folder head (engine.models.folder_head) when one is attached."""
        head = self._modules.get("folder_head")
        return self.fc8 if head is None else head

    def _head_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """What the classifier reads: its inputs, with the cell colour when a folder head is attached."""
        maps = self.classifier_inputs(x)
        return maps if self._modules.get("folder_head") is None else folder_head.with_colour(maps, x)

    def classifier_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[fc7 activations] at stride 8: one map, since LargeFOV has no multi-scale branch."""
        for stage, depth in enumerate(_STAGE_DEPTH, start=1):
            for j in range(1, depth + 1):
                x = F.relu(getattr(self, f"conv{stage}_{j}")(x), inplace=True)
            x = getattr(self, f"pool{stage}")(x)
        x = self.pool5a(x)
        x = self.drop6(F.relu(self.fc6(x), inplace=True))
        return [self.drop7(F.relu(self.fc7(x), inplace=True))]

    def fuse(self, logits: list[torch.Tensor]) -> torch.Tensor:
        """Per-scale stride-8 logits -> the fused map (a single scale: itself)."""
        return logits[0]

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """Stride-8 logits (N,C,h,w), h = Caffe ceil-pooled size (513 -> 65, 500 -> 64)."""
        return self.fuse([self.classifier(f) for f in self._head_inputs(x)])

    def upsample_logits(self, score: torch.Tensor, size) -> torch.Tensor:
        """Stride-8 logits -> logits at the network input size, by the pipeline (caffe: Interp zoom 8, crop)."""
        return pipelines.upsample_logits(score, size, self.pipeline)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at the input size (see upsample_logits)."""
        return self.upsample_logits(self.score_map(x), x.shape[-2:])


def build_deeplab_v1(n_classes: int, msc_scales=(), pipeline: str = pipelines.DEFAULT_PIPELINE,
                     **arch_kwargs) -> DeepLabV1LargeFOV:
    """Registry builder. Multi-scale (MSc) v1 is a different net, so msc_scales must be empty."""
    if msc_scales:
        raise ValueError("deeplab_v1_largefov has no multi-scale variant; msc_scales must be ()")
    return DeepLabV1LargeFOV(n_classes, pipeline=pipeline, **arch_kwargs)
