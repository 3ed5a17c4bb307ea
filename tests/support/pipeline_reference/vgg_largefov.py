"""DeepLab v1 LargeFOV (VGG-16) forward pass, written from the released test.prototxt.

Source: mitmul/deeplab-public-ver2 ``deeplab/voc12/config/deeplab_largeFOV/test.prototxt`` (the same file as the
authors' ccvl release; see /work/shared/reference/deeplab.md S1/S1b). Layer by layer (prototxt line numbers):
conv1_1/1_2 64 k3 p1 (l.35-68), pool1 MAX k3 s2 p1 (l.69-80), conv2_x 128 (l.81-114), pool2 (l.115-126),
conv3_x 256 (l.127-177), pool3 (l.178-189), conv4_x 512 (l.190-240), pool4 MAX k3 **s1** p1 (l.241-253),
conv5_x 512 k3 **pad 2 hole 2** (l.254-310), pool5 MAX k3 s1 p1 (l.311-324), **pool5a AVE k3 s1 p1**
(l.326-337), fc6 1024 k3 **pad 12 hole 12** (l.339-351) + ReLU (+ dropout, a no-op at test), fc7 1024 k1
(l.367-377) + ReLU, fc8_${EXP} NUM_LABELS k1 (l.393-403), fc8_interp Interp zoom_factor 8 (l.404-412).
``hole`` is DeepLab v1's name for dilation (DeepLab v2 README: "the usage is exactly the same").

Widths are taken from the weight shapes, so narrow variants (fewer channels) run through the same geometry.
Pooling uses Caffe's output-size rule (``caffe_layers``), which matters for even sizes.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tests.support.pipeline_reference.caffe_layers import ave_pool, max_pool

# (name, kind, kernel, stride, pad, dilation) in prototxt order; "conv" layers are followed by ReLU except fc8.
LAYERS = (
    ("conv1_1", "conv", 3, 1, 1, 1), ("conv1_2", "conv", 3, 1, 1, 1), ("pool1", "max", 3, 2, 1, 1),
    ("conv2_1", "conv", 3, 1, 1, 1), ("conv2_2", "conv", 3, 1, 1, 1), ("pool2", "max", 3, 2, 1, 1),
    ("conv3_1", "conv", 3, 1, 1, 1), ("conv3_2", "conv", 3, 1, 1, 1), ("conv3_3", "conv", 3, 1, 1, 1),
    ("pool3", "max", 3, 2, 1, 1),
    ("conv4_1", "conv", 3, 1, 1, 1), ("conv4_2", "conv", 3, 1, 1, 1), ("conv4_3", "conv", 3, 1, 1, 1),
    ("pool4", "max", 3, 1, 1, 1),
    ("conv5_1", "conv", 3, 1, 2, 2), ("conv5_2", "conv", 3, 1, 2, 2), ("conv5_3", "conv", 3, 1, 2, 2),
    ("pool5", "max", 3, 1, 1, 1), ("pool5a", "ave", 3, 1, 1, 1),
    ("fc6", "conv", 3, 1, 12, 12), ("fc7", "conv", 1, 1, 0, 1), ("fc8", "conv", 1, 1, 0, 1),
)
CONV_NAMES = tuple(name for name, kind, *_ in LAYERS if kind == "conv")
FC8_ZOOM = 8  # fc8_interp: interp_param { zoom_factor: 8 }


def vgg_largefov_score_map(weights: dict[str, tuple[np.ndarray, np.ndarray]], x: torch.Tensor) -> torch.Tensor:
    """fc8 scores (stride 8) for a (1, 3, H, W) BGR mean-subtracted input.

    ``weights`` maps each conv name of ``CONV_NAMES`` (fc8 under the key "fc8", whatever its file name was) to
    its Caffe blobs (weight (out, in, k, k), bias (out,)).
    """
    h = x
    for name, kind, k, s, p, d in LAYERS:
        if kind == "max":
            h = max_pool(h, k, s, p)
        elif kind == "ave":
            h = ave_pool(h, k, s, p)
        else:
            w, b = weights[name]
            w_t = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
            assert w_t.shape[-1] == k, (name, w_t.shape)
            h = F.conv2d(h, w_t, torch.from_numpy(np.asarray(b, np.float32).reshape(-1)), s, p, d)
            if name != "fc8":
                h = F.relu(h)  # relu*_*, relu6, relu7 (drop6/drop7 are identities at test time)
    return h
